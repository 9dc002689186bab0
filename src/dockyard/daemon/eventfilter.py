"""``docker events --filter``: which events a subscriber gets (moby's ``daemon/events/filter.go`` rules).

Pure: an event dict and the parsed filters in, a bool out.  Every key must
match (an absent key matches all); the values of one key are alternatives.
``container`` (and network, volume, …) match the actor's ID by prefix or its
name; ``image`` matches the image ID or name, with or without the tag, for
container events through their ``image`` attribute; ``event`` is exact except
for health_status/exec_create/exec_start, whose actions carry a suffix.
"""

from __future__ import annotations

from typing import Any

ACTOR_KEYS = ("container", "network", "volume", "plugin", "node", "service", "secret", "config", "daemon")
VALID_KEYS = frozenset((*ACTOR_KEYS, "event", "image", "label", "type", "scope"))
SUFFIXED_ACTIONS = ("health_status", "exec_create", "exec_start", "exec_detach")


def check_filters(filters: dict[str, list[str]]) -> str | None:
    """The first filter key dockerd does not know (its error is ``invalid filter '<key>'``), or None."""
    for key in filters:
        if key not in VALID_KEYS:
            return key
    return None


def _exact(values: list[str] | None, *sources: str) -> bool:
    return not values or any(s in values for s in sources if s)


def _fuzzy(values: list[str] | None, *sources: str) -> bool:
    return not values or any(s and (s in values or any(s.startswith(v) for v in values)) for s in sources)


def strip_tag(ref: str) -> str:
    """``busybox:latest`` → ``busybox`` (a registry port is not a tag; a digest is left alone)."""
    if "@" in ref:
        return ref
    head, sep, tail = ref.rpartition(":")
    return head if sep and "/" not in tail else ref


def match_event(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    actor = event.get("Actor") or {}
    actor_id, attrs = actor.get("ID", ""), actor.get("Attributes") or {}
    type_, action = event.get("Type", ""), event.get("Action", "")
    wanted = filters.get("event")
    if wanted and any(w in SUFFIXED_ACTIONS for w in wanted):
        if not _fuzzy(wanted, action):
            return False
    elif not _exact(wanted, action):
        return False
    if not _exact(filters.get("type"), type_) or not _exact(filters.get("scope"), event.get("scope", "")):
        return False
    for key in ACTOR_KEYS:
        if filters.get(key) and (type_ != key or not _fuzzy(filters[key], actor_id, attrs.get("name", ""))):
            return False
    if filters.get("image"):
        name = attrs.get("name" if type_ == "image" else "image", "")
        if not _exact(filters["image"], actor_id, name, strip_tag(actor_id), strip_tag(name)):
            return False
    for want in filters.get("label", []):
        key, eq, value = want.partition("=")
        if key not in attrs or (eq and attrs[key] != value):
            return False
    return True
