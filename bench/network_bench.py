#!/usr/bin/env python3
"""Network benchmark: what bridge networking costs, dockyard against dockerd in one invocation.

Prints, for each figure, the median and the spread (min–max) of each engine over
interleaved repetitions (A B, then B A, ...), and the ratio of the medians:

- the time bridge networking adds to ``docker run --rm IMG true`` (default bridge
  minus ``--network none`` and minus ``--network host``), per engine;
- TCP throughput container → container on a user-defined network, twice:
  into busybox ``nc -l > /dev/null`` in the sink container (what a busybox
  program sees: nc reads 1 KiB per poll+read+write, so this one is bound by
  syscalls in the container, not by the network), and into a receiver with
  256 KiB reads in the sink's network namespace (the network path alone, with
  the CPU that both ends spent per 100 MB, which load moves far less than MB/s);
  the sender is always this Python in the other container's network namespace;
- TCP round-trip latency container → container (1-byte request/response, an
  echo server in the sink's namespace, TCP_NODELAY);
- TCP throughput host 127.0.0.1 → published port, into nc and into the
  namespace receiver, against dockerd with its userland proxy (its default),
  then once more against a dockerd restarted with ``--userland-proxy=false``.

dockerd is Debian's docker.io with a bridge of its own (``dybench0``, made
here) and iptables on; the DOCKER* chains it leaves are removed afterwards if
they were not there before.  Run as root; the load average is printed with each
section (other work on a 2-core machine moves MB/s by ±30 %, hence the medians).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engine_bench import Dockerd, cli, timed  # noqa: E402
from tests.support.daemon import Daemon, new_daemon  # noqa: E402

BRIDGE = "dybench0"
BRIDGE_CIDR = "10.251.0.1/24"
NC_PORT, RECV_PORT, ECHO_PORT = 5001, 5002, 5003
Env = dict[str, str]


def docker_chains() -> set[str]:
    out = set()
    for table in ("filter", "nat"):
        text = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
        out |= {f"{table}:{line.split()[1]}" for line in text.splitlines()
                if line.startswith("-N DOCKER")}
    return out


def remove_docker_chains(chains: set[str]) -> None:
    """Undo what dockerd's iptables setup left: jumps to its chains, then the chains."""
    for table in ("filter", "nat"):
        names = {c.split(":", 1)[1] for c in chains if c.startswith(table + ":")}
        if not names:
            continue
        text = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["-A"] and words[1] not in names and any(n in words for n in names):
                subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True)
        for n in names:
            subprocess.run(["iptables", "-t", table, "-F", n], capture_output=True)
        for n in names:
            subprocess.run(["iptables", "-t", table, "-X", n], capture_output=True)


def bridge_of(env: Env, network: str) -> str:
    """The host interface that holds ``network``'s gateway address."""
    gw = out(env, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network)
    text = subprocess.run(["ip", "-o", "-4", "addr", "show", "to", gw], capture_output=True, text=True).stdout
    return text.split()[1]


def equalize(bridge: str, add: bool) -> None:
    """With br_netfilter (loaded here), the packets of both engines' bridges pass both engines'
    forward rules. dockerd's own traffic leaves its FORWARD chain at the third rule, ours would
    run through all of them (its isolation chains included) to the policy: a cost only this
    side-by-side run has. One rule in DOCKER-USER, the chain dockerd keeps for the user's rules,
    lets ours out as early; dockerd's packets pass our table's one forward rule in turn."""
    rule = ["DOCKER-USER", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
    subprocess.run(["iptables", "-I" if add else "-D", *rule], check=add, capture_output=True)


def host_address() -> str:
    """The host's own address on its default route (a route lookup: nothing is sent)."""
    words = subprocess.run(["ip", "-o", "route", "get", "192.0.2.1"], capture_output=True, text=True).stdout.split()
    return words[words.index("src") + 1] if "src" in words else "127.0.0.1"


def out(env: Env, *args: str) -> str:
    return subprocess.run(["docker", *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# -- the programs on each end (run with this Python, in a namespace through nsenter) --------
SENDER = """
import resource, socket, sys, time
mb, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
buf = bytes(1 << 20)
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
for _ in range(mb):
    s.sendall(buf)
s.shutdown(socket.SHUT_WR)
s.recv(1)  # the sink closes when it has read everything
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(mb / (time.perf_counter() - t0), r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
"""

ACCEPT_ONE = """
import resource, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
"""

RECEIVER = ACCEPT_ONE + """
view = memoryview(bytearray(1 << 18))
r0 = resource.getrusage(resource.RUSAGE_SELF)
while c.recv_into(view):
    pass
r1 = resource.getrusage(resource.RUSAGE_SELF)
c.close()
print(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, flush=True)
"""

ECHO = ACCEPT_ONE + """
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while b := c.recv(1):
    c.sendall(b)
"""

PINGER = """
import socket, statistics, sys, time
n, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
for _ in range(n):
    t0 = time.perf_counter()
    s.sendall(b"x")
    s.recv(1)
    rtts.append(time.perf_counter() - t0)
print(statistics.median(rtts) * 1e6)
"""


def in_netns(pid: str | None, *argv: str) -> list[str]:
    return (["nsenter", f"--net=/proc/{pid}/ns/net"] if pid else []) + list(argv)


def listener(pid: str, script: str, port: int) -> subprocess.Popen[str]:
    """``script`` listening on ``port`` in the network namespace of ``pid``, once it listens."""
    proc = subprocess.Popen(in_netns(pid, sys.executable, "-c", script, str(port)),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "listening":
        proc.kill()
        raise RuntimeError("receiver did not start")
    return proc


def send(pid: str | None, mb: int, host: str, port: int) -> tuple[float, float]:
    """(MB/s, CPU seconds of the sender) from the netns of ``pid`` (the host's if None)."""
    words = subprocess.run(in_netns(pid, sys.executable, "-c", SENDER, str(mb), host, str(port)),
                           check=True, capture_output=True, text=True).stdout.split()
    return float(words[0]), float(words[1])


def nc_listen(env: Env, name: str, port: int) -> None:
    """busybox nc in container ``name`` (stdin never ends: nc closes only when the sender does)."""
    cli(env, "exec", "-d", name, "sh", "-c", f"sleep 600 | nc -l -p {port} > /dev/null")
    for _ in range(100):
        if f":{port} " in out(env, "exec", name, "netstat", "-tln"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} does not listen on {port}")


class Engine:
    """One engine's containers for the data-path figures, made once, measured many times."""

    def __init__(self, name: str, env: Env) -> None:
        self.name, self.env = name, env
        self.port_nc, self.port_recv = free_port(), free_port()

    def setup(self, c2c: bool = True) -> None:
        if c2c:
            for c in ("sink", "sender"):
                cli(self.env, "run", "-d", "--name", c, "--network", "benchnet", "bench", "sleep", "100000")
            self.sink_pid = out(self.env, "inspect", "-f", "{{.State.Pid}}", "sink")
            self.sender_pid = out(self.env, "inspect", "-f", "{{.State.Pid}}", "sender")
            self.sink_ip = out(self.env, "inspect", "-f",
                               "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "sink")
        cli(self.env, "run", "-d", "--name", "psink", "-p", f"{self.port_nc}:{NC_PORT}",
            "-p", f"{self.port_recv}:{RECV_PORT}", "bench", "sleep", "100000")
        self.psink_pid = out(self.env, "inspect", "-f", "{{.State.Pid}}", "psink")

    def c2c_nc(self, mb: int) -> float:
        nc_listen(self.env, "sink", NC_PORT)
        return send(self.sender_pid, mb, self.sink_ip, NC_PORT)[0]

    def c2c_netns(self, mb: int) -> tuple[float, float]:
        """(MB/s, CPU ms per 100 MB of sender + receiver)."""
        recv = listener(self.sink_pid, RECEIVER, RECV_PORT)
        try:
            rate, cpu = send(self.sender_pid, mb, self.sink_ip, RECV_PORT)
            assert recv.stdout is not None
            cpu += float(recv.stdout.readline())
        finally:
            recv.kill()
            recv.wait()
        return rate, cpu * 1000 * 100 / mb

    def rtt(self, n: int) -> float:
        """Median µs of ``n`` 1-byte TCP round trips."""
        echo = listener(self.sink_pid, ECHO, ECHO_PORT)
        try:
            return float(subprocess.run(
                in_netns(self.sender_pid, sys.executable, "-c", PINGER, str(n), self.sink_ip, str(ECHO_PORT)),
                check=True, capture_output=True, text=True).stdout)
        finally:
            echo.kill()
            echo.wait()

    def h2p_nc(self, mb: int) -> float:
        nc_listen(self.env, "psink", NC_PORT)
        return self._h2p(mb, self.port_nc)

    def h2p_netns(self, mb: int, host: str = "127.0.0.1") -> float:
        recv = listener(self.psink_pid, RECEIVER, RECV_PORT)
        try:
            return self._h2p(mb, self.port_recv, host)
        finally:
            recv.kill()
            recv.wait()

    def _h2p(self, mb: int, port: int, host: str = "127.0.0.1") -> float:
        deadline = time.monotonic() + 10
        while True:  # the port's rules (or dockerd's proxy) may lag the container's start
            try:
                return send(None, mb, host, port)[0]
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def teardown(self) -> None:
        """The containers and the user network (a stopped dockerd leaves its networks' bridges behind)."""
        subprocess.run(["docker", "rm", "-f", "sink", "sender", "psink"], env=self.env, capture_output=True)
        subprocess.run(["docker", "network", "rm", "benchnet"], env=self.env, capture_output=True)


class Table:
    """Samples per (figure, engine), measured A B / B A, printed as medians, spreads and ratios."""

    def __init__(self) -> None:
        self.samples: dict[tuple[str, str], list[float]] = {}

    def measure(self, engines: list[Engine], reps: int, figures: dict[str, Callable[[Engine], float]],
                only: str = "") -> None:
        figures = {k: v for k, v in figures.items() if only in k}
        for rep in range(reps):
            order = engines if rep % 2 == 0 else engines[::-1]
            for title, fn in figures.items():
                for e in order:
                    self.samples.setdefault((title, e.name), []).append(fn(e))

    def add(self, title: str, engine: str, value: float) -> None:
        self.samples.setdefault((title, engine), []).append(value)

    def report(self, title: str, unit: str, ref: str = "dockerd", higher_is_better: bool = True) -> None:
        if (title, "dockyard") not in self.samples:
            return  # not measured (--only)
        ours = self.samples[title, "dockyard"]
        line = f"{title:<46} dockyard {fmt(ours)} {unit}"
        theirs = self.samples.get((title, ref))
        if theirs:
            ratio = statistics.median(ours) / statistics.median(theirs)
            better = ratio if higher_is_better else 1 / ratio
            line += f"   {ref} {fmt(theirs)} {unit}   ratio {ratio:5.2f}{'' if higher_is_better else f' ({better:.2f}x faster)'}"
        print(line, flush=True)


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ({min(values):.0f}–{max(values):.0f})"


def start_times(t: Table, engines: list[Engine], runs: int) -> None:
    """``docker run --rm IMG true`` per network mode, interleaved, and what the bridge adds."""
    for _ in range(runs):
        for e in engines:
            for mode in ("none", "host", "bridge"):
                t.add(f"docker run --rm, --network {mode} (ms)", e.name,
                      1000 * timed(lambda: cli(e.env, "run", "--rm", "--network", mode, "bench", "true")))
    print(f"# docker run --rm IMG true: {runs} runs each, interleaved; median (min–max)")
    for mode in ("none", "host", "bridge"):
        t.report(f"docker run --rm, --network {mode} (ms)", "ms", higher_is_better=False)
    for e in engines:
        run = {m: t.samples[f"docker run --rm, --network {m} (ms)", e.name] for m in ("none", "host", "bridge")}
        added = {base: statistics.median(run["bridge"]) - statistics.median(run[base]) for base in ("none", "host")}
        print(f"added by bridge networking, {e.name:<8}  vs none {added['none']:6.1f} ms   vs host {added['host']:6.1f} ms")


def start_ref(args: list[str], tar: str) -> tuple[Dockerd, Env]:
    ref = Dockerd(["--bridge", BRIDGE, "--iptables=true", "--ip-forward=false", "--ip6tables=false", *args])
    ref.start()
    env = ref.env()
    cli(env, "import", tar, "bench:latest")
    return ref, env


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10, help="docker run --rm timings per mode and engine")
    ap.add_argument("--reps", type=int, default=7, help="interleaved repetitions of each data-path figure")
    ap.add_argument("--mb", type=int, default=500, help="megabytes per run into busybox nc")
    ap.add_argument("--netns-mb", type=int, default=2000, help="megabytes per run into the netns receiver")
    ap.add_argument("--rtts", type=int, default=2000, help="round trips per latency run")
    ap.add_argument("--only", default="", help="run only the data-path figures whose title has this text")
    ap.add_argument("--unequal", action="store_true",
                    help="leave our bridge's packets running through all of dockerd's FORWARD rules")
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()

    tar = os.path.join(tempfile.mkdtemp(prefix="dybench-"), "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)
    ours: Daemon = new_daemon(extra_args=["--log-level", "warn"])
    ref: Dockerd | None = None
    engines: list[Engine] = []
    chains_before = docker_chains()
    our_bridge = ""
    if not args.no_docker:
        subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
    try:
        ours.start()
        cli(ours.env(), "import", tar, "bench:latest")
        engines.append(Engine("dockyard", ours.env()))
        if not args.no_docker:
            ref, ref_env = start_ref([], tar)
            engines.append(Engine("dockerd", ref_env))
        print(f"# load average {load()} at start", flush=True)
        t = Table()
        for e in engines:
            cli(e.env, "network", "create", "benchnet")
            cli(e.env, "run", "--rm", "bench", "true")  # warm up both paths
            cli(e.env, "run", "--rm", "--network", "none", "bench", "true")
        our_bridge = bridge_of(engines[0].env, "benchnet")
        if ref is not None and not args.unequal:
            equalize(our_bridge, True)
        if not args.only:
            start_times(t, engines, args.runs)

        for e in engines:
            e.setup()
        addr = host_address()
        print(f"# data path: {args.reps} repetitions, interleaved A B / B A; median (min–max); host address {addr}; "
              f"load average {load()}",
              flush=True)
        cpu: dict[str, list[float]] = {}

        def c2c_netns(e: Engine) -> float:
            rate, ms = e.c2c_netns(args.netns_mb)
            cpu.setdefault(e.name, []).append(ms)
            return rate

        published: dict[str, Callable[[Engine], float]] = {
            "TCP host 127.0.0.1 -> published port, nc": lambda e: e.h2p_nc(args.mb),
            "TCP host 127.0.0.1 -> published port, netns": lambda e: e.h2p_netns(args.netns_mb),
            "TCP host's address -> published port, netns": lambda e: e.h2p_netns(args.netns_mb, addr),
        }
        t.measure(engines, args.reps, {
            "TCP c2c, into busybox nc in the container": lambda e: e.c2c_nc(args.mb),
            "TCP c2c, netns to netns (network path)": c2c_netns,
            "TCP c2c round trip, 1 byte": lambda e: e.rtt(args.rtts),
            **published,
        }, args.only)
        for name, ms in cpu.items():
            t.samples["CPU of both ends per 100 MB, c2c netns", name] = ms
        t.report("TCP c2c, into busybox nc in the container", "MB/s")
        t.report("TCP c2c, netns to netns (network path)", "MB/s")
        t.report("CPU of both ends per 100 MB, c2c netns", "ms", higher_is_better=False)
        t.report("TCP c2c round trip, 1 byte", "µs", higher_is_better=False)
        for title in published:
            t.report(title, "MB/s")
        print(f"# load average {load()}", flush=True)

        if ref is not None and any(args.only in k for k in published):  # the same, dockerd without its proxy
            engines[1].teardown()
            ref.stop()
            ref = None
            ref, ref_env = start_ref(["--userland-proxy=false"], tar)
            engines[1] = Engine("dockerd-noproxy", ref_env)
            engines[1].setup(c2c=False)
            print(f"# dockerd --userland-proxy=false: {args.reps} repetitions; load average {load()}", flush=True)
            t2 = Table()
            t2.measure(engines, args.reps, published, args.only)
            for title in published:
                t2.report(title, "MB/s", ref="dockerd-noproxy")
            print(f"# load average {load()} at end", flush=True)
    finally:
        for e in engines:
            e.teardown()
        if ref is not None:
            if our_bridge and not args.unequal:
                equalize(our_bridge, False)
            ref.stop()
        ours.cleanup()
        if not args.no_docker:
            subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
            remove_docker_chains(docker_chains() - chains_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
