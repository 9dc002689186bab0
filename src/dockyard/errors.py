"""The one error hierarchy of dockyard.

Every layer raises these; ``api/server.py`` (its error middleware) maps them to HTTP status codes in
exactly one place (moby's errdefs + httpstatus).  Messages are written for the
user, in the words they typed: ``No such image: foo:latest``.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base class. ``status`` is the HTTP status the API answers with."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameter(DockyardError):
    """The request is malformed or a value is out of range (HTTP 400)."""

    status = 400


class Unauthorized(DockyardError):
    status = 401


class Forbidden(DockyardError):
    status = 403


class NotFound(DockyardError):
    """The named object does not exist (HTTP 404)."""

    status = 404


class Conflict(DockyardError):
    """The operation conflicts with the object's state (HTTP 409)."""

    status = 409


class NotModified(DockyardError):
    """The object is already in the requested state (HTTP 304)."""

    status = 304


class Unavailable(DockyardError):
    status = 503


class RequestTooLarge(DockyardError):
    """A request body over the endpoint's bound (HTTP 413)."""

    status = 413


class NotImplementedYet(DockyardError):
    status = 501


class SystemError_(DockyardError):
    """An unexpected failure of the host (HTTP 500)."""

    status = 500


def os_error(op: str, path: str, exc: OSError) -> SystemError_:
    """Wrap an OSError so the message names the operation and the path."""
    return SystemError_(f"{op} {path}: {exc.strerror or exc}")
