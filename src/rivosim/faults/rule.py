"""One fault rule in force: what it matches (the static part ``FaultSet.candidates`` caches, and the headers and
body fields checked per request), when it is active, the latency it draws from its own seeded stream, and what it
decided for one request; and how a rule document becomes one (:func:`parse_rule`, with the field checks of
:mod:`rivosim.faults.rules`)."""

from __future__ import annotations

import fnmatch
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rivosim.faults.rules import (
    ESCAPE_ROUTES,
    WRITE_METHODS,
    bad,
    number,
    parse_action,
    parse_match,
    percentile_draw,
)
from rivosim.kernel.clock import parse_duration, parse_instant
from rivosim.kernel.ids import Randomness

__all__ = ["Decision", "FaultRule", "RequestFacts", "parse_rule"]


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What a rule can match on."""

    api: str
    route: str | None
    method: str
    shop: str | None
    headers: Mapping[str, str]
    body: Any = None


@dataclass(slots=True)
class FaultRule:
    id: str
    match: dict[str, Any]
    action: dict[str, Any]
    probability: float = 1.0
    times: int | None = None
    after: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    origin: str = "api"  # api (control API / Python), config (--config file), shop:<domain> (a shop document)
    matched: int = 0
    fired: int = 0
    _stream: Any = field(default=None, repr=False)
    # Load-dependent latency: the window in seconds (None: the rule ignores load) and the arrival times of the
    # requests it matched that may still lie inside it.
    _load_window: float | None = field(default=None, repr=False)
    _recent: deque[datetime] = field(default_factory=deque, repr=False)

    @property
    def kind(self) -> str:
        return str(self.action["type"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "match": self.match, "action": self.action, "probability": self.probability,
            "times": self.times, "after": self.after,
            "window": None if self.window_start is None and self.window_end is None else {
                "start": self.window_start.isoformat() if self.window_start else None,
                "end": self.window_end.isoformat() if self.window_end else None},
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "origin": self.origin, "matched": self.matched, "fired": self.fired,
            "exhausted": self.times is not None and self.fired >= self.times,
        }

    # -- matching ------------------------------------------------------------------------------------
    def could_apply(self, api: str, route: str | None, method: str, shop: str | None) -> bool:
        """The static part of the match (api, route glob, method, shop): what ``FaultSet.candidates`` caches."""
        m = self.match
        wanted = m.get("api")
        if api == "control":
            if wanted != "control":  # the control API is only faulted when a rule says so explicitly
                return False
            if route in ESCAPE_ROUTES and m.get("route") != route:
                return False
        elif api not in ("rivo", "shopify") or (wanted is not None and wanted != api):
            return False
        if "route" in m and not fnmatch.fnmatchcase(route or "", m["route"]):
            return False
        if "method" in m and m["method"] != method:
            return False
        if "shop" in m and m["shop"] != shop:
            return False
        return self.kind != "read_after_write_lag" or method in WRITE_METHODS

    def matches(self, facts: RequestFacts) -> bool:
        m = self.match
        if "api" in m and m["api"] != facts.api:
            return False
        if "route" in m and not fnmatch.fnmatchcase(facts.route or "", m["route"]):
            return False
        if "method" in m and m["method"] != facts.method:
            return False
        if "shop" in m and m["shop"] != facts.shop:
            return False
        return self.matches_request(facts)

    def matches_request(self, facts: RequestFacts) -> bool:
        """The dynamic part of the match: headers (names case-insensitive) and top-level body fields."""
        m = self.match
        if "header" in m:
            lowered = {k.lower(): v for k, v in facts.headers.items()}
            for name, value in m["header"].items():
                if lowered.get(name.lower()) != value:
                    return False
        if "body" in m:
            for name, value in m["body"].items():
                if not isinstance(facts.body, dict) or facts.body.get(name) != value:
                    return False
        return True

    def active(self, now: datetime) -> bool:
        if self.expires_at is not None and now >= self.expires_at:
            return False
        if self.window_start is not None and now < self.window_start:
            return False
        if self.window_end is not None and now >= self.window_end:
            return False
        return self.times is None or self.fired < self.times

    # -- drawing -------------------------------------------------------------------------------------
    def note_load(self, now: datetime) -> int:
        """Count the requests this rule matched in the trailing load window before ``now``, then note this one
        (arriving at ``now``). 0 for a rule without ``load``."""
        window = self._load_window
        if window is None:
            return 0
        recent = self._recent
        start = now - timedelta(seconds=window)
        while recent and recent[0] <= start:
            recent.popleft()
        count = len(recent)
        recent.append(now)
        return count

    def sample_latency(self, load: int = 0) -> float:
        """Seconds of latency from this rule's distribution (its own seeded stream), plus what ``load`` earlier
        requests in the rule's load window add."""
        a = self.action
        rng = self._stream
        dist = a.get("distribution", "fixed")
        cap = a.get("cap_ms")
        if dist == "fixed":
            ms = a["ms"]
        elif dist == "uniform":
            ms = rng.uniform(a["min_ms"], a["max_ms"])
        elif dist == "normal":
            ms = max(0.0, rng.gauss(a["mean_ms"], a["stddev_ms"]))
        elif dist == "lognormal":
            ms = a["median_ms"] * math.exp(a["sigma"] * rng.gauss(0.0, 1.0))
        elif dist == "percentiles":
            ms = percentile_draw(a, rng.gauss(0.0, 1.0))
        else:  # empirical
            ms = a["samples_ms"][rng.randrange(len(a["samples_ms"]))]
        if cap is not None:
            ms = min(ms, cap)
        grow = a.get("load")
        if load and grow is not None:
            extra = grow["per_request_ms"] * load
            ms += min(extra, grow["max_ms"]) if "max_ms" in grow else extra
        return float(ms) / 1000.0


@dataclass(slots=True)
class Decision:
    """What the faults decided for one request."""

    latency: float = 0.0
    terminal: FaultRule | None = None
    lag: FaultRule | None = None
    fired: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.fired

    def describe(self) -> str | None:
        if not self.fired:
            return None
        parts = []
        if self.latency:
            parts.append(f"latency {self.latency * 1000:.1f} ms")
        if self.terminal is not None:
            parts.append(self.terminal.kind)
        if self.lag is not None:
            parts.append("read_after_write_lag")
        return ", ".join(parts) + f" ({', '.join(self.fired)})"


def parse_rule(raw: Any, now: datetime, randomness: Randomness, *, where: str = "fault", origin: str = "api",
               next_id: Callable[[], str]) -> FaultRule:
    """One rule document parsed (refusals name ``where.field``); ``next_id`` names a rule that has no ``id``."""
    if not isinstance(raw, Mapping):
        raise bad(where, "a fault rule must be an object")
    unknown = set(raw) - {"id", "match", "action", "probability", "times", "after", "window", "ttl"}
    if unknown:
        raise bad(f"{where}.{sorted(unknown)[0]}", "is not a fault rule field (id, match, action, "
                  "probability, times, after, window, ttl)")
    rule_id = raw.get("id")
    if rule_id is None:
        rule_id = next_id()
    if not isinstance(rule_id, str) or not rule_id or len(rule_id) > 200 or "/" in rule_id \
            or rule_id != rule_id.strip():
        # Ids appear in URLs (DELETE /_rivosim/faults/<id>): no slashes, no surrounding spaces.
        raise bad(f"{where}.id", "must be a non-empty string of at most 200 characters without '/'")
    match = parse_match(raw.get("match", {}), f"{where}.match")
    action = parse_action(raw.get("action"), f"{where}.action")
    probability = number(raw, "probability", where, high=1.0, required=False, default=1.0)
    times = raw.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
        raise bad(f"{where}.times", "must be a whole number >= 0")
    after = raw.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise bad(f"{where}.after", "must be a whole number >= 0 (matches to let through first)")
    start = end = expires = None
    window = raw.get("window")
    if window is not None:
        if not isinstance(window, Mapping) or set(window) - {"start", "end"}:
            raise bad(f"{where}.window", "must be {start?, end?} with ISO-8601 instants")
        try:
            start = parse_instant(window["start"]) if window.get("start") else None
            end = parse_instant(window["end"]) if window.get("end") else None
        except (TypeError, ValueError) as exc:
            raise bad(f"{where}.window", "start and end must be ISO-8601 instants") from exc
    if raw.get("ttl") is not None:
        try:
            expires = parse_duration(raw["ttl"]).after(now)
        except (TypeError, ValueError) as exc:
            raise bad(f"{where}.ttl", str(exc)) from exc
    rule = FaultRule(id=rule_id, match=match, action=action, probability=probability, times=times, after=after,
                     window_start=start, window_end=end, expires_at=expires, created_at=now, origin=origin)
    rule._stream = randomness.stream("fault", rule_id)
    if "load" in action:
        rule._load_window = parse_duration(action["load"]["window"]).seconds
    return rule
