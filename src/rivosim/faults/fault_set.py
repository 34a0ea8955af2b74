"""Fault rules as data: a match (api, route name, method, shop, header, body field), an action (latency,
error status, timeout, reset, empty reply, malformed or slow body, commit-then-fail, read-after-write lag) and
limits (probability, times, after, window, ttl). The pipeline asks ``FaultSet.decide`` once per request.

Every draw comes from the rule's own stream of the simulator's seed, so the same seed and the same request
sequence give the same faults, whatever other rules or shops do.

Being ready must cost nothing: ``candidates(api, route, method, shop)`` answers from a cache keyed by those four
(the rules whose static match could apply), so a request that no rule names costs one dict lookup however many
rules are in force. Control API requests only meet rules that say ``api: control``; read-after-write lag rules only
fire on writes (POST, PUT, PATCH, DELETE).

A latency action may grow with load: ``"load": {"window": "PT1S", "per_request_ms": 150, "max_ms": 5000}`` adds
``per_request_ms`` for every earlier request the rule matched whose arrival lies in the trailing ``window`` of
simulator time (per rule), at most ``max_ms`` — a platform that slows down while a burst of calls is in flight.

What a rule document may say (and how a bad one is refused) is :mod:`rivosim.faults.rules`; the read-after-write
lag a rule starts is kept in :mod:`rivosim.faults.read_lag`.
"""

from __future__ import annotations

import fnmatch
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rivosim.faults.rules import (
    ACTIONS,
    ESCAPE_ROUTES,
    TERMINAL,
    WRITE_METHODS,
    bad,
    distribution_percentile,
    number,
    parse_action,
    parse_match,
    percentile_draw,
)
from rivosim.kernel.clock import parse_duration, parse_instant
from rivosim.kernel.errors import InvalidConfig
from rivosim.kernel.ids import Randomness

# ACTIONS, WRITE_METHODS and distribution_percentile are re-exported: they belong to the rule documents
# (fault_rules) but callers know them from here.
__all__ = ["ACTIONS", "WRITE_METHODS", "Decision", "FaultRule", "FaultSet", "RequestFacts", "distribution_percentile",
           "validate_rules"]


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


_NO_RULES: tuple[FaultRule, ...] = ()


class FaultSet:
    """The rules in force, in the order they were added (the first terminal rule that fires wins).

    ``now`` (a callable) lets ``add``/``decide`` default to the simulator's clock; the pipeline passes the
    request's arrival time explicitly.
    """

    def __init__(self, randomness: Randomness, now: Callable[[], datetime] | None = None) -> None:
        self._randomness = randomness
        self._now = now
        self.rules: list[FaultRule] = []
        self._seq = 0
        self._cache: dict[tuple[str, str | None, str, str | None], tuple[FaultRule, ...]] = {}
        self._next_expiry: datetime | None = None

    def __len__(self) -> int:
        return len(self.rules)

    def _clock(self, now: datetime | None) -> datetime:
        if now is not None:
            return now
        if self._now is None:
            raise TypeError("this FaultSet has no clock: pass now=")
        return self._now()

    def _changed(self) -> None:
        self._cache.clear()
        expiries = [r.expires_at for r in self.rules if r.expires_at is not None]
        self._next_expiry = min(expiries) if expiries else None

    def add(self, raw: Mapping[str, Any] | None = None, now: datetime | None = None, *, where: str = "fault",
            origin: str = "api", **fields: Any) -> FaultRule:
        """Add one rule: ``add({"match": …, "action": …})`` or ``add(match=…, action=…, times=2)``."""
        rule = self.parse({**(raw or {}), **fields}, self._clock(now), where=where, origin=origin)
        if any(r.id == rule.id for r in self.rules):
            raise bad(f"{where}.id", f"a rule with id {rule.id!r} already exists")
        self.rules.append(rule)
        self._changed()
        return rule

    def add_all(self, raws: Iterable[Any], now: datetime | None = None, *, where: str = "faults",
                origin: str = "api", id_prefix: str = "") -> list[FaultRule]:
        """Add a list of rules, all or nothing (the first bad one is refused naming ``where[i].field``)."""
        now = self._clock(now)
        seq = self._seq
        parsed: list[FaultRule] = []
        try:
            for i, raw in enumerate(raws):
                if id_prefix and isinstance(raw, Mapping) and "id" not in raw:
                    raw = {**raw, "id": f"{id_prefix}{i + 1}"}
                rule = self.parse(raw, now, where=f"{where}[{i}]", origin=origin)
                if any(r.id == rule.id for r in self.rules) or any(r.id == rule.id for r in parsed):
                    raise bad(f"{where}[{i}].id", f"a rule with id {rule.id!r} already exists")
                parsed.append(rule)
        except InvalidConfig:
            self._seq = seq
            raise
        self.rules.extend(parsed)
        self._changed()
        return parsed

    def parse(self, raw: Any, now: datetime, *, where: str = "fault", origin: str = "api") -> FaultRule:
        if not isinstance(raw, Mapping):
            raise bad(where, "a fault rule must be an object")
        unknown = set(raw) - {"id", "match", "action", "probability", "times", "after", "window", "ttl"}
        if unknown:
            raise bad(f"{where}.{sorted(unknown)[0]}", "is not a fault rule field (id, match, action, "
                      "probability, times, after, window, ttl)")
        rule_id = raw.get("id")
        if rule_id is None:
            self._seq += 1
            rule_id = f"fault-{self._seq}"
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
        rule._stream = self._randomness.stream("fault", rule_id)
        if "load" in action:
            rule._load_window = parse_duration(action["load"]["window"]).seconds
        return rule

    # -- control -------------------------------------------------------------------------------------
    def get(self, rule_id: str) -> FaultRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def remove(self, rule_id: str) -> FaultRule:
        for i, rule in enumerate(self.rules):
            if rule.id == rule_id:
                removed = self.rules.pop(i)
                self._changed()
                return removed
        raise KeyError(rule_id)

    def clear(self, shop: str | None = None, *, origin: str | None = None) -> int:
        """Remove every rule (``shop``: only that shop's; ``origin``: only rules from there). Returns how many."""
        before = len(self.rules)
        self.rules = [r for r in self.rules
                      if not ((shop is None or r.match.get("shop") == shop) and (origin is None or r.origin == origin))]
        self._changed()
        return before - len(self.rules)

    def replace_origin(self, origin: str, raws: Iterable[Any], now: datetime | None = None, *, where: str = "faults",
                       scope: Mapping[str, Any] | None = None, id_prefix: str = "") -> list[FaultRule]:
        """Swap the rules that came from ``origin`` (a shop document, say) for ``raws``; all or nothing.
        ``scope`` adds match fields to every rule (a shop's own rules match only that shop)."""
        kept = [r for r in self.rules if r.origin != origin]
        previous, self.rules = self.rules, kept
        try:
            scoped = [{**raw, "match": {**(raw.get("match") or {}), **scope}} if scope and isinstance(raw, Mapping)
                      and isinstance(raw.get("match", {}), Mapping) else raw for raw in raws]
            return self.add_all(scoped, now, where=where, origin=origin, id_prefix=id_prefix)
        except InvalidConfig:
            self.rules = previous
            self._changed()
            raise

    def list(self, now: datetime | None = None) -> list[FaultRule]:
        """The rules in force (rules whose ttl passed are dropped first)."""
        if self._next_expiry is not None:
            self._expire(self._clock(now))
        return list(self.rules)

    # -- the per-request decision ----------------------------------------------------------------------
    def candidates(self, api: str, route: str | None, method: str, shop: str | None = None
                   ) -> tuple[FaultRule, ...]:
        """The rules whose api/route/method/shop could match: cached, so unnamed requests cost one lookup."""
        if not self.rules:
            return _NO_RULES
        key = (api, route, method, shop)
        found = self._cache.get(key)
        if found is None:
            found = tuple(r for r in self.rules if r.could_apply(api, route, method, shop))
            if len(self._cache) >= 4096:  # many shops: start over rather than grow without bound
                self._cache.clear()
            self._cache[key] = found
        return found

    def decide(self, facts: RequestFacts, now: datetime | None = None) -> Decision:
        now = self._clock(now)
        if not self.rules:
            return Decision()
        if self._next_expiry is not None and now >= self._next_expiry:
            self._expire(now)
        return self.decide_among(self.candidates(facts.api, facts.route, facts.method, facts.shop), facts, now)

    def decide_among(self, candidates: tuple[FaultRule, ...], facts: RequestFacts, now: datetime) -> Decision:
        """Decide among ``candidates`` (from :meth:`candidates`) for one request."""
        decision = Decision()
        if self._next_expiry is not None and now >= self._next_expiry:
            self._expire(now)
        shop = facts.shop
        for rule in candidates:
            m = rule.match
            if ("shop" in m and m["shop"] != shop) or not rule.active(now):
                continue
            if ("header" in m or "body" in m) and not rule.matches_request(facts):
                continue
            rule.matched += 1
            # Every request the rule matches is traffic, whether or not the rule fires for it.
            load = rule.note_load(now) if rule._load_window is not None else 0
            if rule.matched <= rule.after:
                continue
            if rule.kind in TERMINAL and decision.terminal is not None:
                continue
            if rule.probability < 1.0 and rule._stream.random() >= rule.probability:
                continue
            rule.fired += 1
            decision.fired.append(rule.id)
            if rule.kind == "latency":
                decision.latency += rule.sample_latency(load)
            elif rule.kind == "read_after_write_lag":
                decision.lag = decision.lag or rule
            else:
                decision.terminal = rule
        return decision

    def _expire(self, now: datetime) -> None:
        if any(r.expires_at is not None and now >= r.expires_at for r in self.rules):
            self.rules = [r for r in self.rules if r.expires_at is None or now < r.expires_at]
            self._changed()


def validate_rules(raws: Any, where: str = "faults") -> None:
    """Check a list of rules as the parser would (for configuration documents), naming ``where[i].field``."""
    if not isinstance(raws, list):
        raise bad(where, "must be a list of fault rules")
    probe = FaultSet(Randomness(0))
    probe.add_all(raws, datetime(2026, 1, 1, tzinfo=UTC), where=where)


