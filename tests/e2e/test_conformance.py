"""Shapes, defaults and error texts that clients read, as Docker 28 (API 1.50) answers them.

The expected values were checked side by side against a real dockerd with
``bench/conformance_diff.py`` and against moby v28.2.2's source where the
installed reference (dockerd 20.10) answers in older words.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.parse

import pytest

from tests.support.daemon import docker
from tests.support import probes

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
ZERO_TIME = "0001-01-01T00:00:00Z"

INSPECT_KEYS = {
    "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath",
    "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile", "ExecIDs",
    "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings",
}
STATE_KEYS = {"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error",
              "StartedAt", "FinishedAt"}
# moby v28 HostConfig fields without omitempty: always present, whoever created the container.
HOST_CONFIG_KEYS = {
    "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
    "VolumeDriver", "VolumesFrom", "ConsoleSize", "CapAdd", "CapDrop", "CgroupnsMode", "Dns", "DnsOptions",
    "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode", "Privileged",
    "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "UTSMode", "UsernsMode", "ShmSize", "Isolation",
    "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota",
    "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules",
    "DeviceRequests", "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit",
    "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", "MaskedPaths", "ReadonlyPaths",
}
CONFIG_KEYS = {"Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin",
               "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels"}
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


class Names:
    """Three containers in three states, unique to this module run."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.created = f"cf{tag}-created"
        self.running = f"cf{tag}-running"
        self.exited = f"cf{tag}-exited"
        self.api = f"cf{tag}-api"


@pytest.fixture(scope="module")
def world(dockyard_daemon, busybox_image):
    d = dockyard_daemon
    n = Names()
    made = [n.created, n.running, n.exited, n.api]
    try:
        docker(d, "create", "--network", "none", "--name", n.created, "busybox", "sleep", "1000", check=True)
        docker(d, "run", "-d", "--network", "none", "--name", n.running, "busybox", "sleep", "1000", check=True)
        docker(d, "run", "--network", "none", "--name", n.exited, "busybox", "true", check=True)
        status, body = d.request("POST", f"/containers/create?name={n.api}",
                                 {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}})
        assert status == 201, body
        assert body["Warnings"] == []
        yield d, n
    finally:
        docker(d, "rm", "-f", *made)


def inspect(d, name: str) -> dict:
    return json.loads(docker(d, "inspect", name, check=True).stdout)[0]


def cgroup_v2() -> bool:
    import os

    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


# -- inspect -------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["created", "running", "exited", "api"])
def test_inspect_keys_are_dockerds(world, which):
    d, n = world
    data = inspect(d, getattr(n, which))
    # dockyard's own additions are named Dockyard* (DockyardStart: where the last start's time went)
    assert {k for k in data if not k.startswith("Dockyard")} == INSPECT_KEYS
    assert ("DockyardStart" in data) == (data["State"]["StartedAt"] != ZERO_TIME)
    assert set(data["State"]) == STATE_KEYS
    assert HOST_CONFIG_KEYS <= set(data["HostConfig"]), HOST_CONFIG_KEYS - set(data["HostConfig"])
    assert CONFIG_KEYS <= set(data["Config"]), CONFIG_KEYS - set(data["Config"])
    assert RFC3339_NANO.match(data["Created"])
    assert RFC3339_NANO.match(data["State"]["StartedAt"]) or data["State"]["StartedAt"] == ZERO_TIME
    assert data["Name"] == "/" + getattr(n, which)
    assert data["Driver"] == "overlay2" and data["Platform"] == "linux"
    assert set(data["GraphDriver"]) == {"Name", "Data"}


def test_inspect_defaults_filled_by_the_daemon(world):
    """What dockerd fills in when an API client (docker-py) sends almost nothing."""
    d, n = world
    data = inspect(d, n.api)
    hc = data["HostConfig"]
    assert hc["IpcMode"] == "private"
    assert hc["CgroupnsMode"] == ("private" if cgroup_v2() else "host")
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["ShmSize"] == 64 * 1024 * 1024
    assert hc["ConsoleSize"] == [0, 0]
    assert hc["MaskedPaths"] == MASKED_PATHS
    assert hc["ReadonlyPaths"] == READONLY_PATHS
    assert hc["PidsLimit"] is None and hc["MemorySwappiness"] is None
    assert hc["OomKillDisable"] is False
    assert hc["Isolation"] == "" and hc["Binds"] is None and hc["AutoRemove"] is False
    assert "Tmpfs" not in hc and "Mounts" not in hc and "KernelMemory" not in hc  # omitempty in moby
    cfg = data["Config"]
    assert cfg["Env"] is None and cfg["Volumes"] is None and cfg["Entrypoint"] is None
    assert cfg["Labels"] == {} and cfg["OnBuild"] is None
    assert cfg["Cmd"] == ["true"] and cfg["Image"] == "busybox"
    assert cfg["AttachStdout"] is False and cfg["Tty"] is False
    assert cfg["Hostname"] == data["Id"][:12]
    assert data["LogPath"] == ""  # set when the container first starts
    state = data["State"]
    assert state["Status"] == "created" and state["StartedAt"] == ZERO_TIME and state["FinishedAt"] == ZERO_TIME
    assert data["NetworkSettings"]["Networks"]["none"]["NetworkID"] == ""


def test_inspect_cli_defaults_and_states(world):
    d, n = world
    running = inspect(d, n.running)
    assert running["State"]["Running"] is True and running["State"]["Pid"] > 0
    assert running["Config"]["AttachStdout"] is False  # -d
    assert running["LogPath"].endswith("-json.log")
    net = running["NetworkSettings"]["Networks"]["none"]
    assert re.fullmatch(r"[0-9a-f]{64}", net["NetworkID"])
    assert net["IPAddress"] == "" and net["Gateway"] == ""
    exited = inspect(d, n.exited)
    assert exited["State"]["Status"] == "exited" and exited["State"]["ExitCode"] == 0
    assert RFC3339_NANO.match(exited["State"]["FinishedAt"])
    assert exited["Config"]["AttachStdout"] is True and exited["Config"]["AttachStderr"] is True
    assert exited["HostConfig"]["LogConfig"]["Type"] == "json-file"


def test_memory_swap_defaults_to_twice_memory(world):
    d, _ = world
    cid = docker(d, "create", "--network", "none", "-m", "64m", "--pids-limit", "-1", "busybox", "true",
                 check=True).stdout.strip()
    try:
        hc = inspect(d, cid)["HostConfig"]
        assert hc["Memory"] == 64 * 1024 * 1024
        assert hc["MemorySwap"] == 128 * 1024 * 1024
        assert hc["PidsLimit"] is None
    finally:
        docker(d, "rm", "-f", cid)


# -- list, ps, info, df ----------------------------------------------------------------------

def test_ps_table_and_json(world):
    d, n = world
    out = docker(d, "ps", check=True).stdout.splitlines()
    assert re.fullmatch(r"CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES", out[0])
    row = next(line for line in out if line.endswith(n.running))
    assert re.match(r'^[0-9a-f]{12}\s+busybox\s+"sleep 1000"\s+\S.* ago\s+Up .+\s+' + n.running + "$", row)
    rows = [json.loads(line) for line in
            docker(d, "ps", "-a", "--format", "{{json .}}", check=True).stdout.splitlines()]
    mine = {r["Names"]: r for r in rows}
    assert set(mine[n.exited]) >= {"Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts",
                                   "Names", "Networks", "Ports", "RunningFor", "Size", "State", "Status"}
    assert mine[n.exited]["Networks"] == "none"
    assert mine[n.exited]["State"] == "exited" and mine[n.exited]["Status"].startswith("Exited (0) ")
    assert mine[n.created]["Status"] == "Created"


def test_ps_size_shows_the_virtual_size(world):
    d, n = world
    out = docker(d, "container", "ls", "--size", "--filter", f"name={n.running}", check=True).stdout
    assert out.splitlines()[0].rstrip().endswith("SIZE")
    assert re.search(r"\d+(\.\d+)?k?B \(virtual \d+(\.\d+)?[kM]B\)$", out.splitlines()[1])


def test_containers_json_summary(world):
    d, n = world
    status, items = d.request("GET", "/containers/json?all=1")
    assert status == 200
    item = next(i for i in items if i["Names"] == [f"/{n.running}"])
    assert set(item) >= {"Id", "Names", "Image", "ImageID", "Command", "Created", "Ports", "Labels", "State",
                         "Status", "HostConfig", "NetworkSettings", "Mounts"}
    assert item["HostConfig"] == {"NetworkMode": "none"}
    assert list(item["NetworkSettings"]["Networks"]) == ["none"]
    assert isinstance(item["Created"], int) and item["State"] == "running"


def test_info_version_and_system_commands_print_cleanly(world):
    d, _ = world
    for args in (["info"], ["system", "info"], ["version"], ["system", "df"], ["system", "df", "-v"]):
        p = docker(d, *args)
        assert p.returncode == 0, (args, p.stderr)
        assert "WARNING" not in p.stderr and "error" not in p.stderr.lower(), (args, p.stderr)
    info = json.loads(docker(d, "info", "--format", "{{json .}}", check=True).stdout)
    assert info["RegistryConfig"]["IndexConfigs"]["docker.io"]["Official"] is True
    assert info["RegistryConfig"]["Mirrors"] == []
    version = json.loads(docker(d, "version", "--format", "{{json .}}", check=True).stdout)
    assert RFC3339_NANO.match(version["Server"]["BuildTime"].replace("+00:00", "Z"))
    df = docker(d, "system", "df", check=True).stdout.splitlines()
    assert re.fullmatch(r"TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE", df[0])
    assert [line.split()[0] for line in df[1:]] == ["Images", "Containers", "Local", "Build"]


def test_system_df_api(world):
    d, n = world
    status, body = d.request("GET", "/system/df")
    assert status == 200
    assert set(body) >= {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    img = next(i for i in body["Images"] if "busybox:latest" in i["RepoTags"])
    assert img["Containers"] >= 4
    assert {c["Names"][0] for c in body["Containers"]} >= {f"/{n.created}", f"/{n.running}"}
    assert all("SizeRw" in c and "SizeRootFs" in c for c in body["Containers"])
    status, body = d.request("GET", "/system/df?type=volume")
    assert status == 200 and set(body) == {"Volumes"}
    status, body = d.request("GET", "/system/df?type=bogus")
    assert status == 400 and body["message"] == "unknown object type: bogus"


def test_events_shape(world):
    d, n = world
    until = int(time.time()) + 1
    status, raw = d.request("GET", f"/events?since=0&until={until}&filters=" +
                            urllib.parse.quote(json.dumps({"container": [n.exited]})), timeout=10)
    assert status == 200
    if isinstance(raw, dict):
        raw = [raw]
    elif isinstance(raw, (bytes, str)):
        raw = [json.loads(line) for line in (raw.decode() if isinstance(raw, bytes) else raw).splitlines()
               if line.strip()]
    actions = [e["Action"] for e in raw]
    assert actions[:1] == ["create"] and "start" in actions and "die" in actions
    die = next(e for e in raw if e["Action"] == "die")
    assert set(die) >= {"Type", "Action", "Actor", "scope", "time", "timeNano", "status", "id", "from"}
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
    assert die["Actor"]["Attributes"]["name"] == n.exited and die["scope"] == "local"


def test_image_events_carry_the_legacy_fields(world):
    d, n = world
    since = time.time() - 1
    tag = f"{n.api}:tagged"
    docker(d, "tag", "busybox", tag, check=True)
    try:
        filters = urllib.parse.quote(json.dumps({"type": ["image"], "event": ["tag"]}))
        status, raw = d.request("GET", f"/events?since={since:.3f}&until={int(time.time()) + 1}&filters={filters}",
                                timeout=10)
        assert status == 200
        # one JSON object per line; another test of the session may have tagged an image in the window
        lines = [raw] if isinstance(raw, dict) else [json.loads(x) for x in raw.decode().splitlines() if x.strip()]
        mine = [e for e in lines if e.get("Actor", {}).get("Attributes", {}).get("name") == tag]
        assert mine, lines
        event = mine[-1]
        assert event["Type"] == "image" and event["Action"] == "tag"
        assert event["status"] == "tag" and event["id"] == event["Actor"]["ID"]
        assert event["Actor"]["Attributes"]["name"] == tag
        assert "from" not in event
    finally:
        docker(d, "rmi", tag)


# -- errors: the CLI -----------------------------------------------------------------------------

CLI_ERRORS = [
    (["inspect", "nosuchcontainer"], 1, "Error: No such object: nosuchcontainer"),
    (["run", "--network", "none", "--pull", "never", "nosuchimage"], 125,
     "docker: Error response from daemon: No such image: nosuchimage:latest\n\n"
     "Run 'docker run --help' for more information"),
    (["create", "--network", "none", "-m", "1m", "busybox", "true"], 1,
     "Error response from daemon: Minimum memory limit allowed is 6MB"),
    (["create", "--network", "none", "--cpus", str(probes.absent_cpu()), "busybox", "true"], 1, None),
    (["create", "--network", "none", "--cpuset-cpus", str(probes.absent_cpu()), "busybox", "true"], 1, None),
    (["create", "--network", "none", "--restart", "bogus", "busybox", "true"], 1,
     "Error response from daemon: invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', "
     "'on-failure', or 'unless-stopped'"),
    (["create", "--network", "none", "--restart", "always:3", "busybox", "true"], 1,
     "Error response from daemon: invalid restart policy: maximum retry count can only be used with "
     "'on-failure'"),
    (["create", "--network", "none", "busybox"], 1, "Error response from daemon: No command specified"),
    (["create", "--network", "none", "-w", "rel", "busybox", "true"], 1,
     "Error response from daemon: the working directory 'rel' is invalid, it needs to be an absolute path"),
    (["create", "--network", "none", "--stop-signal", "FOO", "busybox", "true"], 1,
     "Error response from daemon: Invalid signal: FOO"),
    (["create", "--network", "none", "--log-driver", "foo", "busybox", "true"], 1,
     'Error response from daemon: error looking up logging plugin foo: plugin "foo" not found'),
    (["create", "--network", "none", "--log-opt", "bogus=1", "busybox", "true"], 1,
     "Error response from daemon: unknown log opt 'bogus' for json-file log driver"),
    (["ps", "--filter", "foo=bar"], 1, "Error response from daemon: invalid filter 'foo'"),
    (["ps", "--filter", "status=bogus"], 1,
     "Error response from daemon: invalid filter 'status=bogus': invalid value for state (bogus): must be one "
     "of created, running, paused, restarting, removing, exited, dead"),
]


@pytest.mark.parametrize("args,code,stderr", CLI_ERRORS, ids=[" ".join(a[0:3]) + f"-{i}"
                                                              for i, (a, _, _) in enumerate(CLI_ERRORS)])
def test_cli_error(world, args, code, stderr):
    d, _ = world
    p = docker(d, *args)
    assert p.returncode == code, p.stderr
    if stderr is None:
        assert p.stderr.startswith("Error response from daemon: "), p.stderr
    else:
        assert p.stderr.strip() == stderr


def test_cli_errors_on_container_states(world):
    d, n = world
    cid = {name: inspect(d, name)["Id"] for name in (n.created, n.running, n.exited)}
    cases = [
        (["rm", n.running], f'Error response from daemon: cannot remove container "/{n.running}": container is '
                            "running: stop the container before removing or force remove"),
        (["kill", n.exited], f"Error response from daemon: Cannot kill container: {n.exited}: Container "
                             f"{cid[n.exited]} is not running"),
        (["kill", "-s", "FOO", n.running], "Error response from daemon: Invalid signal: FOO"),
        (["rename", n.exited, n.created],
         f'Error response from daemon: Error when allocating new name: Conflict. The container name '
         f'"/{n.created}" is already in use by container "{cid[n.created]}". You have to remove (or rename) that '
         f"container to be able to reuse that name.\nError: failed to rename container named {n.exited}"),
        (["create", "--network", "none", "--name", n.created, "busybox", "true"],
         f'Error response from daemon: Conflict. The container name "/{n.created}" is already in use by '
         f'container "{cid[n.created]}". You have to remove (or rename) that container to be able to reuse '
         "that name."),
        (["pause", n.exited], f"Error response from daemon: Container {cid[n.exited]} is not running"),
        (["unpause", n.running], f"Error response from daemon: Container {cid[n.running]} is not paused"),
        (["top", n.exited], f"Error response from daemon: Container {cid[n.exited]} is not running"),
    ]
    for args, stderr in cases:
        p = docker(d, *args)
        assert (p.returncode, p.stderr.strip()) == (1, stderr), args
    # Already in the wanted state: dockerd answers 304 and the CLI says nothing.
    for args in (["stop", n.exited], ["start", n.running]):
        p = docker(d, *args)
        assert p.returncode == 0 and p.stderr == "", (args, p.stderr)


# -- errors: the API ----------------------------------------------------------------------------------

def test_api_errors(world):
    d, n = world
    cases = [
        ("GET", "/containers/nosuch/json", None, 404, "No such container: nosuch"),
        ("POST", "/containers/create", {"Image": "nosuchimage"}, 404, "No such image: nosuchimage:latest"),
        ("POST", "/containers/create", {"Image": "busybox"}, 400, "No command specified"),
        ("POST", f"/containers/{n.exited}/wait?condition=bogus", None, 400, 'invalid condition: "bogus"'),
        ("GET", f"/containers/{n.exited}/logs", None, 400, "Bad parameters: you must choose at least one stream"),
        ("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"],
                                        "HostConfig": {"RestartPolicy": {"Name": "on-failure",
                                                                         "MaximumRetryCount": -1}}},
         400, "invalid restart policy: maximum retry count cannot be negative"),
        ("GET", "/v9.99/version", None, 400, "client version 9.99 is too new. Maximum supported API version is 1.50"),
        ("GET", "/v1.0/version", None, 400, "client version 1.0 is too old. Minimum supported API version is "
                                            "1.24, please upgrade your client to a newer version"),
        ("GET", "/nosuchroute", None, 404, "page not found"),
    ]
    for method, path, body, status, message in cases:
        got = d.request(method, path, body)
        assert got == (status, {"message": message}), (method, path, got)
    # Already stopped / already started: 304 with no body.
    assert d.request("POST", f"/containers/{n.exited}/stop") == (304, None)
    assert d.request("POST", f"/containers/{n.running}/start") == (304, None)
    # dockerd answers "not paused" with a plain error, hence 500.
    status, body = d.request("POST", f"/containers/{n.running}/unpause")
    assert status == 500 and body["message"].endswith("is not paused")
