"""The request journal: a bounded record of every request the app served (oldest dropped first), with the
questions tests ask of it (``calls``, ``assert_called``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Journal", "JournalEntry"]


@dataclass(slots=True)
class JournalEntry:
    seq: int
    at: datetime
    shop: str | None
    api: str  # rivo | shopify | control | unmatched
    route: str | None
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    request_json: Any = None
    fault: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out


class Journal:
    def __init__(self, cap: int = 10_000) -> None:
        self.cap = cap
        self._entries: deque[JournalEntry] = deque(maxlen=cap)
        self._seq = 0

    def record(self, **fields: Any) -> JournalEntry:
        self._seq += 1
        entry = JournalEntry(seq=self._seq, **fields)
        self._entries.append(entry)
        return entry

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[JournalEntry]:
        return list(self._entries)

    def calls(self, route: str | None = None, *, shop: str | None = None, status: int | None = None,
              method: str | None = None, since: int | None = None) -> list[JournalEntry]:
        out: Iterable[JournalEntry] = self._entries
        return [e for e in out
                if (route is None or e.route == route) and (shop is None or e.shop == shop)
                and (status is None or e.status == status) and (method is None or e.method == method)
                and (since is None or e.seq > since)]

    def assert_called(self, route: str, *, times: int | None = None, shop: str | None = None,
                      status: int | None = None, json: Any = None) -> list[JournalEntry]:
        """Raise ``AssertionError`` with what *was* called unless ``route`` was called as described."""
        matches = [e for e in self.calls(route, shop=shop, status=status)
                   if json is None or _contains(e.request_json, json)]
        ok = bool(matches) if times is None else len(matches) == times
        if not ok:
            seen = sorted({e.route or f"(unmatched) {e.method} {e.path}" for e in self._entries})
            want = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(f"expected {route} to be called {want}"
                                 + (f" with {json!r}" if json is not None else "")
                                 + f", found {len(matches)}; routes called: {', '.join(seen) or 'none'}")
        return matches


def _contains(actual: Any, expected: Any) -> bool:
    """``expected`` is a subset of ``actual`` (dict keys recursively; other values equal)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    return bool(actual == expected)
