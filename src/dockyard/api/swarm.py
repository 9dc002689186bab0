"""Routes: Swarm mode and its resources, answered as by a dockerd whose node never joined a swarm.

dockyard has no Swarm (an orchestrator of its own is out of scope; Kubernetes
through cri-dockerd is the way to more than one machine).  Clients still call
these endpoints: docker-py's ``leave_swarm(force=True)`` in teardowns, the
docker CLI's ``docker info`` and ``docker node ls``.  They get what dockerd
answers for an inactive node (503 with its texts), and ``init``/``join`` are
refused saying why, rather than a 404 that reads like a broken engine.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard import errors

NOT_IN_SWARM = "This node is not part of a swarm"
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 "to connect this node to swarm and try again.")
NO_SWARM_MODE = "dockyard does not implement Swarm mode; this node cannot init or join a swarm"

# (method, path, answer): every route a manager would serve
_MANAGER_ROUTES = [
    ("GET", "/swarm"), ("POST", "/swarm/update"), ("GET", "/swarm/unlockkey"),
    ("GET", "/nodes"), ("GET", "/nodes/{id}"), ("DELETE", "/nodes/{id}"), ("POST", "/nodes/{id}/update"),
    ("GET", "/services"), ("POST", "/services/create"), ("GET", "/services/{id}"),
    ("DELETE", "/services/{id}"), ("POST", "/services/{id}/update"), ("GET", "/services/{id}/logs"),
    ("GET", "/tasks"), ("GET", "/tasks/{id}"), ("GET", "/tasks/{id}/logs"),
    ("GET", "/secrets"), ("POST", "/secrets/create"), ("GET", "/secrets/{id}"), ("DELETE", "/secrets/{id}"),
    ("POST", "/secrets/{id}/update"),
    ("GET", "/configs"), ("POST", "/configs/create"), ("GET", "/configs/{id}"), ("DELETE", "/configs/{id}"),
    ("POST", "/configs/{id}/update"),
]


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    for method, path in _MANAGER_ROUTES:
        router.add_route(method, path, not_a_manager)
    router.add_route("POST", "/swarm/leave", not_in_swarm)
    router.add_route("POST", "/swarm/unlock", not_in_swarm)
    router.add_route("POST", "/swarm/init", no_swarm_mode)
    router.add_route("POST", "/swarm/join", no_swarm_mode)


async def not_a_manager(request: web.Request) -> web.Response:
    raise errors.Unavailable(NOT_A_MANAGER)


async def not_in_swarm(request: web.Request) -> web.Response:
    raise errors.Unavailable(NOT_IN_SWARM)


async def no_swarm_mode(request: web.Request) -> web.Response:
    raise errors.NotImplementedYet(NO_SWARM_MODE)
