"""Stand-ins for kernel facades, for unit tests of the runtime's ordering logic."""

from __future__ import annotations


class RecordingSyscalls:
    """Every facade method records (name, args) and does nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args, **kwargs):
            self.calls.append((name, args))
            return 0

        return record

    def index(self, name: str, pred=lambda args: True) -> int:
        for i, (n, args) in enumerate(self.calls):
            if n == name and pred(args):
                return i
        raise AssertionError(f"{name} was not called: {[c[0] for c in self.calls]}")
