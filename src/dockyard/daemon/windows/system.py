"""``docker version`` and ``docker info`` of a Windows host: what dockerd on Windows reports."""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

from dockyard import __version__
from dockyard.daemon.hosts import tcp_warnings
from dockyard.daemon.system import API_VERSION, DOCKER_VERSION, MIN_API_VERSION, SystemService, build_time
from dockyard.image.distribution.endpoints import registry_config


def kernel_version() -> str:
    """dockerd's form on Windows: ``10.0 20348 (20348.1.amd64fre...)``; we know major.minor build."""
    v = sys.getwindowsversion()  # type: ignore[attr-defined]
    return f"{v.major}.{v.minor} {v.build} ({v.build}.{v.service_pack_minor})"


def mem_total() -> int:
    """Physical memory in bytes (``GlobalMemoryStatusEx``)."""
    import ctypes

    class MEMORYSTATUSEX(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_uint32), ("dwMemoryLoad", ctypes.c_uint32),
                    ("ullTotalPhys", ctypes.c_uint64), ("ullAvailPhys", ctypes.c_uint64),
                    ("ullTotalPageFile", ctypes.c_uint64), ("ullAvailPageFile", ctypes.c_uint64),
                    ("ullTotalVirtual", ctypes.c_uint64), ("ullAvailVirtual", ctypes.c_uint64),
                    ("ullAvailExtendedVirtual", ctypes.c_uint64)]

    status = MEMORYSTATUSEX()
    status.dwLength = ctypes.sizeof(MEMORYSTATUSEX)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return 0
    return int(status.ullTotalPhys)


def arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64"}.get(machine, machine)


class WindowsSystemService(SystemService):
    """The Windows answers; disk usage and events are the shared service's."""

    def version(self) -> dict[str, Any]:
        details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "windows", "Arch": arch(),
                   "KernelVersion": kernel_version(), "GitCommit": "dockyard",
                   "GoVersion": f"python{platform.python_version()}", "Experimental": "false",
                   "BuildTime": build_time()}
        return {
            "Platform": {"Name": f"dockyard {__version__}"},
            "Components": [{"Name": "Engine", "Version": DOCKER_VERSION, "Details": details}],
            "Version": DOCKER_VERSION, **{k: v for k, v in details.items() if k != "Experimental"},
        }

    def info(self) -> dict[str, Any]:
        return {
            **self.inventory(), "Driver": "windowsfilter", "DriverStatus": [],
            "Plugins": {"Volume": ["local"], "Network": ["null"], "Authorization": None, "Log": ["json-file"]},
            # job objects: memory and CPU limits exist, the Linux cgroup knobs do not
            "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": False, "CpuCfsQuota": False,
            "CPUShares": True, "CPUSet": False, "PidsLimit": True, "IPv4Forwarding": False,
            "Debug": self.cfg.log_level == "debug", "NFd": -1, "OomKillDisable": False, "NGoroutines": 0,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "LoggingDriver": "json-file", "CgroupDriver": "", "CgroupVersion": "",
            "NEventsListener": self.containers.events.listeners(), "KernelVersion": kernel_version(),
            "OperatingSystem": f"Microsoft Windows {platform.release()}", "OSVersion": platform.version(),
            "OSType": "windows", "Architecture": "x86_64" if arch() == "amd64" else platform.machine(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": registry_config(self.cfg.insecure_registries, self.cfg.registry_mirrors),
            "NCPU": os.cpu_count() or 1, "MemTotal": mem_total(), "GenericResources": None,
            "DockerRootDir": self.cfg.data_root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "Name": platform.node(), "Labels": [], "ExperimentalBuild": False, "ServerVersion": DOCKER_VERSION,
            "DefaultRuntime": self.cfg.default_runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True, "Isolation": "process", "InitBinary": "",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            "SecurityOptions": [], "CDISpecDirs": [],
            "Warnings": tcp_warnings(self.cfg.listen_hosts, self.cfg.tls) or None,
        }
