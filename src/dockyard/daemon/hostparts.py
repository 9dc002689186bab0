"""What differs between the hosts the engine runs on, as one value the composition root picks.

``dockyardd`` chooses a :class:`HostParts` by platform (the one place that asks
``sys.platform``); everything below it is handed the parts it needs, so shared
code never branches on the platform.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockyard.daemon.config import DaemonConfig


@dataclass(frozen=True)
class HostParts:
    """The platform's pieces of the daemon.

    - ``load_config(config_file, overrides)``: the configuration with this host's defaults and runtimes;
    - ``build_backends(cfg)``: the services the API layer calls;
    - ``route_modules()``: the ``dockyard.api`` router modules this host serves;
    - ``fd_limit``: the soft descriptor limit the connection guard keeps a reserve under (None: none);
    - ``prepare_process()``: process-wide set-up before serving;
    - ``watch_stop(loop, stop)``: arrange for ``stop()`` on the host's shutdown request.
    """

    name: str
    load_config: Callable[[str | None, dict[str, Any]], DaemonConfig]
    build_backends: Callable[[DaemonConfig], Any]
    route_modules: Callable[[], list[Any]]
    fd_limit: Callable[[], int] | None
    prepare_process: Callable[[], None]
    watch_stop: Callable[[asyncio.AbstractEventLoop, Callable[[], None]], None]
