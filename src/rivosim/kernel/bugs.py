"""The record of simulator bugs (500s nobody injected): a ring of the latest ``cap`` (default 1,000) and a count
of every bug ever recorded, so a server that keeps hitting one bug cannot grow without bound."""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["BugRing"]


class BugRing(deque[dict[str, Any]]):
    """``deque(maxlen=cap)`` of bug records plus ``total``: ``since(n)`` is what came after the n-th bug ever."""

    def __init__(self, cap: int = 1000) -> None:
        super().__init__(maxlen=cap)
        self.total = 0

    def append(self, bug: dict[str, Any]) -> None:
        self.total += 1
        super().append(bug)

    def __eq__(self, other: object) -> bool:
        # Compares equal to a list of the same records: ``sim.bugs == []`` reads as it did when this was a list.
        if isinstance(other, list):
            return list(self) == other
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def since(self, total_seen: int) -> list[dict[str, Any]]:
        """The bugs recorded after the first ``total_seen`` (as many of them as the ring still holds)."""
        new = self.total - total_seen
        if new <= 0:
            return []
        return list(self)[-new:]
