"""The container record: what the daemon knows of one container, and its Docker shapes."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field, fields
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    """UTC time with nanoseconds, as Go's RFC3339Nano prints it."""
    ns = time.time_ns()
    base = _dt.datetime.fromtimestamp(ns // 1_000_000_000, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns % 1_000_000_000:09d}Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC3339(Nano) UTC timestamp (0 for the zero time)."""
    if not text or text.startswith("0001-"):
        return 0.0
    main, _, frac = text.rstrip("Z").partition(".")
    base = _dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.timezone.utc).timestamp()
    return base + (float("0." + frac) if frac else 0.0)


@dataclass
class State:
    Status: str = "created"
    Running: bool = False
    Paused: bool = False
    Restarting: bool = False
    OOMKilled: bool = False
    Dead: bool = False
    Pid: int = 0
    ExitCode: int = 0
    Error: str = ""
    StartedAt: str = ZERO_TIME
    FinishedAt: str = ZERO_TIME
    Health: dict[str, Any] | None = None  # {Status, FailingStreak, Log} when the container has a check

    def set_running(self, pid: int) -> None:
        self.Status, self.Running, self.Paused, self.Restarting = "running", True, False, False
        self.Pid, self.ExitCode, self.Error, self.OOMKilled = pid, 0, "", False
        self.StartedAt = now_rfc3339()
        self.FinishedAt = ZERO_TIME

    def set_exited(self, code: int, oom: bool = False, error: str = "") -> None:
        self.Status, self.Running, self.Paused, self.Restarting = "exited", False, False, False
        self.Pid, self.ExitCode, self.OOMKilled, self.Error = 0, code, oom, error
        self.FinishedAt = now_rfc3339()

    def set_start_failed(self, code: int, error: str) -> None:
        """A start that never ran the process: moby keeps a never-started container "created"
        (its state string follows StartedAt) and leaves FinishedAt alone."""
        finished = self.FinishedAt
        self.set_exited(code, error=error)
        self.FinishedAt = finished
        if self.StartedAt == ZERO_TIME:
            self.Status = "created"

    def set_restarting(self) -> None:
        """Exited, and a restart policy will start it again: dockerd shows Restarting (and Running) true."""
        self.Status, self.Restarting = "restarting", True

    def summary(self) -> str:
        """The human Status column of `docker ps` ("Up 3 seconds", "Exited (0) 2 minutes ago")."""
        if self.Running:
            text = f"Up {human_duration(time.time() - parse_rfc3339(self.StartedAt))}"
            if self.Paused:
                return text + " (Paused)"
            if self.Health:
                status = self.Health.get("Status") or "starting"
                return text + (" (health: starting)" if status == "starting" else f" ({status})")
            return text
        if self.Restarting:
            return f"Restarting ({self.ExitCode}) {human_duration(time.time() - parse_rfc3339(self.FinishedAt))} ago"
        if self.Status == "created":
            return "Created"
        if self.Status == "dead":
            return "Dead"
        if self.Status == "removing":
            return "Removal In Progress"
        finished = parse_rfc3339(self.FinishedAt)
        if not finished:
            return f"Exited ({self.ExitCode})"
        return f"Exited ({self.ExitCode}) {human_duration(time.time() - finished)} ago"


def human_duration(seconds: float) -> str:
    """Go's units.HumanDuration, which `docker ps` prints."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


@dataclass
class Container:
    """One container, persisted as JSON in the ``containers`` table."""

    Id: str
    Name: str  # without the leading slash
    Created: str
    Image: str  # the image ID (sha256:...)
    ImageRef: str  # what the user asked for ("busybox")
    Config: dict[str, Any]
    HostConfig: dict[str, Any]
    Path: str = ""
    Args: list[str] = field(default_factory=list)
    State: State = field(default_factory=State)
    Runtime: str = "dockyard"
    LogPath: str = ""
    RestartCount: int = 0
    # a stop or kill by the user: ``unless-stopped`` keeps it stopped across daemon restarts
    HasBeenManuallyStopped: bool = False
    # dockyard only: where the last start's time went (daemon/containers/timing.py)
    DockyardStart: dict[str, Any] | None = None
    ResolvConfPath: str = ""
    HostnamePath: str = ""
    HostsPath: str = ""
    # NetworkSettings.Networks (EndpointSettings by network name), SandboxKey and the
    # published ports while running; owned by the network service (daemon/networks.py)
    NetworkSettings: dict[str, Any] = field(default_factory=dict)
    # Docker's MountPoints: volumes, binds and tmpfs of -v/--mount/VOLUME (volume/mountpoints.py)
    MountPoints: list[dict[str, Any]] = field(default_factory=list)
    # Not Docker fields: where things live on the host.
    bundle: str = ""
    rootfs: str = ""
    # created through API < 1.44: its read-only binds are read-only at the top only (moby's
    # DefaultReadOnlyNonRecursive)
    ro_non_recursive: bool = False

    def to_record(self) -> dict[str, Any]:
        """The fields as they are serialized: shallow (the JSON encoder walks the nested dicts;
        ``asdict``'s deep copy cost more than the write itself, and healthchecks save often)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["State"] = {f.name: getattr(self.State, f.name) for f in fields(self.State)}
        return out

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "Container":
        data = dict(data)
        data["State"] = State(**data.get("State", {}))
        return cls(**data)

    @property
    def short_id(self) -> str:
        return self.Id[:12]
