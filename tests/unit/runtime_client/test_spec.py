"""build_spec: Docker run flags (as Engine API Config/HostConfig) → OCI spec fields."""

from __future__ import annotations

import os
from typing import Any

import pytest

from dockyard.errors import InvalidParameter
from dockyard.spec.mounts import ReadOnlyMode, check_bind_options
from dockyard.spec.bundle import (DEFAULT_CAPABILITIES, DEFAULT_PATH, ResolvedUser, SpecInput,
                                   build_spec, capabilities, process_args)

ALL = DEFAULT_CAPABILITIES + ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME"]


def spec(config: dict[str, Any] | None = None, host: dict[str, Any] | None = None,
         image: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    cfg = {"Cmd": ["sh"], **(config or {})}
    kw.setdefault("all_capabilities", ALL)
    kw.setdefault("ncpu", 2)
    kw.setdefault("path_exists", lambda p: p.startswith("/exists"))
    kw.setdefault("makedirs", lambda p: None)
    return build_spec(SpecInput("c1", cfg, host or {}, image or {}, "/rootfs", **kw))


def mount(s: dict[str, Any], dest: str) -> dict[str, Any]:
    found = [m for m in s["mounts"] if m["destination"] == dest]
    assert len(found) == 1, (dest, s["mounts"])
    return found[0]


@pytest.mark.parametrize("config,image,want", [
    ({"Cmd": ["echo", "hi"]}, {}, ["echo", "hi"]),
    ({"Cmd": None}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/ep", "a"]),
    ({"Cmd": ["b"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/ep", "b"]),
    # --entrypoint overrides the image entrypoint and resets the image Cmd
    ({"Entrypoint": ["/x"], "Cmd": None}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/x"]),
    ({"Entrypoint": ["/x"], "Cmd": ["y"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/x", "y"]),
    # --entrypoint "" clears the image entrypoint, the image Cmd stays
    ({"Entrypoint": [""], "Cmd": None}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["a"]),
    ({"Entrypoint": "/s", "Cmd": "x"}, {}, ["/s", "x"]),
])
def test_entrypoint_cmd(config: dict[str, Any], image: dict[str, Any], want: list[str]) -> None:
    assert process_args(config, image) == want


def test_no_command() -> None:
    with pytest.raises(InvalidParameter, match="No command specified"):
        process_args({"Cmd": None}, {})


def test_init_wraps_args_and_mounts_tini() -> None:
    s = spec({"Cmd": ["sleep", "1"]}, {"Init": True}, init_path="/usr/bin/tini-static")
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1"]
    m = mount(s, "/sbin/docker-init")
    assert m["source"] == "/usr/bin/tini-static" and "ro" in m["options"]
    with pytest.raises(InvalidParameter, match="init"):
        spec({}, {"Init": True}, init_path=None)


def test_env_order_and_defaults() -> None:
    s = spec({"Env": ["A=2", "B=3"], "Tty": True}, {}, {"Env": ["A=1", "PATH=/img"]},
             hostname="box", user=ResolvedUser(1000, 1000, [], "/home/app"))
    env = s["process"]["env"]
    assert env[0] == "PATH=/img"
    assert "HOSTNAME=box" in env and "TERM=xterm" in env
    assert "A=2" in env and "A=1" not in env and "B=3" in env
    assert "HOME=/home/app" in env
    s = spec({"Env": ["HOME=/x"]})
    assert s["process"]["env"][0] == f"PATH={DEFAULT_PATH}"
    assert "HOME=/x" in s["process"]["env"] and "HOME=/" not in s["process"]["env"]
    assert not any(e.startswith("TERM=") for e in s["process"]["env"])


def test_cwd_user_terminal() -> None:
    s = spec({"WorkingDir": "/srv", "Tty": True}, {"ConsoleSize": [30, 100]},
             user=ResolvedUser(5, 6, [7, 8], "/"))
    p = s["process"]
    assert p["cwd"] == "/srv" and p["terminal"] is True
    assert p["user"] == {"uid": 5, "gid": 6, "additionalGids": [7, 8]}
    assert p["consoleSize"] == {"height": 30, "width": 100}
    assert spec({}, {}, {"WorkingDir": "/img"})["process"]["cwd"] == "/img"
    assert spec()["process"]["cwd"] == "/"
    with pytest.raises(InvalidParameter, match="absolute path"):
        spec({"WorkingDir": "rel"})


def test_hostname_and_uts_host() -> None:
    assert spec(hostname="h1")["hostname"] == "h1"
    s = spec({}, {"UTSMode": "host"}, hostname="h1")
    assert "hostname" not in s
    assert {"type": "uts"} not in s["linux"]["namespaces"]


@pytest.mark.parametrize("host,field,want", [
    ({"Memory": 64 << 20}, ("memory", "limit"), 64 << 20),
    ({"Memory": 64 << 20}, ("memory", "swap"), 128 << 20),  # swap defaults to 2x memory
    ({"Memory": 64 << 20, "MemorySwap": -1}, ("memory", "swap"), -1),
    ({"Memory": 64 << 20, "MemorySwap": 100 << 20}, ("memory", "swap"), 100 << 20),
    ({"MemoryReservation": 32 << 20}, ("memory", "reservation"), 32 << 20),
    ({"NanoCpus": 1_500_000_000}, ("cpu", "quota"), 150000),
    ({"NanoCpus": 1_500_000_000}, ("cpu", "period"), 100000),
    ({"CpuShares": 512}, ("cpu", "shares"), 512),
    ({"CpuQuota": 50000, "CpuPeriod": 100000}, ("cpu", "quota"), 50000),
    ({"CpusetCpus": "0-1"}, ("cpu", "cpus"), "0-1"),
    ({"CpusetMems": "0"}, ("cpu", "mems"), "0"),
    ({"PidsLimit": 100}, ("pids", "limit"), 100),
    ({"BlkioWeight": 300}, ("blockIO", "weight"), 300),
])
def test_resources(host: dict[str, Any], field: tuple[str, str], want: Any) -> None:
    res = spec({}, host)["linux"]["resources"]
    assert res[field[0]][field[1]] == want


def test_unlimited_pids_and_no_resources_by_default() -> None:
    for v in (0, -1, None):
        assert "pids" not in spec({}, {"PidsLimit": v})["linux"]["resources"]
    res = spec()["linux"]["resources"]
    assert set(res) == {"devices"}
    assert res["devices"][0] == {"allow": False, "access": "rwm"}


def test_swap_not_accounted() -> None:
    res = spec({}, {"Memory": 64 << 20}, swap_limit=False)["linux"]["resources"]
    assert "swap" not in res["memory"]


def test_update_memory_above_swap() -> None:
    from dockyard.spec.resources import validate_update
    with pytest.raises(InvalidParameter, match="Memory limit should be smaller than already set "
                                               "memoryswap limit, update the memoryswap at the same time"):
        validate_update({"Memory": 64 << 20, "MemorySwap": 128 << 20}, {"Memory": 256 << 20})
    merged = validate_update({"Memory": 64 << 20, "MemorySwap": 128 << 20},
                             {"Memory": 256 << 20, "MemorySwap": 512 << 20})
    assert merged["Memory"] == 256 << 20


def test_ulimits() -> None:
    s = spec({}, {"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}]},
             default_ulimits=[{"Name": "nofile", "Soft": 1, "Hard": 2}, {"Name": "nproc", "Soft": 5, "Hard": 6}])
    rl = {r["type"]: (r["soft"], r["hard"]) for r in s["process"]["rlimits"]}
    assert rl == {"RLIMIT_NOFILE": (100, 200), "RLIMIT_NPROC": (5, 6)}
    assert "rlimits" not in spec()["process"]  # Docker sets none by default
    with pytest.raises(InvalidParameter, match="soft limit"):
        spec({}, {"Ulimits": [{"Name": "nofile", "Soft": 3, "Hard": 2}]})
    with pytest.raises(InvalidParameter, match="invalid ulimit type: bogus"):
        spec({}, {"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 2}]})


def test_capabilities() -> None:
    assert capabilities(DEFAULT_CAPABILITIES, None, None, ALL) == DEFAULT_CAPABILITIES
    assert len(DEFAULT_CAPABILITIES) == 14
    caps = capabilities(DEFAULT_CAPABILITIES, ["sys_admin"], ["CAP_CHOWN"], ALL)
    assert "CAP_SYS_ADMIN" in caps and "CAP_CHOWN" not in caps
    assert capabilities(DEFAULT_CAPABILITIES, ["NET_ADMIN"], ["ALL"], ALL) == ["CAP_NET_ADMIN"]
    assert sorted(capabilities(DEFAULT_CAPABILITIES, ["ALL"], ["KILL"], ALL)) == sorted(
        c for c in ALL if c != "CAP_KILL")
    with pytest.raises(InvalidParameter, match='unknown capability: "CAP_BOGUS"'):
        capabilities(DEFAULT_CAPABILITIES, ["bogus"], None, ALL)
    s = spec({}, {"CapAdd": ["SYS_PTRACE"]})
    assert "CAP_SYS_PTRACE" in s["process"]["capabilities"]["bounding"]
    assert "inheritable" not in s["process"]["capabilities"]


def test_privileged() -> None:
    held = [c for c in ALL if c != "CAP_SYS_RESOURCE"]  # a sandbox that lacks one
    host_dev = {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o644, "uid": 0, "gid": 0}
    s = spec({}, {"Privileged": True}, seccomp_profile={"defaultAction": "SCMP_ACT_ERRNO"},
             held_capabilities=held, host_devices=lambda: [host_dev])
    assert s["process"]["capabilities"]["bounding"] == held  # what the host holds, not all the kernel knows
    assert s["linux"]["devices"] == [host_dev]
    assert "seccomp" not in s["linux"] and "maskedPaths" not in s["linux"]
    assert "ro" not in mount(s, "/sys")["options"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_security_opts() -> None:
    prof = lambda caps: {"defaultAction": "SCMP_ACT_ERRNO", "n": len(caps)}  # noqa: E731
    s = spec({}, {}, seccomp_profile=prof)
    assert s["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_ERRNO", "n": 14}
    s = spec({}, {"SecurityOpt": ["seccomp=unconfined", "no-new-privileges"]}, seccomp_profile=prof)
    assert "seccomp" not in s["linux"] and s["process"]["noNewPrivileges"] is True
    assert spec({}, {"SecurityOpt": ["no-new-privileges:true"]})["process"]["noNewPrivileges"]
    assert spec()["process"]["noNewPrivileges"] is False
    custom = ('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"},'
              '{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_PTRACE"]}}]}')
    s = spec({}, {"SecurityOpt": ["seccomp=" + custom]}, seccomp_profile=prof)
    assert s["linux"]["seccomp"]["syscalls"] == [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]


def test_default_mounts_and_paths() -> None:
    s = spec()
    assert mount(s, "/proc")["type"] == "proc"
    assert set(mount(s, "/dev/pts")["options"]) >= {"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}
    assert "ro" in mount(s, "/sys")["options"] and "ro" in mount(s, "/sys/fs/cgroup")["options"]
    assert mount(s, "/dev/mqueue")["type"] == "mqueue"
    assert "size=67108864" in mount(s, "/dev/shm")["options"]
    assert "size=1048576" in mount(spec({}, {"ShmSize": 1 << 20}), "/dev/shm")["options"]
    assert "/proc/kcore" in s["linux"]["maskedPaths"] and "/proc/sys" in s["linux"]["readonlyPaths"]
    assert s["root"] == {"path": "/rootfs", "readonly": False}
    assert spec({}, {"ReadonlyRootfs": True})["root"]["readonly"] is True


def test_binds_mounts_tmpfs() -> None:
    made: list[str] = []
    s = spec({}, {"Binds": ["/exists/a:/a:ro", "/new/b:/b"],
                  "Mounts": [{"Type": "bind", "Source": "/exists/c", "Target": "/c/d"},
                             {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20,
                                                                                "Mode": 0o1777}}],
                  "Tmpfs": {"/run": "rw,size=64m", "/x": "exec"}},
             makedirs=made.append)
    a = mount(s, "/a")
    assert a["source"] == "/exists/a" and a["type"] == "bind" and "ro" in a["options"]
    assert "rbind" in a["options"]
    assert "ro" not in mount(s, "/b")["options"] and made == ["/new/b"]  # -v creates, like Docker
    assert mount(s, "/c/d")["source"] == "/exists/c"
    t = mount(s, "/t")
    assert t["type"] == "tmpfs" and "size=1024k" in t["options"] and "mode=1777" in t["options"]
    run = mount(s, "/run")
    assert run["type"] == "tmpfs" and "size=64m" in run["options"] and "noexec" in run["options"]
    assert "noexec" not in mount(s, "/x")["options"]
    dests = [m["destination"] for m in s["mounts"]]
    assert dests.index("/a") < dests.index("/c/d")


@pytest.mark.parametrize("host,message", [
    ({"Mounts": [{"Type": "bind", "Source": "/nope", "Target": "/x"}]},
     'invalid mount config for type "bind": bind source path does not exist: /nope'),
    ({"Binds": ["/exists/a:/a", "/exists/b:/a"]}, "Duplicate mount point: /a"),
    ({"Binds": ["myvol:/data"]}, "volume myvol on /data has no host directory"),
    ({"Mounts": [{"Type": "volume", "Target": "/x"}]}, r"volume \(anonymous\) on /x has no host directory"),
    ({"Binds": ["/exists/a:rel"]}, "must be absolute"),
    ({"Binds": ["/exists/a:/a:bogus"]}, "invalid mode: bogus"),
])
def test_mount_errors(host: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        spec({}, host)


def test_user_mount_replaces_default_and_etc_files() -> None:
    s = spec({}, {"Tmpfs": {"/dev/shm": "size=1m"}},
             etc_files={"/etc/hosts": "/h/hosts", "/etc/resolv.conf": "/h/resolv"})
    assert "size=1m" in mount(s, "/dev/shm")["options"]
    assert mount(s, "/etc/hosts")["source"] == "/h/hosts"
    assert "ro" in mount(spec({}, {"ReadonlyRootfs": True}, etc_files={"/etc/hosts": "/h"}),
                         "/etc/hosts")["options"]


def test_namespaces() -> None:
    kinds = lambda s: {n["type"] for n in s["linux"]["namespaces"]}  # noqa: E731
    assert kinds(spec()) == {"mount", "network", "pid", "ipc", "uts"}
    assert kinds(spec(cgroup_v2=True)) == {"mount", "network", "pid", "ipc", "uts", "cgroup"}
    assert "network" not in kinds(spec({}, {"NetworkMode": "host"}))
    assert "pid" not in kinds(spec({}, {"PidMode": "host"}))
    assert "ipc" not in kinds(spec({}, {"IpcMode": "host"}))
    s = spec({}, {"PidMode": "container:abc"}, namespace_paths={"pid": "/proc/9/ns/pid"})
    assert {"type": "pid", "path": "/proc/9/ns/pid"} in s["linux"]["namespaces"]
    with pytest.raises(InvalidParameter, match="abc"):
        spec({}, {"NetworkMode": "container:abc"})


def test_misc_linux_fields() -> None:
    s = spec({}, {"Sysctls": {"net.ipv4.ip_forward": "1"}, "OomScoreAdj": 100},
             cgroups_path="/dockyard/c1", annotations={"a": "b"})
    assert s["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}
    assert s["process"]["oomScoreAdj"] == 100
    assert s["linux"]["cgroupsPath"] == "/dockyard/c1"
    assert s["annotations"] == {"a": "b"}


def test_devices() -> None:
    s = spec({}, {"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
                               "CgroupPermissions": "rw"}],
                  "DeviceCgroupRules": ["c 42:* rmw"]})
    node = s["linux"]["devices"][0]
    assert node["path"] == "/dev/mynull" and (node["type"], node["major"], node["minor"]) == ("c", 1, 3)
    rules = s["linux"]["resources"]["devices"]
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in rules
    assert {"allow": True, "type": "c", "major": 42, "access": "rmw"} in rules
    with pytest.raises(InvalidParameter, match='adding custom device "/dev/nope"'):
        spec({}, {"Devices": [{"PathOnHost": "/dev/nope"}]})
    assert os.path.exists("/dev/null")


def test_stop_signal_and_default_hostname() -> None:
    from dockyard.spec.bundle import stop_signal
    assert stop_signal({}, {}) == "SIGTERM"
    assert stop_signal({}, {"StopSignal": "SIGQUIT"}) == "SIGQUIT"
    assert stop_signal({"StopSignal": "usr1"}, {"StopSignal": "SIGQUIT"}) == "SIGUSR1"
    assert stop_signal({"StopSignal": "9"}, {}) == "9"
    s = build_spec(SpecInput("0123456789abcdef", {"Cmd": ["sh"]}, {}, {}, "/r", all_capabilities=ALL))
    assert s["hostname"] == "0123456789ab" and "HOSTNAME=0123456789ab" in s["process"]["env"]
    s = build_spec(SpecInput("0123456789abcdef", {"Cmd": ["sh"], "Hostname": "web"}, {}, {}, "/r",
                             all_capabilities=ALL))
    assert s["hostname"] == "web"


def test_non_root_user_keeps_only_the_bounding_set() -> None:
    c = spec(user=ResolvedUser(1000, 1000, [], "/"))["process"]["capabilities"]
    assert c["bounding"] == DEFAULT_CAPABILITIES and c["effective"] == [] and c["permitted"] == []
    c = spec()["process"]["capabilities"]
    assert c["effective"] == c["permitted"] == DEFAULT_CAPABILITIES


def _ro(opts: list[str]) -> str:
    found = [o for o in opts if o in ("ro", "rro")]
    assert len(found) == 1, opts
    return found[0]


@pytest.mark.parametrize("rro,legacy,bind_opts,want", [
    (True, False, {}, "rro"),                                      # API >= 1.44: recursive
    (False, False, {}, "ro"),                                      # no mount_setattr: best effort
    (True, True, {}, "ro"),                                        # API < 1.44: top only
    (True, False, {"ReadOnlyNonRecursive": True}, "ro"),           # bind-recursive=writable
    (True, False, {"ReadOnlyForceRecursive": True, "Propagation": "rprivate"}, "rro"),        # bind-recursive=readonly
    (True, False, {"NonRecursive": True}, "ro"),                   # bind-recursive=disabled
])
def test_read_only_binds_recursive_as_moby(rro: bool, legacy: bool, bind_opts: dict[str, Any], want: str) -> None:
    mode = ReadOnlyMode(rro_supported=rro, default_non_recursive=legacy)
    s = spec({}, {"Binds": ["/exists/a:/a:ro", "/exists/w:/w"],
                  "Mounts": [{"Type": "bind", "Source": "/exists/c", "Target": "/c", "ReadOnly": True,
                              "BindOptions": bind_opts}]}, readonly_mode=mode)
    assert _ro(mount(s, "/c")["options"]) == want
    if not bind_opts:
        assert _ro(mount(s, "/a")["options"]) == want
    assert not {"ro", "rro"} & set(mount(s, "/w")["options"])
    assert ("bind" in mount(s, "/c")["options"]) == bool(bind_opts.get("NonRecursive"))


@pytest.mark.parametrize("bind_opts,readonly,message", [
    ({"ReadOnlyForceRecursive": True}, False, "option 'ReadOnlyForceRecursive' requires 'ReadOnly' to be set"),
    ({"ReadOnlyNonRecursive": True}, False, "option 'ReadOnlyNonRecursive' requires 'ReadOnly' to be set"),
    ({"ReadOnlyForceRecursive": True, "NonRecursive": True}, True, "cannot be used with 'NonRecursive'"),
    ({"ReadOnlyForceRecursive": True, "Propagation": "rshared"}, True, "to be 'rprivate'"),
    ({"ReadOnlyForceRecursive": True}, True, "to be 'rprivate'"),
])
def test_contradictory_bind_recursion_is_refused(bind_opts: dict[str, Any], readonly: bool, message: str) -> None:
    host = {"Mounts": [{"Type": "bind", "Source": "/exists/c", "Target": "/c", "ReadOnly": readonly,
                        "BindOptions": bind_opts}]}
    with pytest.raises(InvalidParameter, match=message):
        check_bind_options(host)


def test_force_recursive_without_mount_setattr_is_an_error_not_a_plain_ro() -> None:
    with pytest.raises(InvalidParameter, match="bind-recursive=readonly"):
        spec({}, {"Mounts": [{"Type": "bind", "Source": "/exists/c", "Target": "/c", "ReadOnly": True,
                              "BindOptions": {"ReadOnlyForceRecursive": True, "Propagation": "rprivate"}}]},
             readonly_mode=ReadOnlyMode(rro_supported=False))
