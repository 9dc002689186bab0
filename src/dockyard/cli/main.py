"""The ``dockyard`` command: a small client of the Engine API (through docker-py).

It imports nothing Linux-specific, so it runs on macOS and Windows too; for
everything it does not cover, the real ``docker`` CLI works against the same
socket (``DOCKER_HOST=unix:///run/dockyard.sock``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

DEFAULT_HOST = "unix:///run/dockyard.sock"


def _tls(a: argparse.Namespace) -> Any:
    """The docker CLI's TLS switches: ``--tls``/``--tlsverify`` (or ``DOCKER_TLS_VERIFY``), and the
    PEM files given or in ``DOCKER_CERT_PATH`` (default ``~/.docker``); None for plain TCP."""
    import docker

    verify = a.tlsverify or bool(os.environ.get("DOCKER_TLS_VERIFY"))
    if not (a.tls or verify):
        return None
    base = os.environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
    ca, cert, key = (given or os.path.join(base, name) for given, name in
                     ((a.tlscacert, "ca.pem"), (a.tlscert, "cert.pem"), (a.tlskey, "key.pem")))
    client_cert = (cert, key) if os.path.exists(cert) and os.path.exists(key) else None
    return docker.tls.TLSConfig(client_cert=client_cert, ca_cert=ca if verify else None, verify=verify)


def _client(a: argparse.Namespace) -> Any:
    import docker

    return docker.DockerClient(base_url=a.host, timeout=120, tls=_tls(a) or False)


def cmd_version(c: Any, a: argparse.Namespace) -> int:
    v = c.version()
    print(f"Server: dockyard (Docker Engine API {v['ApiVersion']}, compatible with Docker {v['Version']})")
    print(f"Kernel: {v['KernelVersion']}  OS/Arch: {v['Os']}/{v['Arch']}")
    return 0


def cmd_info(c: Any, a: argparse.Namespace) -> int:
    i = c.info()
    for key in ("Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images",
                "Driver", "CgroupDriver", "CgroupVersion", "DefaultRuntime", "KernelVersion",
                "OperatingSystem", "NCPU", "MemTotal", "DockerRootDir"):
        print(f"{key}: {i.get(key)}")
    print(f"Runtimes: {' '.join(sorted(i.get('Runtimes') or {}))}")
    return 0


def cmd_ps(c: Any, a: argparse.Namespace) -> int:
    rows = c.api.containers(all=a.all)
    print(f"{'CONTAINER ID':<14}{'IMAGE':<20}{'COMMAND':<24}{'STATUS':<28}NAMES")
    for r in rows:
        cmd = (r["Command"][:20] + "…") if len(r["Command"]) > 21 else r["Command"]
        print(f"{r['Id'][:12]:<14}{r['Image'][:19]:<20}{cmd:<24}{r['Status']:<28}{r['Names'][0].lstrip('/')}")
    return 0


def cmd_images(c: Any, a: argparse.Namespace) -> int:
    print(f"{'REPOSITORY:TAG':<40}{'IMAGE ID':<14}SIZE")
    for img in c.api.images():
        for tag in img.get("RepoTags") or ["<none>:<none>"]:
            print(f"{tag:<40}{img['Id'].split(':')[-1][:12]:<14}{img['Size'] / 1e6:.1f}MB")
    return 0


def cmd_run(c: Any, a: argparse.Namespace) -> int:
    import docker

    try:
        if a.detach:
            print(c.containers.run(a.image, a.command or None, detach=True, remove=a.rm, name=a.name).id)
            return 0
        out = c.containers.run(a.image, a.command or None, remove=a.rm, name=a.name, stderr=True)
        sys.stdout.buffer.write(out)
        return 0
    except docker.errors.ContainerError as exc:
        sys.stderr.write(exc.stderr.decode(errors="replace") if exc.stderr else "")
        return int(exc.exit_status)


def cmd_logs(c: Any, a: argparse.Namespace) -> int:
    for chunk in c.api.logs(a.container, stream=True, follow=a.follow):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
    return 0


def cmd_stop(c: Any, a: argparse.Namespace) -> int:
    for ref in a.containers:
        c.api.stop(ref, timeout=a.time)
        print(ref)
    return 0


def cmd_rm(c: Any, a: argparse.Namespace) -> int:
    for ref in a.containers:
        c.api.remove_container(ref, force=a.force)
        print(ref)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard", description="Client of a dockyard (or Docker) engine.")
    p.add_argument("-H", "--host", default=os.environ.get("DOCKER_HOST", DEFAULT_HOST))
    p.add_argument("--tls", action="store_true", help="use TLS; implied by --tlsverify")
    p.add_argument("--tlsverify", action="store_true", help="use TLS and verify the remote")
    p.add_argument("--tlscacert", help="trust certs signed only by this CA")
    p.add_argument("--tlscert", help="path to TLS certificate file")
    p.add_argument("--tlskey", help="path to TLS key file")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("version").set_defaults(fn=cmd_version)
    sub.add_parser("info").set_defaults(fn=cmd_info)
    ps = sub.add_parser("ps")
    ps.add_argument("-a", "--all", action="store_true")
    ps.set_defaults(fn=cmd_ps)
    sub.add_parser("images").set_defaults(fn=cmd_images)
    run = sub.add_parser("run")
    run.add_argument("-d", "--detach", action="store_true")
    run.add_argument("--rm", action="store_true")
    run.add_argument("--name")
    run.add_argument("image")
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(fn=cmd_run)
    logs = sub.add_parser("logs")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("container")
    logs.set_defaults(fn=cmd_logs)
    stop = sub.add_parser("stop")
    stop.add_argument("-t", "--time", type=int, default=10)
    stop.add_argument("containers", nargs="+")
    stop.set_defaults(fn=cmd_stop)
    rm = sub.add_parser("rm")
    rm.add_argument("-f", "--force", action="store_true")
    rm.add_argument("containers", nargs="+")
    rm.set_defaults(fn=cmd_rm)
    return p


def main(argv: list[str] | None = None) -> int:
    import docker

    a = parser().parse_args(argv)
    # as the docker CLI: UTF-8 output everywhere (a Windows console or pipe would
    # otherwise get the ANSI code page, where the "…" of ps is another byte)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    try:
        return a.fn(_client(a), a)
    except docker.errors.APIError as exc:
        print(f"Error response from daemon: {exc.explanation}", file=sys.stderr)
        return 125
    except docker.errors.DockerException as exc:
        print(f"dockyard: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
