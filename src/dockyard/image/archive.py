"""``docker import``: source decompression and the config of an imported image.

* ``open_layer_stream`` sniffs the compression (plain tar, gzip, bzip2, xz, zstd)
  and returns a reader of the uncompressed tar; corrupt compressed data
  becomes a clear ``InvalidParameter``.
* ``apply_changes`` applies ``--change`` Dockerfile instructions to a
  container config the way dockerd's ``BuildFromConfig`` does (CMD,
  ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL,
  HEALTHCHECK, ONBUILD; anything else is ``<x> is not a valid change command``).
* ``import_config`` builds the image config JSON bytes (the image ID is their sha256).

Sans-I/O apart from reading the given stream.
"""

from __future__ import annotations

import bz2
import copy
import datetime
import json
import lzma
import os
import posixpath
import re
import time
import zlib
from typing import Any, BinaryIO

from isal import igzip, igzip_threaded, isal_zlib

from dockyard.errors import InvalidParameter

VALID_CHANGE_COMMANDS = {"cmd", "entrypoint", "healthcheck", "env", "expose", "label", "onbuild",
                         "stopsignal", "user", "volume", "workdir"}

# the threaded inflater's block: it holds 2 blocks queued and reads 8 blocks of compressed data at once
_INFLATE_BLOCK = 256 << 10
_MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd")]


# -- decompression --------------------------------------------------------------------------

class _Peeked:
    """A reader with its first bytes put back after sniffing."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._raw.read(n)

    def readinto(self, buf: Any) -> int:
        """What ISA-L's gzip reader calls (through a plain read: ``raw`` may have no readinto)."""
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to do: ``raw`` belongs to the caller."""


class _Checked:
    """Turns decompressor failures into a user-facing InvalidParameter."""

    def __init__(self, inner: Any, kind: str) -> None:
        self._inner = inner
        self._kind = kind

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)
        except (OSError, EOFError, zlib.error, isal_zlib.error, lzma.LZMAError, ValueError) as exc:
            msg = str(exc) or type(exc).__name__
            if isinstance(exc, EOFError):
                msg = "unexpected EOF"
            raise InvalidParameter(f"invalid {self._kind} archive: {msg}") from None

    def close(self) -> None:
        self._inner.close()


def _read_exact(raw: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = raw.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def detect_compression(head: bytes) -> str:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "none"


def open_layer_stream(raw: BinaryIO, threaded: bool = False) -> BinaryIO:
    """A reader of the uncompressed tar inside ``raw`` (plain, gzip, bzip2 or xz).

    ``threaded``: gzip is inflated in a thread of its own, a block ahead of the
    reader, so that it overlaps the unpacking (hashing, writing) on another core;
    the caller must then ``close()`` the reader, which stops that thread.
    """
    head = _read_exact(raw, 6)
    kind = detect_compression(head)
    src = _Peeked(head, raw)
    if kind == "none":
        return src  # type: ignore[return-value]
    if kind == "gzip":
        # ISA-L inflates about 3x faster than zlib (the pull's biggest CPU cost); same format and CRC check
        inner: Any = igzip_threaded.open(src, "rb", block_size=_INFLATE_BLOCK) if threaded else \
            igzip.IGzipFile(fileobj=src, mode="rb")  # type: ignore[arg-type]
    elif kind == "bzip2":
        inner = bz2.BZ2File(src, mode="rb")  # type: ignore[arg-type]
    elif kind == "xz":
        inner = lzma.LZMAFile(src, mode="rb")  # type: ignore[arg-type]
    else:
        return _ZstdReader(src)  # type: ignore[return-value]
    return _Checked(inner, kind)  # type: ignore[return-value]


class _ZstdReader:
    """zstd through the ``zstd`` program (Python 3.11 has no zstd): a thread feeds its stdin."""

    def __init__(self, src: _Peeked) -> None:
        import shutil
        import subprocess
        import threading

        exe = shutil.which("zstd")
        if exe is None:
            raise InvalidParameter("unsupported compression format zstd: install zstd or recompress the "
                                   "archive as gzip, bzip2 or xz")
        self._proc = subprocess.Popen([exe, "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        self._feeder = threading.Thread(target=self._feed, args=(src,), daemon=True)
        self._feeder.start()

    def _feed(self, src: _Peeked) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            while True:
                chunk = src.read(1 << 16)
                if not chunk:
                    break
                stdin.write(chunk)
        except (BrokenPipeError, OSError, InvalidParameter):
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def read(self, n: int = -1) -> bytes:
        assert self._proc.stdout is not None
        data = self._proc.stdout.read(n) if n >= 0 else self._proc.stdout.read()
        if not data or (n > 0 and len(data) < n):
            self._finish()
        return data

    def _finish(self) -> None:
        if self._proc.poll() is None:
            self._proc.wait()
        self._feeder.join()
        if self._proc.returncode != 0:
            err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace").strip()
            raise InvalidParameter(f"invalid zstd archive: {err.splitlines()[-1] if err else 'corrupt data'}")

    def close(self) -> None:
        self.__del__()

    def __del__(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


# -- --change instructions ------------------------------------------------------------------

def empty_container_config() -> dict[str, Any]:
    """Go's zero ``container.Config`` as dockerd serializes it in an image config."""
    return {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
            "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
            "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
            "OnBuild": None, "Labels": None}


def _logical_lines(text: str) -> list[tuple[str, str]]:
    """Split Dockerfile text into (instruction, rest) with continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1]
            continue
        buf += line
        if buf.strip():
            word, _, rest = buf.strip().partition(" ")
            if "\t" in word:
                word, _, more = word.partition("\t")
                rest = more + " " + rest
            out.append((word, rest.strip()))
        buf = ""
    if buf.strip():
        word, _, rest = buf.strip().partition(" ")
        out.append((word, rest.strip()))
    return out


def _expand(word: str, env: dict[str, str]) -> str:
    """Shell-like word processing: quotes, backslash escapes, $VAR / ${VAR} / ${VAR:-x} / ${VAR:+x}."""
    out: list[str] = []
    i, n = 0, len(word)
    quote = ""
    while i < n:
        c = word[i]
        if c == "\\" and quote != "'" and i + 1 < n:
            nxt = word[i + 1]
            if quote == '"' and nxt not in '"\\$':
                out.append(c)
            else:
                out.append(nxt)
                i += 2
                continue
            i += 1
            continue
        if c in "'\"" and (not quote or quote == c):
            quote = "" if quote else c
            i += 1
            continue
        if c == "$" and quote != "'" and i + 1 < n:
            if word[i + 1] == "{":
                j = word.find("}", i + 2)
                if j == -1:
                    raise InvalidParameter(f"failed to process \"{word}\": missing '}}'")
                inner = word[i + 2:j]
                m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?$", inner, re.S)
                if not m:
                    raise InvalidParameter(f"failed to process \"{word}\": bad substitution")
                name, op, alt = m.group(1), m.group(2), m.group(3) or ""
                val = env.get(name, "")
                if op == "-":
                    val = val or alt
                elif op == "+":
                    val = alt if val else ""
                out.append(val)
                i = j + 1
                continue
            m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", word[i + 1:])
            if m:
                out.append(env.get(m.group(0), ""))
                i += 1 + len(m.group(0))
                continue
        out.append(c)
        i += 1
    if quote:
        raise InvalidParameter(f"failed to process \"{word}\": unexpected end of statement while looking "
                               f"for matching {quote}")
    return "".join(out)


def _split_words(rest: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes for ``_expand``."""
    words: list[str] = []
    cur = ""
    quote = ""
    i = 0
    while i < len(rest):
        c = rest[i]
        if c == "\\" and quote != "'" and i + 1 < len(rest):
            cur += rest[i:i + 2]
            i += 2
            continue
        if c in "'\"" and (not quote or quote == c):
            quote = "" if quote else c
        if c.isspace() and not quote:
            if cur:
                words.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    if cur:
        words.append(cur)
    return words


def _json_array(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        data = json.loads(rest)
    except ValueError:
        return None
    if isinstance(data, list) and all(isinstance(x, str) for x in data):
        return data
    return None


def _name_values(rest: str, cmd: str, env: dict[str, str]) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` or the legacy ``k v w`` form of ENV and LABEL."""
    words = _split_words(rest)
    if not words:
        raise InvalidParameter(f"{cmd} requires at least one argument")
    if "=" not in words[0]:
        # legacy form: the first word is the key, the rest of the line the value
        parts = rest.split(None, 1)
        if len(parts) < 2:
            raise InvalidParameter(f"{cmd} must have two arguments")
        return [(_expand(parts[0], env), _expand(parts[1].strip(), env))]
    pairs: list[tuple[str, str]] = []
    for w in words:
        if "=" not in w:
            raise InvalidParameter(f"Syntax error - can't find = in \"{w}\". Must be of the form: name=value")
        k, _, v = w.partition("=")
        key = _expand(k, env)
        if not key:
            raise InvalidParameter(f"{cmd} names can not be blank")
        pairs.append((key, _expand(v, env)))
    return pairs


def _ports(words: list[str]) -> list[str]:
    out: list[str] = []
    for w in words:
        port, _, proto = w.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidParameter(f"invalid proto: {proto}")
        lo, _, hi = port.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise InvalidParameter(f"invalid containerPort: {port}")
        a, b = int(lo), int(hi or lo)
        if b < a or b > 65535:
            raise InvalidParameter(f"invalid range specified for containerPort: {port}")
        out.extend(f"{p}/{proto}" for p in range(a, b + 1))
    return out


def _env_dict(cfg: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in cfg.get("Env") or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}


def _duration_ns(text: str, flag: str) -> int:
    total = 0
    rest = text
    if rest == "0":
        return 0
    while rest:
        m = re.match(r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", rest)
        if not m:
            raise InvalidParameter(f"invalid duration for --{flag}: {text!r}")
        total += int(float(m.group(1)) * _UNITS[m.group(2)])
        rest = rest[m.end():]
    return total


def apply_changes(config: dict[str, Any] | None, changes: list[str]) -> dict[str, Any]:
    """Apply ``--change`` instructions to a container config (a copy is returned)."""
    cfg = copy.deepcopy(config) if config else empty_container_config()
    lines = _logical_lines("\n".join(changes))
    for word, _ in lines:
        if word.lower() not in VALID_CHANGE_COMMANDS:
            raise InvalidParameter(f"{word.lower()} is not a valid change command")
    cmd_set = False
    for word, rest in lines:
        ins = word.upper()
        env = _env_dict(cfg)
        if ins in ("CMD", "ENTRYPOINT"):
            arr = _json_array(rest)
            value = arr if arr is not None else (["/bin/sh", "-c", rest] if rest else [])
            if ins == "CMD":
                cfg["Cmd"] = value
                cmd_set = True
            else:
                cfg["Entrypoint"] = value
                if not cmd_set:
                    cfg["Cmd"] = None
        elif ins == "ENV":
            for k, v in _name_values(rest, "ENV", env):
                items = [e for e in (cfg.get("Env") or []) if e.partition("=")[0] != k]
                cfg["Env"] = items + [f"{k}={v}"]
                env[k] = v
        elif ins == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            for k, v in _name_values(rest, "LABEL", env):
                labels[k] = v
            cfg["Labels"] = labels
        elif ins == "WORKDIR":
            if not rest:
                raise InvalidParameter("WORKDIR requires exactly one argument")
            wd = _expand(rest, env)
            if not wd.startswith("/"):
                wd = posixpath.join("/", cfg.get("WorkingDir") or "/", wd)
            cfg["WorkingDir"] = posixpath.normpath(wd)
        elif ins == "USER":
            if not rest:
                raise InvalidParameter("USER requires exactly one argument")
            cfg["User"] = _expand(rest, env)
        elif ins == "EXPOSE":
            words = [_expand(w, env) for w in _split_words(rest)]
            if not words:
                raise InvalidParameter("EXPOSE requires at least one argument")
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in _ports(words):
                ports[p] = {}
            cfg["ExposedPorts"] = ports
        elif ins == "VOLUME":
            arr = _json_array(rest)
            vols = arr if arr is not None else [_expand(w, env) for w in _split_words(rest)]
            if not vols:
                raise InvalidParameter("VOLUME requires at least one argument")
            volumes = dict(cfg.get("Volumes") or {})
            for v in vols:
                if not v.strip():
                    raise InvalidParameter("VOLUME specified can not be an empty string")
                volumes[v.strip()] = {}
            cfg["Volumes"] = volumes
        elif ins == "STOPSIGNAL":
            sig = _expand(rest, env)
            if not sig:
                raise InvalidParameter("STOPSIGNAL requires exactly one argument")
            cfg["StopSignal"] = sig
        elif ins == "ONBUILD":
            if not rest:
                raise InvalidParameter("ONBUILD requires at least one argument")
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [rest]
        elif ins == "HEALTHCHECK":
            cfg["Healthcheck"] = _healthcheck(rest)
    return cfg


def _healthcheck(rest: str) -> dict[str, Any]:
    words = rest.split()
    hc: dict[str, Any] = {}
    flags = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
             "start-interval": "StartInterval"}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        if name in flags:
            hc[flags[name]] = _duration_ns(value, name)
        elif name == "retries":
            if not value.isdigit():
                raise InvalidParameter(f"invalid value for --retries: {value!r}")
            hc["Retries"] = int(value)
        else:
            raise InvalidParameter(f"Unknown flag: {name}")
    if not words:
        raise InvalidParameter("Missing command after HEALTHCHECK")
    kind = words[0].upper()
    tail = rest[rest.find(words[0]) + len(words[0]):].strip()
    if kind == "NONE":
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise InvalidParameter(f"Unknown type \"{kind}\" in HEALTHCHECK (try CMD)")
    arr = _json_array(tail)
    hc["Test"] = ["CMD"] + arr if arr is not None else ["CMD-SHELL", tail]
    return hc


# -- image config ---------------------------------------------------------------------------

def rfc3339_nano(ts: float | None = None, dt: datetime.datetime | None = None) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    if dt is None:
        dt = datetime.datetime.fromtimestamp(ts if ts is not None else time.time(), tz=datetime.timezone.utc)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{dt.microsecond:06d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def host_platform() -> tuple[str, str]:
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
    return "linux", arch


def parse_platform(text: str | None, host: tuple[str, str] | None = None) -> tuple[str, str, str]:
    """``linux/amd64[/variant]`` → (os, arch, variant); empty means the host's.

    ``host`` is the engine's (os, arch) when it is not this Linux machine's (a Windows engine)."""
    os_, arch = host or host_platform()
    if not text:
        return os_, arch, ""
    parts = text.lower().split("/")
    if parts[0] != os_ or len(parts) > 3:
        raise InvalidParameter(f"\"{text}\": unknown operating system or architecture: invalid argument")
    return os_, (parts[1] if len(parts) > 1 and parts[1] else arch), (parts[2] if len(parts) > 2 else "")


def import_config(diff_id: str, container_config: dict[str, Any], message: str, platform: str | None,
                  created: str, docker_version: str, host: tuple[str, str] | None = None) -> bytes:
    """The config JSON bytes of an imported image (image ID = their sha256)."""
    os_, arch, variant = parse_platform(platform, host)
    comment = message or "Imported from -"
    cfg: dict[str, Any] = {"architecture": arch, "comment": comment, "config": container_config,
                           "created": created, "docker_version": docker_version}
    if variant:
        cfg["variant"] = variant
    cfg["history"] = [{"created": created, "comment": comment}]
    cfg["os"] = os_
    cfg["rootfs"] = {"type": "layers", "diff_ids": [diff_id]}
    return json.dumps(cfg, separators=(",", ":")).encode()
