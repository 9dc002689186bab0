"""Filter rules every resource's list and prune share (moby's ``filters.Args``)."""

from __future__ import annotations


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
