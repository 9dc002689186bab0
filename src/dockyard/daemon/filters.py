"""Filter rules every resource's list and prune share (moby's ``filters.Args``)."""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.errors import InvalidParameter

# What moby's container and network prunes accept; anything else is refused, never ignored
# (an ignored filter would prune everything).
PRUNE_FILTERS = ("label", "label!", "until")


def check_accepted(filters: dict[str, list[str]], accepted: Iterable[str]) -> None:
    """moby's ``filters.Args.Validate``: the first filter key not in ``accepted`` is an error."""
    allowed = set(accepted)
    for key in filters:
        if key not in allowed:
            raise InvalidParameter(f"invalid filter '{key}'")


def labels_match(labels: dict[str, str], filters: dict[str, list[str]]) -> bool:
    """``label=k``/``label=k=v`` must all hold, ``label!=k``/``label!=k=v`` must all fail."""
    for want in filters.get("label", []):
        key, eq, value = want.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    for want in filters.get("label!", []):
        key, eq, value = want.partition("=")
        if key in labels and (not eq or labels[key] == value):
            return False
    return True
