"""Keep the runtime's own executable out of the container's reach (the CVE-2019-5736 class).

While the container's init is still the runtime, and whenever a container
program is ``#!/proc/self/exe``, ``/proc/<pid>/exe`` of a process in the
container is the *host's* Python binary.  runc answers with a sealed memfd
copy or a read-only bind mount of itself; we run from a copy of the
interpreter (Debian's static python3.X, ~7 MB, or the installing one, see
``launcher.runtime_interpreter``) in a folder that is
bind-mounted read-only onto itself, so any write through that magic link
fails with EROFS.  The mount does not survive a reboot: ``ensure_protected``
(one statvfs per call) re-creates it.  PR_SET_DUMPABLE 0 in the runtime's
children closes /proc/<pid>/exe to container processes meanwhile.
"""

from __future__ import annotations

import os

INTERPRETER_DIR = "/usr/local/lib/dockyard-runtime"
ST_RDONLY = 1


def is_read_only(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & ST_RDONLY)
    except OSError:
        return False


def ensure_protected(executable: str, directory: str = INTERPRETER_DIR) -> bool:
    """Re-make the read-only bind mount if we run from the protected copy and it is gone."""
    if not executable.startswith(directory + "/"):
        return False
    if is_read_only(executable):
        return True
    from dockyard.runtime.native import syscalls as sc

    s = sc.Syscalls()
    try:
        s.mount(directory, directory, None, sc.MS_BIND)
    except OSError:
        return False  # not allowed here (no CAP_SYS_ADMIN): run unprotected rather than not at all
    try:
        s.mount(None, directory, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV)
    except OSError:
        s.umount2(directory, sc.MNT_DETACH)
        return False
    return True


def install_interpreter(real_python: str, directory: str = INTERPRETER_DIR) -> str:
    """Copy the interpreter into ``directory`` (a venv-style pyvenv.cfg finds the stdlib) and protect it."""
    import shutil

    from dockyard.runtime.native import syscalls as sc

    real_python = os.path.realpath(real_python)
    target = os.path.join(directory, "bin", "python3")
    while _is_mountpoint(directory):  # updating: lift our read-only mount(s) first
        sc.Syscalls().umount2(directory, sc.MNT_DETACH)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = target + ".tmp"
    shutil.copy2(real_python, tmp)
    os.rename(tmp, target)
    with open(os.path.join(directory, "pyvenv.cfg"), "w") as f:
        f.write(f"home = {os.path.dirname(real_python)}\ninclude-system-site-packages = false\n")
    if not ensure_protected(target, directory):
        import sys

        sys.stderr.write(f"warning: could not bind-mount {directory} read-only (needs root): "
                         "the runtime's interpreter is not protected against CVE-2019-5736-style overwrites\n")
    return target


def _is_mountpoint(path: str) -> bool:
    """A bind mount onto itself has the parent's st_dev: ask mountinfo, not os.path.ismount."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)
