"""The typed shapes of the Engine API's JSON request bodies (moby's ``api/swagger.yaml``).

Each model is one of moby's Go structs, field for field, with the Go type of
every field (``Go("int64")``) so that a malformed value is refused with
dockerd's own words (see :mod:`dockyard.api.godecode`). Validation is strict,
as Go's decoder is: ``1.5e8`` is not an int64, ``1`` is not a bool, ``"1g"``
is not a number. Unknown keys are dropped (Go ignores them) and keys match
case-insensitively (Go does too), so what the daemon stores is exactly what
these models let through: no ``Infinity``, no out-of-range integer, no wrong
type can reach a record.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class Go:
    """The Go type a field has in moby (what dockerd names in its decoding errors)."""

    type: str


def _int(go: str, bits: int, signed: bool = True) -> Any:
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    return Annotated[int, Field(ge=lo, le=hi), Go(go)]


Int64 = _int("int64", 64)
Int = _int("int", 64)
UInt16 = _int("uint16", 16, signed=False)
UInt32 = _int("uint32", 32, signed=False)
UInt64 = _int("uint64", 64, signed=False)
UInt = _int("uint", 64, signed=False)
Duration = _int("time.Duration", 64)
Str = Annotated[str, Go("string")]
Bool = Annotated[bool, Go("bool")]
StrList = Annotated[list[Str], Go("[]string")]
StrMap = Annotated[dict[str, Str], Go("map[string]string")]


def _named(go: str) -> Any:
    return Annotated[str, Go(go)]


def _str_slice(value: Any) -> Any:
    """moby's ``strslice.StrSlice``: a JSON string or an array of strings (null stays null)."""
    if isinstance(value, str):
        return [value]
    if value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise PydanticCustomError("go_type", "not a string or an array of strings")


StrSlice = Annotated[list[str], BeforeValidator(_str_slice), Go("string")]


def _console_size(value: Any) -> Any:
    """Go's ``[2]uint``: extra elements are dropped, missing ones are 0."""
    if isinstance(value, list) and len(value) != 2:
        return (value + [0, 0])[:2]
    return value


ConsoleSizeSpec = Annotated[list[UInt], BeforeValidator(_console_size), Go("[2]uint")]


class Body(BaseModel):
    """A Go struct: strict types, unknown keys dropped, keys matched case-insensitively.

    A ``null`` for a field that is not a pointer, slice or map in Go leaves
    the field unset, as Go's decoder does.
    """

    # defer_build: building the validators of every model takes ~0.4 s; the daemon does it in
    # a thread after it starts listening (``build_all``), not on its start-up path
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)
    go_name: ClassVar[str] = ""
    _folded: ClassVar[dict[str, str]] = {}
    _nullable: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._folded = {name.lower(): name for name in cls.model_fields}
        cls._nullable = frozenset(name for name, f in cls.model_fields.items()
                                  if type(None) in typing.get_args(f.annotation))

    @model_validator(mode="before")
    @classmethod
    def _go_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = key if key in cls.model_fields else cls._folded.get(key.lower())
            if name is None:
                continue
            if value is None and name not in cls._nullable:
                out.pop(name, None)
                continue
            out[name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        """The fields the request gave, with their validated values."""
        return self.model_dump(exclude_unset=True)


class Empty(Body):
    """Go's ``struct {}`` (the values of ExposedPorts and Volumes)."""

    go_name: ClassVar[str] = "struct {}"


# -- container.Config ----------------------------------------------------------------------

class HealthConfig(Body):
    go_name: ClassVar[str] = "HealthConfig"
    Test: StrList | None = None
    Interval: Duration = 0
    Timeout: Duration = 0
    StartPeriod: Duration = 0
    StartInterval: Duration = 0
    Retries: Int = 0


class ContainerConfig(Body):
    """``container.Config``; decoded at the top of the create and commit bodies."""

    go_name: ClassVar[str] = "ContainerConfigWrapper"
    go_value: ClassVar[str] = "runconfig.ContainerConfigWrapper"
    Hostname: Str = ""
    Domainname: Str = ""
    User: Str = ""
    AttachStdin: Bool = False
    AttachStdout: Bool = False
    AttachStderr: Bool = False
    ExposedPorts: Annotated[dict[str, Empty], Go("nat.PortSet")] | None = None
    Tty: Bool = False
    OpenStdin: Bool = False
    StdinOnce: Bool = False
    Env: StrList | None = None
    Cmd: StrSlice | None = None
    Healthcheck: Annotated[HealthConfig, Go("container.HealthConfig")] | None = None
    ArgsEscaped: Bool = False
    Image: Str = ""
    Volumes: Annotated[dict[str, Empty], Go("map[string]struct {}")] | None = None
    WorkingDir: Str = ""
    Entrypoint: StrSlice | None = None
    NetworkDisabled: Bool = False
    MacAddress: Str = ""
    OnBuild: StrList | None = None
    Labels: StrMap | None = None
    StopSignal: Str = ""
    StopTimeout: Int | None = None
    Shell: StrSlice | None = None


# -- container.HostConfig ------------------------------------------------------------------

class WeightDevice(Body):
    go_name: ClassVar[str] = "WeightDevice"
    Path: Str = ""
    Weight: UInt16 = 0


class ThrottleDevice(Body):
    go_name: ClassVar[str] = "ThrottleDevice"
    Path: Str = ""
    Rate: UInt64 = 0


ThrottleDevices = Annotated[list[Annotated[ThrottleDevice, Go("blkiodev.ThrottleDevice")]],
                            Go("[]*blkiodev.ThrottleDevice")]


class DeviceMapping(Body):
    go_name: ClassVar[str] = "DeviceMapping"
    PathOnHost: Str = ""
    PathInContainer: Str = ""
    CgroupPermissions: Str = ""


class DeviceRequest(Body):
    go_name: ClassVar[str] = "DeviceRequest"
    Driver: Str = ""
    Count: Int = 0
    DeviceIDs: StrList | None = None
    Capabilities: Annotated[list[StrList], Go("[][]string")] | None = None
    Options: StrMap | None = None


class Ulimit(Body):
    go_name: ClassVar[str] = "Ulimit"
    Name: Str = ""
    Hard: Int64 = 0
    Soft: Int64 = 0


class LogConfigSpec(Body):
    go_name: ClassVar[str] = "LogConfig"
    Type: Str = ""
    Config: StrMap | None = None


class RestartPolicySpec(Body):
    go_name: ClassVar[str] = "RestartPolicy"
    Name: _named("container.RestartPolicyMode") = ""
    MaximumRetryCount: Int = 0


class PortBinding(Body):
    go_name: ClassVar[str] = "PortBinding"
    HostIp: Str = ""
    HostPort: Str = ""


class BindOptionsSpec(Body):
    go_name: ClassVar[str] = "BindOptions"
    Propagation: _named("mount.Propagation") = ""
    NonRecursive: Bool = False
    CreateMountpoint: Bool = False
    ReadOnlyNonRecursive: Bool = False
    ReadOnlyForceRecursive: Bool = False


class Driver(Body):
    go_name: ClassVar[str] = "Driver"
    Name: Str = ""
    Options: StrMap | None = None


class VolumeOptionsSpec(Body):
    go_name: ClassVar[str] = "VolumeOptions"
    NoCopy: Bool = False
    Labels: StrMap | None = None
    Subpath: Str = ""
    DriverConfig: Annotated[Driver, Go("mount.Driver")] | None = None


class TmpfsOptionsSpec(Body):
    go_name: ClassVar[str] = "TmpfsOptions"
    SizeBytes: Int64 = 0
    Mode: Annotated[int, Field(ge=0, le=2 ** 32 - 1), Go("os.FileMode")] = 0
    Options: Annotated[list[StrList], Go("[][]string")] | None = None


class ImageOptionsSpec(Body):
    go_name: ClassVar[str] = "ImageOptions"
    Subpath: Str = ""


class Mount(Body):
    go_name: ClassVar[str] = "Mount"
    Type: _named("mount.Type") = ""
    Source: Str = ""
    Target: Str = ""
    ReadOnly: Bool = False
    Consistency: _named("mount.Consistency") = ""
    BindOptions: Annotated[BindOptionsSpec, Go("mount.BindOptions")] | None = None
    VolumeOptions: Annotated[VolumeOptionsSpec, Go("mount.VolumeOptions")] | None = None
    TmpfsOptions: Annotated[TmpfsOptionsSpec, Go("mount.TmpfsOptions")] | None = None
    ImageOptions: Annotated[ImageOptionsSpec, Go("mount.ImageOptions")] | None = None


class Resources(Body):
    """``container.Resources``: the part of HostConfig that ``docker update`` changes too."""

    go_name: ClassVar[str] = "HostConfig"
    CpuShares: Int64 = 0
    Memory: Int64 = 0
    NanoCpus: Int64 = 0
    CgroupParent: Str = ""
    BlkioWeight: UInt16 = 0
    BlkioWeightDevice: Annotated[list[Annotated[WeightDevice, Go("blkiodev.WeightDevice")]],
                                 Go("[]*blkiodev.WeightDevice")] | None = None
    BlkioDeviceReadBps: ThrottleDevices | None = None
    BlkioDeviceWriteBps: ThrottleDevices | None = None
    BlkioDeviceReadIOps: ThrottleDevices | None = None
    BlkioDeviceWriteIOps: ThrottleDevices | None = None
    CpuPeriod: Int64 = 0
    CpuQuota: Int64 = 0
    CpuRealtimePeriod: Int64 = 0
    CpuRealtimeRuntime: Int64 = 0
    CpusetCpus: Str = ""
    CpusetMems: Str = ""
    Devices: Annotated[list[Annotated[DeviceMapping, Go("container.DeviceMapping")]],
                       Go("[]container.DeviceMapping")] | None = None
    DeviceCgroupRules: StrList | None = None
    DeviceRequests: Annotated[list[Annotated[DeviceRequest, Go("container.DeviceRequest")]],
                              Go("[]container.DeviceRequest")] | None = None
    KernelMemory: Int64 = 0
    KernelMemoryTCP: Int64 = 0
    MemoryReservation: Int64 = 0
    MemorySwap: Int64 = 0
    MemorySwappiness: Int64 | None = None
    OomKillDisable: Bool | None = None
    PidsLimit: Int64 | None = None
    Ulimits: Annotated[list[Annotated[Ulimit, Go("units.Ulimit")]], Go("[]*units.Ulimit")] | None = None
    CpuCount: Int64 = 0
    CpuPercent: Int64 = 0
    IOMaximumIOps: UInt64 = 0
    IOMaximumBandwidth: UInt64 = 0


class HostConfigSpec(Resources):
    go_name: ClassVar[str] = "HostConfig"
    Binds: StrList | None = None
    ContainerIDFile: Str = ""
    LogConfig: Annotated[LogConfigSpec, Go("container.LogConfig")] | None = None
    NetworkMode: _named("container.NetworkMode") = ""
    PortBindings: Annotated[dict[str, Annotated[list[Annotated[PortBinding, Go("nat.PortBinding")]],
                                                Go("[]nat.PortBinding")]],
                            Go("nat.PortMap")] | None = None
    RestartPolicy: Annotated[RestartPolicySpec, Go("container.RestartPolicy")] | None = None
    AutoRemove: Bool = False
    VolumeDriver: Str = ""
    VolumesFrom: StrList | None = None
    Mounts: Annotated[list[Annotated[Mount, Go("mount.Mount")]], Go("[]mount.Mount")] | None = None
    ConsoleSize: ConsoleSizeSpec | None = None
    Annotations: StrMap | None = None
    CapAdd: StrSlice | None = None
    CapDrop: StrSlice | None = None
    CgroupnsMode: _named("container.CgroupnsMode") = ""
    Dns: StrList | None = None
    DnsOptions: StrList | None = None
    DnsSearch: StrList | None = None
    ExtraHosts: StrList | None = None
    GroupAdd: StrList | None = None
    IpcMode: _named("container.IpcMode") = ""
    Cgroup: _named("container.CgroupSpec") = ""
    Links: StrList | None = None
    OomScoreAdj: Int = 0
    PidMode: _named("container.PidMode") = ""
    Privileged: Bool = False
    PublishAllPorts: Bool = False
    ReadonlyRootfs: Bool = False
    SecurityOpt: StrList | None = None
    StorageOpt: StrMap | None = None
    Tmpfs: StrMap | None = None
    UTSMode: _named("container.UTSMode") = ""
    UsernsMode: _named("container.UsernsMode") = ""
    ShmSize: Int64 = 0
    Sysctls: StrMap | None = None
    Runtime: Str = ""
    Isolation: _named("container.Isolation") = ""
    Init: Bool | None = None
    MaskedPaths: StrList | None = None
    ReadonlyPaths: StrList | None = None


# -- network.NetworkingConfig --------------------------------------------------------------

class EndpointIPAMConfig(Body):
    go_name: ClassVar[str] = "EndpointIPAMConfig"
    IPv4Address: Str = ""
    IPv6Address: Str = ""
    LinkLocalIPs: StrList | None = None


class EndpointSettings(Body):
    go_name: ClassVar[str] = "EndpointSettings"
    IPAMConfig: Annotated[EndpointIPAMConfig, Go("network.EndpointIPAMConfig")] | None = None
    Links: StrList | None = None
    Aliases: StrList | None = None
    MacAddress: Str = ""
    DriverOpts: StrMap | None = None
    GwPriority: Int = 0
    NetworkID: Str = ""
    EndpointID: Str = ""
    Gateway: Str = ""
    IPAddress: Str = ""
    IPPrefixLen: Int = 0
    IPv6Gateway: Str = ""
    GlobalIPv6Address: Str = ""
    GlobalIPv6PrefixLen: Int = 0
    DNSNames: StrList | None = None


class NetworkingConfigSpec(Body):
    go_name: ClassVar[str] = "NetworkingConfig"
    EndpointsConfig: Annotated[dict[str, Annotated[EndpointSettings, Go("network.EndpointSettings")] | None],
                               Go("map[string]*network.EndpointSettings")] | None = None


# -- the request bodies --------------------------------------------------------------------

class CreateBody(ContainerConfig):
    """``POST /containers/create``: a Config with its HostConfig and NetworkingConfig."""

    HostConfig: Annotated[HostConfigSpec, Go("container.HostConfig")] | None = None
    NetworkingConfig: Annotated[NetworkingConfigSpec, Go("network.NetworkingConfig")] | None = None


class ExecConfig(Body):
    """``POST /containers/{id}/exec``."""

    go_name: ClassVar[str] = "ExecConfig"
    go_value: ClassVar[str] = "types.ExecConfig"
    User: Str = ""
    Privileged: Bool = False
    Tty: Bool = False
    ConsoleSize: ConsoleSizeSpec | None = None
    AttachStdin: Bool = False
    AttachStderr: Bool = False
    AttachStdout: Bool = False
    Detach: Bool = False
    DetachKeys: Str = ""
    Env: StrList | None = None
    WorkingDir: Str = ""
    Cmd: StrList | None = None


class ExecStartCheck(Body):
    """``POST /exec/{id}/start``."""

    go_name: ClassVar[str] = "ExecStartCheck"
    go_value: ClassVar[str] = "types.ExecStartCheck"
    Detach: Bool = False
    Tty: Bool = False
    ConsoleSize: ConsoleSizeSpec | None = None


class UpdateConfig(Resources):
    """``POST /containers/{id}/update``: resources and the restart policy."""

    go_name: ClassVar[str] = "UpdateConfig"
    go_value: ClassVar[str] = "container.UpdateConfig"
    RestartPolicy: Annotated[RestartPolicySpec, Go("container.RestartPolicy")] | None = None


class NetworkDisconnect(Body):
    """``POST /networks/{id}/disconnect`` (found by the schemathesis run: a list here was a 500)."""

    go_name: ClassVar[str] = "DisconnectOptions"
    go_value: ClassVar[str] = "network.DisconnectOptions"
    Container: Str = ""
    Force: Bool = False


class NetworkConnect(Body):
    """``POST /networks/{id}/connect``."""

    go_name: ClassVar[str] = "NetworkConnect"
    go_value: ClassVar[str] = "types.NetworkConnect"
    Container: Str = ""
    EndpointConfig: Annotated[EndpointSettings, Go("network.EndpointSettings")] | None = None


class IPAMConfig(Body):
    go_name: ClassVar[str] = "IPAMConfig"
    Subnet: Str = ""
    IPRange: Str = ""
    Gateway: Str = ""
    AuxiliaryAddresses: StrMap | None = None


class IPAMSpec(Body):
    go_name: ClassVar[str] = "IPAM"
    Driver: Str = ""
    Options: StrMap | None = None
    Config: Annotated[list[Annotated[IPAMConfig, Go("network.IPAMConfig")]], Go("[]network.IPAMConfig")] | None = None


class ConfigReference(Body):
    go_name: ClassVar[str] = "ConfigReference"
    Network: Str = ""


class NetworkCreate(Body):
    """``POST /networks/create``."""

    go_name: ClassVar[str] = "NetworkCreateRequest"
    go_value: ClassVar[str] = "types.NetworkCreateRequest"
    Name: Str = ""
    CheckDuplicate: Bool = False
    Driver: Str = ""
    Scope: Str = ""
    EnableIPv4: Bool | None = None
    EnableIPv6: Bool | None = None
    IPAM: Annotated[IPAMSpec, Go("network.IPAM")] | None = None
    Internal: Bool = False
    Attachable: Bool = False
    Ingress: Bool = False
    ConfigOnly: Bool = False
    ConfigFrom: Annotated[ConfigReference, Go("network.ConfigReference")] | None = None
    Options: StrMap | None = None
    Labels: StrMap | None = None


class VolumeCreate(Body):
    """``POST /volumes/create`` (ClusterVolumeSpec is swarm's: kept as given, then refused)."""

    go_name: ClassVar[str] = "VolumeCreateBody"
    go_value: ClassVar[str] = "volume.VolumeCreateBody"
    Name: Str = ""
    Driver: Str = ""
    DriverOpts: StrMap | None = None
    Labels: StrMap | None = None
    ClusterVolumeSpec: Annotated[dict[str, object], Go("volume.ClusterVolumeSpec")] | None = None


REQUEST_BODIES: tuple[type[Body], ...] = (CreateBody, ContainerConfig, ExecConfig, ExecStartCheck, UpdateConfig,
                                         NetworkDisconnect, NetworkConnect, NetworkCreate, VolumeCreate)


def build_all() -> None:
    """Build every request body's validator now (a request that comes first builds its own)."""
    for model in REQUEST_BODIES:
        model.model_rebuild()
