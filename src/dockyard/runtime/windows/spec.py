"""The OCI config.json of a Windows job-object container, validated.

Pure functions (no Win32 call, no I/O but reading the file), so that every
rule is unit-tested on Linux.  :func:`parse_config` turns a config dict into a
:class:`WindowsSpec`: the command line, the environment block, the working
directory and the job limits the supervisor applies.

What maps where (config-windows.md of the runtime spec → job object):

- ``windows.resources.memory.limit`` (bytes) → JobMemoryLimit
  (``JOB_OBJECT_LIMIT_JOB_MEMORY``): the commit charge of the whole job.
- ``windows.resources.cpu.maximum`` (1..10000, hundredths of a percent of
  all processors) → CpuRate with ``HARD_CAP``.
- ``windows.resources.cpu.count`` (processors) → CpuRate
  ``count * 10000 / host processors`` with ``HARD_CAP`` (as hcsshim's job
  containers do); a count ≥ the host's processors means no limit.
- ``windows.resources.cpu.shares`` (0..10000) → ``WEIGHT_BASED`` weight
  1..9 (``1 + shares * 8 // 10000``).
- annotation ``io.dockyard.windows.pids-limit`` → ActiveProcessLimit (the
  spec's Windows section has no process-count limit; this is the analogue
  of ``linux.resources.pids.limit``).
- always: ``KILL_ON_JOB_CLOSE`` (no process outlives its supervisor),
  ``DIE_ON_UNHANDLED_EXCEPTION`` (no error-reporting dialog keeps a dead
  process alive) and every UI restriction.
"""

from __future__ import annotations

import json
import ntpath
import os
import subprocess
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.platforms import check_platform_sections

PIDS_LIMIT_ANNOTATION = "io.dockyard.windows.pids-limit"

# Host variables a Windows program cannot do without (Winsock, the CRT and
# cmd.exe look them up); added when the config's env does not set them.
SYSTEM_ENV = ("SystemRoot", "SystemDrive", "windir", "ComSpec")

CPU_RATE_MAX = 10000


@dataclass(frozen=True)
class JobLimits:
    """The limits one job object gets.  ``source`` names, for each limit set,
    the config.json field it came from, so a refusal names the user's field."""

    memory_limit: int | None = None
    cpu_rate: int | None = None
    cpu_weight: int | None = None
    process_limit: int | None = None
    source: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowsSpec:
    command_line: str
    env: dict[str, str]
    cwd: str
    limits: JobLimits
    username: str | None = None
    root_path: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def env_block(self) -> str:
        """The CREATE_UNICODE_ENVIRONMENT block: ``K=V\\0...\\0\\0``, sorted
        case-insensitively as CreateProcess documents."""
        items = sorted(self.env.items(), key=lambda kv: kv[0].upper())
        return "".join(f"{k}={v}\0" for k, v in items) + "\0"


def load_config(bundle: str) -> dict[str, Any]:
    """Read ``bundle/config.json``; a missing or malformed file is the user's error."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise InvalidParameter(f"no config.json in bundle {bundle}") from None
    except json.JSONDecodeError as exc:
        raise InvalidParameter(f"malformed {path}: {exc}") from None
    except OSError as exc:
        raise InvalidParameter(f"cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(config, dict):
        raise InvalidParameter(f"malformed {path}: the top level must be an object")
    return config


def _unsupported(section: str, why: str) -> InvalidParameter:
    return InvalidParameter(f'config.json section "{section}" is not supported by the Windows job-object runtime: {why}')


def _int_field(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(f"{name} must be an integer, not {value!r}")
    if not low <= value <= high:
        raise InvalidParameter(f"{name} must be between {low} and {high}, not {value}")
    return value


def _limits(windows: dict[str, Any], annotations: dict[str, str], host_cpus: int) -> JobLimits:
    resources = windows.get("resources") or {}
    if not isinstance(resources, dict):
        raise InvalidParameter("windows.resources must be an object")
    if resources.get("storage"):
        raise _unsupported("windows.resources.storage", "storage limits need a sandbox volume (HCS)")
    memory_limit = cpu_rate = cpu_weight = process_limit = None
    source: dict[str, str] = {}
    memory = resources.get("memory") or {}
    if memory.get("limit") is not None:
        memory_limit = _int_field(memory["limit"], "windows.resources.memory.limit", 1, 2**63 - 1)
        source["memory_limit"] = "windows.resources.memory.limit"
    cpu = resources.get("cpu") or {}
    given = [k for k in ("count", "shares", "maximum") if cpu.get(k) is not None]
    if len(given) > 1:
        names = " and ".join(f"windows.resources.cpu.{k}" for k in given)
        raise InvalidParameter(f"{names} are mutually exclusive on Windows: set only one")
    if "count" in given:
        count = _int_field(cpu["count"], "windows.resources.cpu.count", 1, 2**32 - 1)
        if count < host_cpus:
            cpu_rate = max(1, count * CPU_RATE_MAX // host_cpus)
            source["cpu_rate"] = "windows.resources.cpu.count"
    elif "maximum" in given:
        cpu_rate = _int_field(cpu["maximum"], "windows.resources.cpu.maximum", 1, CPU_RATE_MAX)
        source["cpu_rate"] = "windows.resources.cpu.maximum"
    elif "shares" in given:
        shares = _int_field(cpu["shares"], "windows.resources.cpu.shares", 0, CPU_RATE_MAX)
        cpu_weight = max(1, min(9, 1 + shares * 8 // CPU_RATE_MAX))
        source["cpu_weight"] = "windows.resources.cpu.shares"
    if annotations.get(PIDS_LIMIT_ANNOTATION) is not None:
        raw = annotations[PIDS_LIMIT_ANNOTATION]
        name = f"annotation {PIDS_LIMIT_ANNOTATION}"
        try:
            value = int(str(raw), 10)
        except ValueError:
            raise InvalidParameter(f"{name} must be a positive integer, not {raw!r}") from None
        process_limit = _int_field(value, name, 1, 2**32 - 1)
        source["process_limit"] = name
    return JobLimits(memory_limit, cpu_rate, cpu_weight, process_limit, source)


def _environment(process: dict[str, Any], host_env: dict[str, str], root_path: str | None) -> dict[str, str]:
    env: dict[str, str] = {}
    upper: dict[str, str] = {}  # Windows names are case-insensitive: last one wins
    entries = process.get("env") or []
    if not isinstance(entries, list):
        raise InvalidParameter("process.env must be a list of NAME=value strings")
    for entry in entries:
        if not isinstance(entry, str) or "=" not in entry or entry.startswith("="):
            raise InvalidParameter(f"process.env entry {entry!r} is not NAME=value")
        name, value = entry.split("=", 1)
        if name.upper() in upper:
            del env[upper[name.upper()]]
        upper[name.upper()] = name
        env[name] = value
    host_upper = {k.upper(): (k, v) for k, v in host_env.items()}
    for wanted in SYSTEM_ENV:
        if wanted.upper() not in upper and wanted.upper() in host_upper:
            env[wanted] = host_upper[wanted.upper()][1]
    if root_path is not None and "CONTAINER_SANDBOX_MOUNT_POINT" not in upper:
        # What HostProcess containers set: where the container's files are.
        env["CONTAINER_SANDBOX_MOUNT_POINT"] = root_path
    return env


def parse_config(
    config: dict[str, Any],
    bundle: str,
    host_env: dict[str, str],
    host_cpus: int,
    current_user: str,
) -> WindowsSpec:
    """Validate a Windows container's config.json and resolve what to run.

    ``bundle`` is a Windows path; host facts are parameters so that tests
    can pin them.  Raises :class:`InvalidParameter` naming the field.
    """
    if not isinstance(config.get("ociVersion"), str):
        raise InvalidParameter("config.json has no ociVersion")
    check_platform_sections(config, "windows")
    if config.get("hooks"):
        raise _unsupported("hooks", "no hook runs around a job-object container")
    if config.get("mounts"):
        raise _unsupported("mounts", "bind mounts need the bind filter in a server silo (HCS)")
    windows = config.get("windows") or {}
    if not isinstance(windows, dict):
        raise InvalidParameter("windows must be an object")
    if windows.get("hyperv") is not None:
        raise _unsupported("windows.hyperv", "Hyper-V isolation needs the Host Compute Service (computecore.dll)")
    for name, why in (
        ("devices", "device assignment needs HCS"),
        ("network", "job-object containers share the host's network"),
        ("credentialSpec", "group managed service accounts need HCS"),
    ):
        if windows.get(name):
            raise _unsupported(f"windows.{name}", why)
    annotations = config.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidParameter("annotations must be an object")
    process = config.get("process")
    if not isinstance(process, dict):
        raise InvalidParameter("config.json has no process section: nothing to run")
    if process.get("terminal"):
        raise _unsupported("process.terminal", "pseudo consoles (ConPTY) are not implemented yet")
    command_line = process.get("commandLine")
    args = process.get("args") or []
    if command_line is not None and not isinstance(command_line, str):
        raise InvalidParameter("process.commandLine must be a string")
    if not command_line:
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            raise InvalidParameter("process.args must be a non-empty list of strings naming the program to run")
        command_line = subprocess.list2cmdline(args)
    root_path = None
    root = config.get("root") or {}
    if root.get("path"):
        path = str(root["path"])
        root_path = path if ntpath.isabs(path) else ntpath.join(bundle, path)
    cwd = process.get("cwd") or root_path or bundle
    if not ntpath.isabs(cwd):
        raise InvalidParameter(f"process.cwd must be an absolute Windows path, not {cwd!r}")
    username = (process.get("user") or {}).get("username") or None
    if username is not None and username.lower() != current_user.lower():
        raise InvalidParameter(
            f"process.user.username {username!r}: running as another account than the runtime's "
            f"({current_user}) needs a logon token (CreateProcessAsUser), which this runtime does not do"
        )
    return WindowsSpec(
        command_line=command_line,
        env=_environment(process, host_env, root_path),
        cwd=cwd,
        limits=_limits(windows, {str(k): v for k, v in annotations.items()}, max(1, host_cpus)),
        username=username,
        root_path=root_path,
        annotations={str(k): str(v) for k, v in annotations.items()},
    )
