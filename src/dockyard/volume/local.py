"""The ``local`` volume driver: one directory per volume, optionally a mount.

On disk, as Docker lays it out::

    <data-root>/volumes/<name>/_data       what containers see
    <data-root>/volumes/<name>/opts.json   the driver options (type, device, o)

A volume is made under a name no volume can have (``_tmp-…``: volume names
start with a letter or digit) and renamed into place by the caller's
transaction; a removed volume is renamed to ``_del-…`` before its files go.
``gc`` removes what a crash left of either.  With ``type``/``device``/``o``
options (``-o type=tmpfs``, ``-o type=none -o o=bind -o device=/srv``) the
volume is a mount on ``_data`` made with Debian's ``mount(8)`` while a
container uses it, as Docker's local driver does.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess

from dockyard.errors import InvalidParameter, SystemError_, os_error

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
VALID_OPTS = ("type", "device", "o", "size")
# an option that needs others (moby's mandatoryOpts)
MANDATORY_OPTS = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def check_name(name: str) -> None:
    """moby's local-driver name rule, with its messages ('a/b', '..', 'x' are refused)."""
    if len(name) == 1:
        raise InvalidParameter("volume name is too short, names should be at least two alphanumeric characters")
    if not NAME_PATTERN.match(name):
        raise InvalidParameter(
            f'"{name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" '
            "are allowed. If you intended to pass a host directory, use absolute path")


def check_opts(opts: dict[str, str]) -> None:
    """The options the local driver takes (moby's ``validateOpts``); ``size`` needs quotas we lack."""
    for key in sorted(opts):
        if key not in VALID_OPTS:
            raise InvalidParameter(f'invalid option: "{key}"')
    if "size" in opts:
        raise InvalidParameter("quota size requested but no quota support")
    for key, needed in MANDATORY_OPTS.items():
        if key in opts:
            for other in needed:
                if other not in opts:
                    raise InvalidParameter(f'missing required option: "{other}"')


class LocalDriver:
    """The directories (and mounts) of local volumes under ``<data-root>/volumes``."""

    def __init__(self, root: str, owner: tuple[int, int] | None = None) -> None:
        self.root = root
        self.owner = owner  # userns-remap: a new volume's _data belongs to the containers' root, as Docker's
        os.makedirs(root, mode=0o701, exist_ok=True)

    def home(self, name: str) -> str:
        return os.path.join(self.root, name)

    def mountpoint(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def stage(self, opts: dict[str, str]) -> str:
        """Make a new volume's directories under a temporary name; returns it (see :meth:`commit`)."""
        tmp = os.path.join(self.root, f"_tmp-{secrets.token_hex(8)}")
        try:
            os.mkdir(tmp, 0o701)
            os.mkdir(os.path.join(tmp, "_data"), 0o755)
            if self.owner is not None:
                os.chown(os.path.join(tmp, "_data"), *self.owner)
            if opts:
                with open(os.path.join(tmp, "opts.json"), "w", encoding="utf-8") as f:
                    json.dump({"MountType": opts.get("type", ""), "MountOpts": opts.get("o", ""),
                               "MountDevice": opts.get("device", "")}, f)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise os_error("create volume directory", tmp, exc) from None
        return tmp

    def commit(self, staged: str, name: str) -> None:
        """Move a staged volume into place (inside the caller's transaction)."""
        try:
            os.rename(staged, self.home(name))
        except OSError as exc:
            raise os_error("create volume", self.home(name), exc) from None

    def discard(self, staged: str) -> None:
        shutil.rmtree(staged, ignore_errors=True)

    def retire(self, name: str) -> str:
        """Rename a volume out of the way (inside the caller's transaction); :meth:`discard` it after."""
        gone = os.path.join(self.root, f"_del-{secrets.token_hex(8)}")
        try:
            os.rename(self.home(name), gone)
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise os_error("remove volume", self.home(name), exc) from None
        return gone

    def gc(self, known: set[str]) -> None:
        """Remove staged and retired leftovers of a crash (never a recorded volume)."""
        for entry in os.listdir(self.root):
            if entry.startswith(("_tmp-", "_del-")) and entry not in known:
                self.unmount_path(os.path.join(self.root, entry, "_data"))
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)

    # -- mounts of volumes with options --------------------------------------------------
    def mount(self, name: str, opts: dict[str, str]) -> None:
        """Mount ``device`` on the volume's ``_data`` as ``type`` with ``o`` (idempotent)."""
        target = self.mountpoint(name)
        if not opts.get("type") or is_mountpoint(target):
            return
        argv = ["mount", "-t", opts["type"]]
        if opts.get("o"):
            argv += ["-o", opts["o"]]
        argv += [opts.get("device") or opts["type"], target]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemError_(f"error while mounting volume '{target}': failed to mount local volume: "
                               f"{proc.stderr.strip() or 'mount exited ' + str(proc.returncode)}")

    def unmount(self, name: str) -> None:
        self.unmount_path(self.mountpoint(name))

    @staticmethod
    def unmount_path(target: str) -> None:
        while is_mountpoint(target):
            proc = subprocess.run(["umount", target], capture_output=True, text=True)
            if proc.returncode != 0:
                proc = subprocess.run(["umount", "-l", target], capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemError_(f"unmount volume {target}: {proc.stderr.strip()}")


def is_mountpoint(path: str) -> bool:
    """Something is mounted on ``path`` (a bind of the same filesystem included: mountinfo)."""
    try:
        st = os.lstat(path)
        parent = os.lstat(os.path.dirname(path))
    except FileNotFoundError:
        return False
    if st.st_dev != parent.st_dev:
        return True
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        return any(line.split()[4] == real for line in f)

