"""Every field of the create body that the API documents is applied, or refused with a 400 naming it.

The field list comes from the typed models of the request (``api/bodies.py``,
moby's swagger shapes); a field without a case here fails
``test_every_documented_field_has_a_case``. Each case creates a container with
the field set, runs a command and checks the effect from inside the container
(or inspect, for fields that only describe the container), or checks that the
create is refused with a 400 whose message names the field. Which it is may
depend on the host's kernel (a limit the kernel cannot apply is refused): the
case then asks the same probe the daemon asks.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from dockyard.api.bodies import ContainerConfig, HostConfigSpec, NetworkingConfigSpec
from dockyard.daemon.sysinfo import probe
from tests.support.daemon import docker

HOST = probe()
REFUSED = "refused"
STORED = "stored"  # created and shown by inspect; not started (it needs a daemon option)
LIVE = "sleep 30"  # checked while running (published ports exist only then)
TAG = os.urandom(3).hex()
PEER, NET = f"fieldpeer-{TAG}", f"fieldnet-{TAG}"


@dataclass
class Case:
    body: dict[str, Any]  # merged into {"Image", "Cmd", "HostConfig": {}}
    cmd: str = "true"
    # (output, inspect) → ok; or REFUSED: a 400 naming the field
    check: Callable[[str, dict[str, Any]], bool] | str = REFUSED
    when: bool = True  # False: on this host the field is refused (the kernel lacks what it needs)
    extra: dict[str, Any] = field(default_factory=dict)


def hc(**kw: Any) -> dict[str, Any]:
    return {"HostConfig": kw}


def inspect_hc(key: str, value: Any) -> Callable[[str, dict[str, Any]], bool]:
    return lambda out, c: c["HostConfig"][key] == value


def inspect_cfg(key: str, value: Any) -> Callable[[str, dict[str, Any]], bool]:
    return lambda out, c: c["Config"][key] == value


def prints(text: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda out, c: text in out


def cg(controller: str, v1: str, v2: str) -> str:
    """A cat of the container's own cgroup file (the container sees its cgroup at /sys/fs/cgroup)."""
    return f"cat /sys/fs/cgroup/{v2}" if HOST.cgroup_v2 else f"cat /sys/fs/cgroup/{controller}/{v1}"


def _block_device() -> str:
    dev = os.stat("/").st_dev
    for name in sorted(os.listdir("/dev")):
        try:
            st = os.stat(f"/dev/{name}")
        except OSError:
            continue
        if (st.st_mode & 0o170000) == 0o060000 and st.st_rdev == dev:
            return f"/dev/{name}"
    return "/dev/null"


BLK = _block_device()
MB64 = 64 << 20
HOST_HOSTNAME = os.uname().nodename
HOST_IPC = os.readlink("/proc/self/ns/ipc")

CONFIG_CASES: dict[str, Case] = {
    "Hostname": Case({"Hostname": "fieldhost"}, "hostname", prints("fieldhost")),
    "Domainname": Case({"Domainname": "example.org"}, "cat /proc/sys/kernel/domainname", prints("example.org")),
    "User": Case({"User": "1000:1000"}, "id -u; id -g", lambda out, c: out.split()[:2] == ["1000", "1000"]),
    "AttachStdin": Case({"AttachStdin": True}, check=inspect_cfg("AttachStdin", True)),
    "AttachStdout": Case({"AttachStdout": True}, check=inspect_cfg("AttachStdout", True)),
    "AttachStderr": Case({"AttachStderr": True}, check=inspect_cfg("AttachStderr", True)),
    "ExposedPorts": Case({"ExposedPorts": {"80/tcp": {}}}, check=inspect_cfg("ExposedPorts", {"80/tcp": {}})),
    "Tty": Case({"Tty": True}, "[ -t 1 ] && echo is-a-tty", prints("is-a-tty")),
    "OpenStdin": Case({"OpenStdin": True}, check=inspect_cfg("OpenStdin", True)),
    "StdinOnce": Case({"StdinOnce": True}, check=inspect_cfg("StdinOnce", True)),
    "Env": Case({"Env": ["FIELD_ENV=on"]}, "echo $FIELD_ENV", prints("on")),
    "Cmd": Case({}, "echo from-cmd", prints("from-cmd")),
    "Healthcheck": Case({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 10**9}},
                        check=lambda out, c: c["Config"]["Healthcheck"]["Test"] == ["CMD", "true"]
                        and "Health" in c["State"]),
    "ArgsEscaped": Case({"ArgsEscaped": True}, check=inspect_cfg("ArgsEscaped", True)),  # Windows only; stored
    "Image": Case({}, check=lambda out, c: c["Config"]["Image"].startswith("busybox")),
    "Volumes": Case({"Volumes": {"/anon": {}}}, "grep ' /anon ' /proc/mounts",
                    lambda out, c: "/anon" in out and any(m["Destination"] == "/anon" and m["Type"] == "volume"
                                                          for m in c["Mounts"])),
    "WorkingDir": Case({"WorkingDir": "/tmp"}, "pwd", prints("/tmp")),
    "Entrypoint": Case({"Entrypoint": ["/bin/echo", "from-entrypoint"]}, check=prints("from-entrypoint")),
    "NetworkDisabled": Case({"NetworkDisabled": True}, "ls /sys/class/net", lambda out, c: out.split() == ["lo"]),
    "MacAddress": Case({"MacAddress": "02:42:ac:11:07:02"}, "cat /sys/class/net/eth0/address",
                       prints("02:42:ac:11:07:02")),
    "OnBuild": Case({"OnBuild": ["RUN true"]}, check=inspect_cfg("OnBuild", ["RUN true"])),  # for builds from it
    "Labels": Case({"Labels": {"field": "label"}}, check=lambda out, c: c["Config"]["Labels"]["field"] == "label"),
    "StopSignal": Case({"StopSignal": "SIGUSR1"}, check=inspect_cfg("StopSignal", "SIGUSR1")),
    "StopTimeout": Case({"StopTimeout": 3}, check=inspect_cfg("StopTimeout", 3)),
    "Shell": Case({"Shell": ["/bin/sh", "-xc"]}, check=inspect_cfg("Shell", ["/bin/sh", "-xc"])),  # for builds
}

HOST_CASES: dict[str, Case] = {
    "CpuShares": Case(hc(CpuShares=512), cg("cpu", "cpu.shares", "cpu.weight"),
                      lambda out, c: out.split()[0] == ("20" if HOST.cgroup_v2 else "512"), HOST.cpu_shares),
    "Memory": Case(hc(Memory=MB64), cg("memory", "memory.limit_in_bytes", "memory.max"), prints(str(MB64)),
                   HOST.memory_limit),
    "NanoCpus": Case(hc(NanoCpus=5 * 10**8), cg("cpu", "cpu.cfs_quota_us", "cpu.max"), prints("50000"),
                     HOST.cpu_cfs),
    "CgroupParent": Case({}, "cat /proc/self/cgroup", check=lambda out, c: HOST.cgroup_v2 or "-fieldparent/" in out),
    "BlkioWeight": Case(hc(BlkioWeight=300), cg("blkio", "blkio.weight", "io.weight"), prints("300"),
                        HOST.blkio_weight),
    "BlkioWeightDevice": Case(hc(BlkioWeightDevice=[{"Path": BLK, "Weight": 300}]),
                              cg("blkio", "blkio.weight_device", "io.weight"), prints("300"),
                              HOST.blkio_weight_device),
    "BlkioDeviceReadBps": Case(hc(BlkioDeviceReadBps=[{"Path": BLK, "Rate": 1048576}]),
                               cg("blkio", "blkio.throttle.read_bps_device", "io.max"), prints("1048576"),
                               HOST.blkio_read_bps),
    "BlkioDeviceWriteBps": Case(hc(BlkioDeviceWriteBps=[{"Path": BLK, "Rate": 2097152}]),
                                cg("blkio", "blkio.throttle.write_bps_device", "io.max"), prints("2097152"),
                                HOST.blkio_write_bps),
    "BlkioDeviceReadIOps": Case(hc(BlkioDeviceReadIOps=[{"Path": BLK, "Rate": 333}]),
                                cg("blkio", "blkio.throttle.read_iops_device", "io.max"), prints("333"),
                                HOST.blkio_read_iops),
    "BlkioDeviceWriteIOps": Case(hc(BlkioDeviceWriteIOps=[{"Path": BLK, "Rate": 444}]),
                                 cg("blkio", "blkio.throttle.write_iops_device", "io.max"), prints("444"),
                                 HOST.blkio_write_iops),
    "CpuPeriod": Case(hc(CpuPeriod=50000), cg("cpu", "cpu.cfs_period_us", "cpu.max"), prints("50000"),
                      HOST.cpu_cfs),
    "CpuQuota": Case(hc(CpuQuota=30000), cg("cpu", "cpu.cfs_quota_us", "cpu.max"), prints("30000"), HOST.cpu_cfs),
    "CpuRealtimePeriod": Case(hc(CpuRealtimePeriod=500000), cg("cpu", "cpu.rt_period_us", "cpu.rt_period_us"),
                              prints("500000"), HOST.cpu_realtime),
    # stored at create as dockerd; it starts only under a daemon that gives its parents a budget
    # (--cpu-rt-runtime, tests/e2e/test_cpu_rt.py)
    "CpuRealtimeRuntime": Case(hc(CpuRealtimeRuntime=1000), check=STORED, when=HOST.cpu_realtime),
    "CpusetCpus": Case(hc(CpusetCpus="0"), cg("cpuset", "cpuset.cpus", "cpuset.cpus"),
                       lambda out, c: out.split()[0] == "0", HOST.cpuset),
    "CpusetMems": Case(hc(CpusetMems="0"), cg("cpuset", "cpuset.mems", "cpuset.mems"),
                       lambda out, c: out.split()[0] == "0", HOST.cpuset),
    "Devices": Case(hc(Devices=[{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/fieldzero",
                                 "CgroupPermissions": "rwm"}]), "head -c 3 /dev/fieldzero | wc -c", prints("3")),
    "DeviceCgroupRules": Case(hc(DeviceCgroupRules=["c 1:9 rwm"]),
                              "cat /sys/fs/cgroup/devices/devices.list 2>/dev/null || echo v2",
                              lambda out, c: "c 1:9 rwm" in out or "v2" in out),
    "DeviceRequests": Case(hc(DeviceRequests=[{"Count": -1, "Capabilities": [["gpu"]]}])),
    "KernelMemory": Case(hc(KernelMemory=MB64)),
    "KernelMemoryTCP": Case(hc(KernelMemoryTCP=MB64)),
    "MemoryReservation": Case(hc(MemoryReservation=MB64), cg("memory", "memory.soft_limit_in_bytes", "memory.low"),
                              prints(str(MB64)), HOST.memory_reservation),
    "MemorySwap": Case(hc(Memory=MB64, MemorySwap=2 * MB64), cg("memory", "memory.memsw.limit_in_bytes",
                                                                "memory.swap.max"),
                       prints(str(2 * MB64) if not HOST.cgroup_v2 else str(MB64)), HOST.swap_limit),
    "MemorySwappiness": Case(hc(MemorySwappiness=7), cg("memory", "memory.swappiness", "memory.swappiness"),
                             prints("7"), HOST.memory_swappiness),
    "OomKillDisable": Case(hc(Memory=MB64, OomKillDisable=True), cg("memory", "memory.oom_control", "x"),
                           prints("oom_kill_disable 1"), HOST.oom_kill_disable),
    "PidsLimit": Case(hc(PidsLimit=77), cg("pids", "pids.max", "pids.max"), prints("77"), HOST.pids_limit),
    "Ulimits": Case(hc(Ulimits=[{"Name": "nofile", "Soft": 321, "Hard": 654}]), "ulimit -n; ulimit -Hn",
                    lambda out, c: out.split()[:2] == ["321", "654"]),
    "CpuCount": Case(hc(CpuCount=1)),
    "CpuPercent": Case(hc(CpuPercent=50)),
    "IOMaximumIOps": Case(hc(IOMaximumIOps=100)),
    "IOMaximumBandwidth": Case(hc(IOMaximumBandwidth=100)),
    "Binds": Case(hc(Binds=["/etc:/hostetc:ro"]), "ls /hostetc/passwd && touch /hostetc/x 2>&1 || echo ro",
                  lambda out, c: "/hostetc/passwd" in out and "ro" in out.split()),
    "ContainerIDFile": Case(hc(ContainerIDFile="/tmp/cid"), check=inspect_hc("ContainerIDFile", "/tmp/cid")),
    "LogConfig": Case(hc(LogConfig={"Type": "json-file", "Config": {"max-size": "1m"}}), "echo logged",
                      lambda out, c: "logged" in out and c["HostConfig"]["LogConfig"]["Config"]["max-size"] == "1m"),
    "NetworkMode": Case(hc(NetworkMode="none"), "ls /sys/class/net", lambda out, c: out.split() == ["lo"]),
    "PortBindings": Case({"ExposedPorts": {"80/tcp": {}}, **hc(PortBindings={"80/tcp": [{"HostPort": ""}]})},
                         LIVE, lambda out, c: c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] != ""),
    "RestartPolicy": Case(hc(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 1}),
                          check=lambda out, c: c["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"),
    "AutoRemove": Case(hc(AutoRemove=True), check="autoremove"),
    "VolumeDriver": Case({"Volumes": {"/vd": {}}, **hc(VolumeDriver="local")},
                         check=lambda out, c: [m["Driver"] for m in c["Mounts"]] == ["local"]),
    "VolumesFrom": Case(hc(VolumesFrom=["{peer}"]), "grep ' /shared ' /proc/mounts", prints("/shared")),
    "Mounts": Case(hc(Mounts=[{"Type": "bind", "Source": "/etc", "Target": "/mnt/etc", "ReadOnly": True}]),
                   "ls /mnt/etc/passwd", prints("/mnt/etc/passwd")),
    # the size is set through conmon as the container starts: wait until the TTY has it
    "ConsoleSize": Case({"Tty": True, **hc(ConsoleSize=[33, 111])},
                        "for i in $(seq 100); do s=$(stty size); [ \"$s\" = \"33 111\" ] && break; sleep 0.05; done;"
                        " echo $s", prints("33 111")),
    "Annotations": Case(hc(Annotations={"org.example": "x"}),
                        check=lambda out, c: c["HostConfig"]["Annotations"] == {"org.example": "x"}),
    "CapAdd": Case(hc(CapAdd=["SYS_ADMIN"]), "grep CapBnd /proc/self/status",
                   lambda out, c: int(out.split()[1], 16) & (1 << 21) != 0),
    "CapDrop": Case(hc(CapDrop=["CHOWN"]), "grep CapBnd /proc/self/status",
                    lambda out, c: int(out.split()[1], 16) & 1 == 0),
    "CgroupnsMode": Case(hc(CgroupnsMode="host"), "cat /proc/self/cgroup",
                         lambda out, c: c["HostConfig"]["CgroupnsMode"] == "host" and c["Id"] in out),
    "Dns": Case(hc(Dns=["192.0.2.1"]), "cat /etc/resolv.conf", prints("nameserver 192.0.2.1")),
    "DnsOptions": Case(hc(DnsOptions=["ndots:2"]), "cat /etc/resolv.conf", prints("ndots:2")),
    "DnsSearch": Case(hc(DnsSearch=["example.com"]), "cat /etc/resolv.conf", prints("example.com")),
    "ExtraHosts": Case(hc(ExtraHosts=["fielddb:192.0.2.7"]), "cat /etc/hosts", prints("192.0.2.7\tfielddb")),
    "GroupAdd": Case(hc(GroupAdd=["4242"]), "id -G", lambda out, c: "4242" in out.split()),
    "IpcMode": Case(hc(IpcMode="host"), "readlink /proc/self/ns/ipc", prints(HOST_IPC)),
    "Cgroup": Case(hc(Cgroup="container:other")),
    "Links": Case(hc(Links=["{peer}:fieldalias"]), "cat /etc/hosts", prints("fieldalias")),
    "OomScoreAdj": Case(hc(OomScoreAdj=123), "cat /proc/self/oom_score_adj", prints("123")),
    "PidMode": Case(hc(PidMode="host"), "cat /proc/1/comm", lambda out, c: out.strip() not in ("sh", "cat")),
    "Privileged": Case(hc(Privileged=True), "grep CapEff /proc/self/status",
                       lambda out, c: int(out.split()[1], 16) & (1 << 21) != 0),
    "PublishAllPorts": Case({"ExposedPorts": {"81/tcp": {}}, **hc(PublishAllPorts=True)}, LIVE,
                            lambda out, c: c["NetworkSettings"]["Ports"]["81/tcp"][0]["HostPort"] != ""),
    "ReadonlyRootfs": Case(hc(ReadonlyRootfs=True), "touch /x 2>&1 || echo ro-root", prints("ro-root")),
    "SecurityOpt": Case(hc(SecurityOpt=["no-new-privileges"]), "grep NoNewPrivs /proc/self/status",
                        prints("NoNewPrivs:\t1")),
    "StorageOpt": Case(hc(StorageOpt={"size": "1G"})),
    "Tmpfs": Case(hc(Tmpfs={"/fieldtmp": "size=1m"}), "grep /fieldtmp /proc/mounts", prints("tmpfs /fieldtmp")),
    "UTSMode": Case(hc(UTSMode="host"), "hostname", prints(HOST_HOSTNAME)),
    "UsernsMode": Case(hc(UsernsMode="host"), "cat /proc/self/uid_map",
                       lambda out, c: out.split()[:3] == ["0", "0", "4294967295"]),  # the host's user ns
    "ShmSize": Case(hc(ShmSize=8 << 20), "grep /dev/shm /proc/mounts", prints("size=8192k")),
    "Sysctls": Case(hc(Sysctls={"kernel.msgmax": "12345"}), "cat /proc/sys/kernel/msgmax", prints("12345")),
    "Runtime": Case(hc(Runtime="dockyard"), check=inspect_hc("Runtime", "dockyard")),
    "Isolation": Case(hc(Isolation="default"), check=inspect_hc("Isolation", "default")),
    "Init": Case(hc(Init=True), "cat /proc/1/comm", prints("docker-init")),  # tini, at Docker's path
    "MaskedPaths": Case(hc(MaskedPaths=["/etc/passwd"]), "wc -c < /etc/passwd", lambda out, c: out.split() == ["0"]),
    "ReadonlyPaths": Case(hc(ReadonlyPaths=["/tmp"]), "touch /tmp/x 2>&1 || echo ro-tmp", prints("ro-tmp")),
}

NETWORKING_CASES: dict[str, Case] = {
    "EndpointsConfig": Case({"NetworkingConfig": {"EndpointsConfig": {"{net}": {"Aliases": ["fieldalias"]}}},
                             **hc(NetworkMode="{net}")},
                            check=lambda out, c: "fieldalias" in c["NetworkSettings"]["Networks"][NET]["Aliases"]),
}


def test_every_documented_field_has_a_case():
    assert set(CONFIG_CASES) == set(ContainerConfig.model_fields)
    assert set(HOST_CASES) == set(HostConfigSpec.model_fields)
    assert set(NETWORKING_CASES) == set(NetworkingConfigSpec.model_fields)


ALL = [(f"Config.{k}", v) for k, v in CONFIG_CASES.items()] + \
      [(f"HostConfig.{k}", v) for k, v in HOST_CASES.items()] + \
      [(f"NetworkingConfig.{k}", v) for k, v in NETWORKING_CASES.items()]


@pytest.fixture(scope="module")
def peers(dockyard_daemon, busybox_image):
    """A running container with a volume (for VolumesFrom and Links) and a user network."""
    d = dockyard_daemon
    status, net = d.request("POST", "/networks/create", {"Name": NET})
    assert status == 201, net
    status, c = d.request("POST", f"/containers/create?name={PEER}", {
        "Image": busybox_image, "Cmd": ["sleep", "300"], "Volumes": {"/shared": {}}})
    assert status == 201, c
    assert d.request("POST", f"/containers/{c['Id']}/start")[0] == 204
    yield
    d.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")
    d.request("DELETE", f"/networks/{NET}")


@pytest.mark.parametrize(("name", "case"), ALL, ids=[n for n, _ in ALL])
def test_field_is_applied_or_refused(dockyard_daemon, busybox_image, peers, name, case):
    d = dockyard_daemon
    body: dict[str, Any] = {"Image": busybox_image, "Cmd": ["sh", "-c", case.cmd], "HostConfig": {}}
    given = json.loads(json.dumps(case.body).replace("{peer}", PEER).replace("{net}", NET))
    for key, value in given.items():
        body[key] = {**body[key], **value} if key == "HostConfig" else value
    if name == "HostConfig.CgroupParent":
        body["HostConfig"]["CgroupParent"] = f"/{d.prefix}-fieldparent"
    field_name = name.split(".", 1)[1]
    status, created = d.request("POST", "/containers/create", body)
    if case.check == REFUSED or not case.when:
        assert status == 400, (name, created)
        assert field_name in created["message"] or field_name.replace("Cpu", "CPU") in created["message"] \
            or field_name in ("Cgroup", "Isolation") \
            or (field_name.startswith("CpuRealtime") and "CPU real-time" in created["message"]), created["message"]
        return
    assert status == 201, (name, created)
    cid = created["Id"]
    if case.check == STORED:
        status, c = d.request("GET", f"/containers/{cid}/json")
        d.request("DELETE", f"/containers/{cid}?force=1")
        assert all(c["HostConfig"][k] == v for k, v in case.body["HostConfig"].items()), c["HostConfig"]
        return
    try:
        assert d.request("POST", f"/containers/{cid}/start")[0] == 204
        if case.cmd == LIVE:
            status, c = d.request("GET", f"/containers/{cid}/json")
            assert case.check("", c), (name, c["NetworkSettings"])
            return
        d.request("POST", f"/containers/{cid}/wait")
        if case.check == "autoremove":  # removed once the exit is handled
            deadline = time.monotonic() + 10
            while d.request("GET", f"/containers/{cid}/json")[0] != 404:
                assert time.monotonic() < deadline, "an AutoRemove container was not removed"
                time.sleep(0.05)
            return
        out = docker(d, "logs", cid).stdout
        status, c = d.request("GET", f"/containers/{cid}/json")
        assert status == 200
        assert case.check(out, c), (name, out, c["HostConfig"] if name.startswith("Host") else c["Config"])
    finally:
        d.request("DELETE", f"/containers/{cid}?force=1&v=1")
        if name == "HostConfig.CgroupParent":
            for base in ("", *os.listdir("/sys/fs/cgroup")):
                path = os.path.join("/sys/fs/cgroup", base) + f"/{d.prefix}-fieldparent"
                if os.path.isdir(path):
                    os.rmdir(path)
