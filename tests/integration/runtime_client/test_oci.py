"""OCIRuntime against real runtimes: lifecycle commands and error messages."""

from __future__ import annotations

import asyncio
import signal

import pytest

from dockyard.errors import NotFound
from dockyard.monitor.oci import RuntimeCommandError

from .conftest import Env
from tests.support import probes

pytestmark = pytest.mark.timeout(120)


def test_lifecycle_commands(env: Env) -> None:
    async def go() -> None:
        cid, pid = await env.create({"Cmd": ["sleep", "1000"]}, {"Memory": 64 << 20})
        await env.runtime.start(cid)
        st = await env.runtime.state(cid)
        assert st["status"] == "running" and st["pid"] == pid and st["id"] == cid
        assert pid in await env.runtime.ps(cid)
        await env.runtime.pause(cid)
        assert (await env.runtime.state(cid))["status"] == "paused"
        await env.runtime.resume(cid)
        assert (await env.runtime.state(cid))["status"] == "running"
        await env.runtime.update(cid, {"memory": {"limit": 128 << 20, "swap": 256 << 20}})
        limit_file = "memory.max" if probes.cgroup_v2() else "memory.limit_in_bytes"
        with open(probes.cgroup_dir("memory", f"/{cid}") + "/" + limit_file) as f:
            assert int(f.read()) == 128 << 20
        await env.runtime.kill(cid, signal.SIGKILL)  # a signal.Signals value works
        assert await asyncio.wait_for(env.monitor.wait(cid), 30) == 137
        await env.runtime.delete(cid)
        with pytest.raises(NotFound):
            await env.runtime.state(cid)
    asyncio.run(go())


def test_errors_carry_the_runtime_message(env: Env) -> None:
    async def go() -> None:
        with pytest.raises(NotFound, match="No such container: dytest-none"):
            await env.runtime.state("dytest-none")
        with pytest.raises(RuntimeCommandError) as info:
            await env.runtime.kill("dytest-none", "SIGTERM")
        assert "dytest-none" in info.value.message or "not exist" in info.value.message
        assert info.value.returncode != 0
    asyncio.run(go())
