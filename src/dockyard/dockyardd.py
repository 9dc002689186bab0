"""dockyardd: the daemon's entry point and composition root.

Reads dockerd's flags and daemon.json, builds the services, starts the API
server on its sockets.  It sits above ``api/`` and ``daemon/``, so no import
runs back up the layers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any

from dockyard import errors
from dockyard.daemon import config as configmod
from dockyard.daemon.hostparts import HostParts

log = logging.getLogger("dockyard")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyardd", description="A Docker-compatible container engine.")
    p.add_argument("-H", "--host", action="append", dest="hosts", default=[],
                   help="daemon socket(s) to listen on (unix:///path, tcp://ADDR:PORT)")
    p.add_argument("-G", "--group", help="group of the unix sockets (default docker, when it exists)")
    p.add_argument("--tls", nargs="?", const=True, type=_flag_bool, help="use TLS; implied by --tlsverify")
    p.add_argument("--tlsverify", nargs="?", const=True, type=_flag_bool,
                   help="use TLS and accept only clients with a certificate signed by --tlscacert")
    p.add_argument("--tlscacert", help="trust client certificates signed only by this CA")
    p.add_argument("--tlscert", help="path to the TLS certificate file")
    p.add_argument("--tlskey", help="path to the TLS key file")
    p.add_argument("--userns-remap", help="user/group for user namespaces ('default': dockremap)")
    p.add_argument("--data-root", help=f"root of persistent state (default {configmod.DEFAULT_DATA_ROOT})")
    p.add_argument("--exec-root", help=f"root of runtime state (default {configmod.DEFAULT_EXEC_ROOT})")
    p.add_argument("-p", "--pidfile", help=f"path of the pid file (default {configmod.DEFAULT_PIDFILE})")
    p.add_argument("--config-file", help=f"daemon.json (default {configmod.DEFAULT_CONFIG_FILE})")
    p.add_argument("-l", "--log-level", choices=["debug", "info", "warn", "error", "fatal"])
    p.add_argument("-D", "--debug", action="store_true", default=None)
    p.add_argument("--default-runtime", help="default OCI runtime for containers")
    p.add_argument("--add-runtime", action="append", default=[], metavar="NAME=PATH",
                   help="register an additional OCI runtime")
    p.add_argument("--live-restore", action="store_true", default=None,
                   help="keep containers running while the daemon is down (always on)")
    p.add_argument("--cgroup-parent", help="parent cgroup for all containers")
    p.add_argument("--name-prefix", help="prefix of kernel object names (cgroups, runtime state)")
    p.add_argument("--ipv6", nargs="?", const=True, type=_flag_bool, help="IPv6 on the default bridge")
    p.add_argument("--fixed-cidr-v6", help="the default bridge's IPv6 subnet (with --ipv6)")
    p.add_argument("--dns", action="append", default=[], help="DNS server for containers without --dns")
    p.add_argument("--dns-search", action="append", default=[], help="DNS search domain for containers")
    p.add_argument("--dns-opt", action="append", default=[], help="DNS option for containers")
    p.add_argument("--cpu-rt-period", type=int, metavar="MICROSECONDS",
                   help="the CPU real-time period of every cgroup above the containers (cgroup v1)")
    p.add_argument("--cpu-rt-runtime", type=int, metavar="MICROSECONDS",
                   help="the CPU real-time runtime of every cgroup above the containers (cgroup v1)")
    return p.parse_args(argv)


def _flag_bool(text: str) -> bool:
    """Go's boolean flag values (``--tls=false``)."""
    value = text.strip().lower()
    if value in ("1", "t", "true"):
        return True
    if value in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    runtimes: dict[str, Any] = {}
    for item in args.add_runtime:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise errors.InvalidParameter(f"invalid runtime {item!r}: expected NAME=PATH")
        runtimes[name] = {"path": path}
    return {
        "hosts": args.hosts or None, "data-root": args.data_root, "exec-root": args.exec_root,
        "pidfile": args.pidfile, "log-level": args.log_level, "debug": args.debug,
        "default-runtime": args.default_runtime, "runtimes": runtimes or None,
        "live-restore": args.live_restore, "cgroup-parent": args.cgroup_parent,
        "name-prefix": args.name_prefix, "group": args.group, "tls": args.tls,
        "cpu-rt-period": args.cpu_rt_period, "cpu-rt-runtime": args.cpu_rt_runtime,
        # dockerd: DOCKER_TLS_VERIFY in the daemon's environment is the default of --tlsverify
        "tlsverify": True if args.tlsverify is None and os.environ.get("DOCKER_TLS_VERIFY") else args.tlsverify,
        "userns-remap": args.userns_remap, "tlscacert": args.tlscacert, "tlscert": args.tlscert, "tlskey": args.tlskey,
        "ipv6": args.ipv6, "fixed-cidr-v6": args.fixed_cidr_v6, "dns": args.dns or None,
        "dns-search": args.dns_search or None, "dns-opts": args.dns_opt or None,
    }


def setup_logging(level: str) -> None:
    levels = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
              "error": logging.ERROR, "fatal": logging.CRITICAL}
    logging.basicConfig(level=levels.get(level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from dockyard.logdedup import ClientHTTPErrorFilter, RepeatFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(ClientHTTPErrorFilter())
        handler.addFilter(RepeatFilter())


def host_parts() -> HostParts:
    """The platform's parts of the engine: the one place that asks which platform this is."""
    if sys.platform == "win32":
        from dockyard.daemon.windows.host import parts

        return parts()
    return linux_parts()


def linux_parts() -> HostParts:
    from dockyard.api.connguard import soft_fd_limit
    from dockyard.api.server import all_route_modules

    return HostParts(name="linux", load_config=load_linux_config, build_backends=build_linux_backends,
                     route_modules=all_route_modules, fd_limit=soft_fd_limit, prepare_process=raise_fd_limit,
                     watch_stop=watch_signals)


def load_linux_config(config_file: str | None, overrides: dict[str, Any]) -> configmod.DaemonConfig:
    from dockyard.daemon.cpu_rt import check_daemon_options
    from dockyard.daemon.sysinfo import probe

    cfg = configmod.load(config_file, overrides, native_runtime_path())
    if cfg.cpu_rt_period or cfg.cpu_rt_runtime:  # a budget this kernel cannot give: refuse to start (moby 28)
        check_daemon_options(cfg.cpu_rt_period, cfg.cpu_rt_runtime, probe())
    return cfg


def build_linux_backends(cfg: configmod.DaemonConfig) -> Any:
    from dockyard.daemon.backends import build_backends

    if cfg.userns_remap:
        from dockyard.daemon import userns

        cfg.remap = userns.setup(cfg.userns_remap)
        cfg.data_root = userns.remapped_root(cfg.data_root, cfg.remap)
    return build_backends(cfg)


def watch_signals(loop: asyncio.AbstractEventLoop, stop: Any) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


async def serve(cfg: configmod.DaemonConfig, host: HostParts | None = None) -> None:
    from dockyard.api.connguard import HEADER_TIMEOUT, GuardedRunner
    from dockyard.api.server import create_app
    from dockyard.listeners import prepare, start_sites

    host = host or linux_parts()
    plan = prepare(cfg)
    backends = host.build_backends(cfg)
    await backends.startup()
    # DOCKYARD_HTTP_HEADER_TIMEOUT: seconds a new connection has to send its first request
    app = create_app(backends, float(os.environ.get("DOCKYARD_HTTP_HEADER_TIMEOUT") or HEADER_TIMEOUT),
                     host.route_modules(), host.fd_limit)
    runner = GuardedRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await start_sites(runner, plan)
    except BaseException:
        await backends.shutdown()
        await runner.cleanup()
        raise
    write_pidfile(cfg.pidfile)
    stop = asyncio.Event()
    host.watch_stop(asyncio.get_running_loop(), stop.set)
    try:
        await stop.wait()
    finally:
        log.info("dockyardd shutting down (containers keep running)")
        await backends.shutdown()
        await runner.cleanup()
        for path in cfg.unix_sockets:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            os.unlink(cfg.pidfile)
        except FileNotFoundError:
            pass


def raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit, as the Go runtime does for dockerd: every
    connection, container attach and log holds a descriptor (containers inherit it, as in Docker)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def write_pidfile(path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def native_runtime_path() -> str | None:
    """Where dockyard-runtime is: the one place the engine names the native runtime's package."""
    from dockyard.runtime.native import locate

    try:
        return locate()
    except FileNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    host = host_parts()
    try:
        cfg = host.load_config(args.config_file, overrides_from_args(args))
    except errors.DockyardError as exc:
        print(f"dockyardd: {exc}", file=sys.stderr)
        return 1
    setup_logging(cfg.log_level)
    host.prepare_process()
    try:
        asyncio.run(serve(cfg, host))
    except errors.DockyardError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
