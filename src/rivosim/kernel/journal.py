"""The request journal: a bounded record of every request the app served (oldest dropped first), with the
questions tests ask of it (``calls``, ``assert_called``).

Each entry says what the client met: the status (0 when no HTTP response reached it: a timeout, a reset, an
empty reply), the fault rules that fired and the limit that refused it, the latency the faults added, the
transport action, and for unmatched requests the nearest routes and why each did not match. Request bodies are
kept as bytes and parsed only when someone reads ``request_json``, so journaling costs the pipeline nothing.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from rivosim.kernel.json_depth import json_depth_exceeds

__all__ = ["Journal", "JournalEntry"]

_UNPARSED: Any = object()
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITES = itertools.count(1)  # one sequence for every journal of the process: a stamp is never reused


def parse_body(body: bytes | None, content_type: str | None) -> Any:
    """A request body as the views read it: JSON (object, list, scalar) or form fields; None otherwise."""
    if not body:
        return None
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        pairs: dict[str, Any] = {}
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if key in pairs:
                pairs[key] = [*pairs[key], value] if isinstance(pairs[key], list) else [pairs[key], value]
            else:
                pairs[key] = value
        return pairs
    if "json" in ctype or (not ctype and body.lstrip()[:1] in (b"{", b"[")):
        if json_depth_exceeds(body):
            return None  # refused by every API; parsing (or re-encoding) it could only recurse too deep
        try:
            # The standard library, not orjson: a client may send integers beyond 64 bits.
            parsed = json.loads(body)
            # "\ud800" parses to a lone surrogate no encoder takes: whatever arrived, reading the journal (which
            # re-encodes this) must never fail, so such a body shows no parse, like invalid JSON.
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError):
            return None
        return parsed
    return None


class JournalEntry:
    """One request as the client met it. ``request_json`` is parsed from the kept body on first read."""

    __slots__ = ("_request_json", "action", "api", "at", "body", "content_type", "duration_ms", "error", "fault",
                 "faults", "latency_ms", "limit", "method", "nearest", "notes", "path", "query", "route", "seq",
                 "shop", "status")

    def __init__(self, seq: int, at: datetime, shop: str | None, api: str, route: str | None, method: str,
                 path: str, query: str, status: int, duration_ms: float, request_json: Any = _UNPARSED,
                 fault: str | None = None, error: str | None = None, notes: list[str] | None = None, *,
                 faults: list[str] | None = None, limit: str | None = None, latency_ms: float = 0.0,
                 action: str | None = None, nearest: list[dict[str, str]] | None = None, body: bytes | None = None,
                 content_type: str | None = None) -> None:
        self.seq = seq
        self.at = at
        self.shop = shop
        self.api = api  # rivo | shopify | control | unmatched
        self.route = route
        self.method = method
        self.path = path
        self.query = query
        self.status = status  # 0: no HTTP response reached the client (timeout, reset, empty reply)
        self.duration_ms = duration_ms  # time in the app (not the injected latency: see latency_ms)
        self._request_json = request_json
        self.fault = fault  # what the faults did, e.g. "latency 120.0 ms, error (slow, flaky)"
        self.faults = faults or []  # ids of the rules that fired
        self.limit = limit  # the rate limit that refused the request, if one did
        self.latency_ms = latency_ms
        self.action = action  # the transport action when not a plain response: hang, reset, empty_reply, dribble
        self.error = error
        self.notes = notes if notes is not None else []
        self.nearest = nearest  # unmatched requests: [{"route", "method", "path", "why"}]
        self.body = body
        self.content_type = content_type

    @property
    def request_json(self) -> Any:
        if self._request_json is _UNPARSED:
            self._request_json = parse_body(self.body, self.content_type)
        return self._request_json

    def __repr__(self) -> str:
        return (f"JournalEntry(seq={self.seq}, {self.method} {self.path} -> {self.status}, route={self.route!r}, "
                f"shop={self.shop!r}" + (f", fault={self.fault!r}" if self.fault else "")
                + (f", limit={self.limit!r}" if self.limit else "") + ")")

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "at": self.at.isoformat(), "shop": self.shop, "api": self.api, "route": self.route,
            "method": self.method, "path": self.path, "query": self.query, "status": self.status,
            "duration_ms": self.duration_ms, "request_json": self.request_json, "fault": self.fault,
            "faults": list(self.faults), "limit": self.limit, "latency_ms": self.latency_ms, "action": self.action,
            "error": self.error, "notes": list(self.notes), "nearest": self.nearest,
        }

    def comparable(self) -> dict[str, Any]:
        """Everything but the measured duration: what two runs of one request sequence must agree on."""
        out = self.to_dict()
        del out["duration_ms"]
        return out


class Journal:
    """Bounded (``cap`` entries, oldest dropped first); numbering continues across drops and clears."""

    def __init__(self, cap: int = 10_000) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError("the journal cap must be a whole number >= 1")
        self.cap = cap
        self._entries: deque[JournalEntry] = deque(maxlen=cap)
        self._seq = 0
        self.last_write = 0
        """Changes (to a number never used before) whenever a request of a method other than GET, HEAD or OPTIONS
        is journaled: every request the app serves is, after its view ran, so whatever may have changed state
        over HTTP changes this (``http/rivo/shapes.py`` caches whole pages until it does)."""

    @property
    def dropped(self) -> int:
        """How many entries the cap (or ``clear``) has dropped so far."""
        return self._seq - len(self._entries)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def append(self, entry: JournalEntry) -> JournalEntry:
        """Keep an entry whose ``seq`` came from :meth:`next_seq` (the pipeline's fast path)."""
        self._entries.append(entry)
        if entry.method not in SAFE_METHODS:
            self.last_write = next(_WRITES)
        return entry

    def record(self, **fields: Any) -> JournalEntry:
        self._seq += 1
        return self.append(JournalEntry(seq=self._seq, **fields))

    def resize(self, cap: int) -> None:
        """A new cap; the newest entries are kept."""
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError("the journal cap must be a whole number >= 1")
        self.cap = cap
        self._entries = deque(self._entries, maxlen=cap)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[JournalEntry]:
        return list(self._entries)

    def calls(self, route: str | None = None, *, shop: str | None = None, status: int | None = None,
              method: str | None = None, since: int | None = None, api: str | None = None,
              since_at: datetime | None = None, faulted: bool | None = None) -> list[JournalEntry]:
        """Entries matching every filter given. ``route`` may be a glob (``rivo.customers.*``); ``since`` is a
        sequence number, ``since_at`` an instant (both exclusive); ``faulted`` keeps entries a fault or limit
        touched (True) or untouched ones (False)."""
        out: Iterable[JournalEntry] = self._entries
        glob = route is not None and any(c in route for c in "*?[")
        method = method.upper() if method else None
        return [e for e in out
                if (route is None or (fnmatch.fnmatchcase(e.route or "", route) if glob else e.route == route))
                and (shop is None or e.shop == shop) and (status is None or e.status == status)
                and (method is None or e.method == method) and (since is None or e.seq > since)
                and (api is None or e.api == api) and (since_at is None or e.at > since_at)
                and (faulted is None or bool(e.faults or e.limit) == faulted)]

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
