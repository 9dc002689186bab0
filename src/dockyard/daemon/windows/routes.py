"""The API paths a Windows engine has no service behind, answered with a 400 that names the
operation instead of the 404 ``page not found`` a missing route gives (which the docker CLI
shows as a bare "page not found"): build, exec, copying files in and out, export and diff,
networks and volumes (a job-object container shares the host's network and files: there is
nothing to create, connect or mount)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard import errors

ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/build", "build"), ("POST", "/build/prune", "build"), ("POST", "/session", "build"),
    ("POST", "/containers/{id}/exec", "exec"), ("POST", "/exec/{id}/start", "exec"),
    ("POST", "/exec/{id}/resize", "exec"), ("GET", "/exec/{id}/json", "exec"),
    ("HEAD", "/containers/{id}/archive", "copying files (docker cp)"),
    ("GET", "/containers/{id}/archive", "copying files (docker cp)"),
    ("PUT", "/containers/{id}/archive", "copying files (docker cp)"),
    ("GET", "/containers/{id}/export", "export"), ("GET", "/containers/{id}/changes", "diff"),
    ("*", "/networks", "networks"), ("*", "/networks/{tail:.*}", "networks"),
    ("*", "/volumes", "volumes"), ("*", "/volumes/{tail:.*}", "volumes"),
]


def add_routes(router: web.UrlDispatcher, backends: Any) -> None:
    for method, path, what in ROUTES:
        router.add_route(method, path, _refuse(what))


def _refuse(what: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        raise errors.InvalidParameter(f"{what} is not supported by dockyard's Windows engine (docs/windows.md)")

    return handler
