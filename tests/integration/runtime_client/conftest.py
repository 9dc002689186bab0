"""Real containers under conmon with crun and runc (and dockyard-runtime when installed).

Each test gets a unique id ``dytest-<hex>``, its own exec root and runtime root
under /run, and a bundle on a fresh busybox rootfs.  Teardown force-deletes
the container, kills a leftover conmon by pid and removes every directory, even
when the test failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import secrets
import shutil
import signal
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

from dockyard.monitor.conmon import Monitor
from dockyard.monitor.oci import OCIRuntime
from dockyard.spec.bundle import SpecInput, build_spec, resolve_user

CONMON = "/usr/bin/conmon"


def _runtimes() -> list[str]:
    out = ["/usr/bin/crun", "/usr/sbin/runc"]
    from dockyard.runtime.native import locate
    try:
        out.append(locate())  # dockyard-runtime, once scripts/install.sh installed it
    except FileNotFoundError:
        pass
    return out


@pytest.fixture(params=_runtimes(), ids=lambda p: os.path.basename(p))
def runtime_path(request: pytest.FixtureRequest) -> str:
    if os.geteuid() != 0:
        pytest.fail("these tests need root")
    return request.param


@dataclass
class Env:
    rootfs: pathlib.Path
    tmp: pathlib.Path
    runtime: OCIRuntime
    monitor: Monitor
    base: str
    ids: list[str] = field(default_factory=list)

    def new_id(self) -> str:
        cid = "dytest-" + secrets.token_hex(6)
        self.ids.append(cid)
        return cid

    def bundle(self, cid: str, config: dict[str, Any], host: dict[str, Any] | None = None,
               user: str = "") -> str:
        b = self.tmp / f"bundle-{cid}"
        b.mkdir()
        cfg = {"Cmd": ["true"], **config}
        spec = build_spec(SpecInput(
            cid, cfg, host or {}, {}, str(self.rootfs), user=resolve_user(str(self.rootfs), user),
            hostname=cid[:12], cgroups_path=f"/{cid}", init_path="/usr/bin/tini-static"))
        (b / "config.json").write_text(json.dumps(spec))
        return str(b)

    def log_path(self, cid: str) -> str:
        return str(self.tmp / f"bundle-{cid}" / "ctr.log")

    async def create(self, config: dict[str, Any], host: dict[str, Any] | None = None,
                     stdin: bool = False, stdin_once: bool = True) -> tuple[str, int]:
        cid = self.new_id()
        b = self.bundle(cid, config, host)
        pid = await self.monitor.create(cid, "ctr-" + cid, b, self.runtime, self.log_path(cid),
                                        tty=bool(config.get("Tty")), stdin=stdin, stdin_once=stdin_once)
        return cid, pid


def _cleanup(env: Env) -> None:
    async def go() -> None:
        for cid in env.ids:
            pid = env.monitor.conmon_pid(cid) if os.path.isdir(env.monitor.container_dir(cid)) else None
            try:
                await env.runtime.delete(cid, force=True)
            except Exception:  # noqa: BLE001 - may be gone already
                pass
            if pid and env.monitor.alive(cid):
                os.kill(pid, signal.SIGKILL)
            await env.monitor.cleanup(cid)
    asyncio.run(go())
    shutil.rmtree(env.base, ignore_errors=True)


@pytest.fixture
def env(runtime_path: str, busybox_rootfs: pathlib.Path, tmp_path: pathlib.Path) -> Iterator[Env]:
    base = f"/run/dytest-{secrets.token_hex(4)}"
    e = Env(busybox_rootfs, tmp_path,
            OCIRuntime(runtime_path, f"{base}/rt"), Monitor(CONMON, f"{base}/exec"), base)
    try:
        yield e
    finally:
        _cleanup(e)


@pytest.fixture
def crun_env(busybox_rootfs: pathlib.Path, tmp_path: pathlib.Path) -> Iterator[Env]:
    """Same as ``env`` but crun only, for tests whose subject is conmon, not the runtime."""
    base = f"/run/dytest-{secrets.token_hex(4)}"
    e = Env(busybox_rootfs, tmp_path,
            OCIRuntime("/usr/bin/crun", f"{base}/rt"), Monitor(CONMON, f"{base}/exec"), base)
    try:
        yield e
    finally:
        _cleanup(e)
