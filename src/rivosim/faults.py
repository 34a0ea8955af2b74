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
"""

from __future__ import annotations

import fnmatch
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

from .clock import parse_duration, parse_instant
from .errors import InvalidConfig
from .ids import Randomness

__all__ = ["ACTIONS", "Decision", "FaultRule", "FaultSet", "LagEntry", "ReadLag", "RequestFacts",
           "distribution_percentile", "validate_rules"]

ACTIONS = ("latency", "error", "timeout", "reset", "empty_reply", "malformed_body", "slow_body",
           "commit_then_fail", "read_after_write_lag")
TERMINAL = frozenset(ACTIONS) - {"latency", "read_after_write_lag"}
DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal", "percentiles", "empirical")
MALFORMED_MODES = ("truncated", "invalid", "html", "cut")
THEN = ("error", "timeout", "reset", "empty_reply")  # how a commit_then_fail rule fails after committing
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
APIS = ("rivo", "shopify", "control")
# The way out: a broad control-API rule must not lock you out of removing it (or of resetting). These routes are
# faulted only by a rule that names them exactly.
ESCAPE_ROUTES = frozenset({"control.faults.list", "control.faults.create", "control.faults.clear",
                           "control.faults.get", "control.faults.delete", "control.reset"})
_Z95 = NormalDist().inv_cdf(0.95)
_Z99 = NormalDist().inv_cdf(0.99)


def _bad(where: str, message: str) -> InvalidConfig:
    return InvalidConfig(f"{where}: {message}", field=where)


def _number(raw: Mapping[str, Any], key: str, where: str, *, low: float = 0.0, high: float = math.inf,
            required: bool = True, default: float | None = None) -> float:
    if key not in raw:
        if required:
            raise _bad(f"{where}.{key}", "is required")
        return default if default is not None else 0.0
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(f"{where}.{key}", f"must be a number from {low:g} to {high:g}")
    return float(value)


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
            ms = _percentile_draw(a, rng.gauss(0.0, 1.0))
        else:  # empirical
            ms = a["samples_ms"][rng.randrange(len(a["samples_ms"]))]
        if cap is not None:
            ms = min(ms, cap)
        grow = a.get("load")
        if load and grow is not None:
            extra = grow["per_request_ms"] * load
            ms += min(extra, grow["max_ms"]) if "max_ms" in grow else extra
        return float(ms) / 1000.0


def _percentile_draw(a: Mapping[str, Any], z: float) -> float:
    """A piecewise lognormal through every given percentile: ``p50 * exp(s1 * z)`` up to the 95th percentile,
    then on from p95 with the slope that lands on p99. With only p95 or only p99 it is one lognormal."""
    median = float(a["p50_ms"])
    p95, p99 = a.get("p95_ms"), a.get("p99_ms")
    if p95 is None:
        return median * math.exp(math.log(p99 / median) / _Z99 * z)
    low = math.log(p95 / median) / _Z95
    if z <= _Z95 or p99 is None:
        return median * math.exp(low * z)
    high = math.log(p99 / p95) / (_Z99 - _Z95)
    return float(p95) * math.exp(high * (z - _Z95))


def distribution_percentile(action: Mapping[str, Any], q: float) -> float:
    """The configured distribution's ``q`` quantile in ms (lognormal and percentile rules): what benchmarks and
    tests compare measured latencies with."""
    z = NormalDist().inv_cdf(q)
    if action.get("distribution") == "lognormal":
        ms = action["median_ms"] * math.exp(action["sigma"] * z)
    elif action.get("distribution") == "percentiles":
        ms = _percentile_draw(action, z)
    else:
        raise ValueError("only lognormal and percentile rules have closed-form percentiles")
    cap = action.get("cap_ms")
    return float(min(ms, cap) if cap is not None else ms)


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
            raise _bad(f"{where}.id", f"a rule with id {rule.id!r} already exists")
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
                    raise _bad(f"{where}[{i}].id", f"a rule with id {rule.id!r} already exists")
                parsed.append(rule)
        except InvalidConfig:
            self._seq = seq
            raise
        self.rules.extend(parsed)
        self._changed()
        return parsed

    def parse(self, raw: Any, now: datetime, *, where: str = "fault", origin: str = "api") -> FaultRule:
        if not isinstance(raw, Mapping):
            raise _bad(where, "a fault rule must be an object")
        unknown = set(raw) - {"id", "match", "action", "probability", "times", "after", "window", "ttl"}
        if unknown:
            raise _bad(f"{where}.{sorted(unknown)[0]}", "is not a fault rule field (id, match, action, "
                       "probability, times, after, window, ttl)")
        rule_id = raw.get("id")
        if rule_id is None:
            self._seq += 1
            rule_id = f"fault-{self._seq}"
        if not isinstance(rule_id, str) or not rule_id or len(rule_id) > 200 or "/" in rule_id \
                or rule_id != rule_id.strip():
            # Ids appear in URLs (DELETE /_rivosim/faults/<id>): no slashes, no surrounding spaces.
            raise _bad(f"{where}.id", "must be a non-empty string of at most 200 characters without '/'")
        match = self._parse_match(raw.get("match", {}), f"{where}.match")
        action = self._parse_action(raw.get("action"), f"{where}.action")
        probability = _number(raw, "probability", where, high=1.0, required=False, default=1.0)
        times = raw.get("times")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
            raise _bad(f"{where}.times", "must be a whole number >= 0")
        after = raw.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise _bad(f"{where}.after", "must be a whole number >= 0 (matches to let through first)")
        start = end = expires = None
        window = raw.get("window")
        if window is not None:
            if not isinstance(window, Mapping) or set(window) - {"start", "end"}:
                raise _bad(f"{where}.window", "must be {start?, end?} with ISO-8601 instants")
            try:
                start = parse_instant(window["start"]) if window.get("start") else None
                end = parse_instant(window["end"]) if window.get("end") else None
            except (TypeError, ValueError) as exc:
                raise _bad(f"{where}.window", "start and end must be ISO-8601 instants") from exc
        if raw.get("ttl") is not None:
            try:
                expires = parse_duration(raw["ttl"]).after(now)
            except (TypeError, ValueError) as exc:
                raise _bad(f"{where}.ttl", str(exc)) from exc
        rule = FaultRule(id=rule_id, match=match, action=action, probability=probability, times=times, after=after,
                         window_start=start, window_end=end, expires_at=expires, created_at=now, origin=origin)
        rule._stream = self._randomness.stream("fault", rule_id)
        if "load" in action:
            rule._load_window = parse_duration(action["load"]["window"]).seconds
        return rule

    @staticmethod
    def _parse_match(raw: Any, where: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise _bad(where, "must be an object")
        unknown = set(raw) - {"api", "route", "method", "shop", "header", "body"}
        if unknown:
            raise _bad(f"{where}.{sorted(unknown)[0]}", "is not a match field (api, route, method, shop, header, "
                       "body)")
        out = dict(raw)
        if "api" in out and out["api"] not in APIS:
            raise _bad(f"{where}.api", "must be rivo, shopify or control")
        if "method" in out:
            if not isinstance(out["method"], str):
                raise _bad(f"{where}.method", "must be an HTTP method")
            out["method"] = out["method"].upper()
        for key in ("route", "shop"):
            if key in out and not isinstance(out[key], str):
                raise _bad(f"{where}.{key}", "must be a string" + (" (glob allowed: rivo.customers.*)"
                                                                  if key == "route" else ""))
        for key in ("header", "body"):
            if key in out and not isinstance(out[key], Mapping):
                raise _bad(f"{where}.{key}", "must be an object of name: value")
        return out

    @staticmethod
    def _parse_action(raw: Any, where: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping) or raw.get("type") not in ACTIONS:
            raise _bad(f"{where}.type", f"must be one of {', '.join(ACTIONS)}")
        a = dict(raw)
        kind = a["type"]
        if "message" in a and not isinstance(a["message"], str):
            raise _bad(f"{where}.message", "must be a string (the error detail the client sees)")
        if kind == "latency":
            dist = a.setdefault("distribution", "fixed")
            if dist not in DISTRIBUTIONS:
                raise _bad(f"{where}.distribution", f"must be one of {', '.join(DISTRIBUTIONS)}")
            hi = 600_000.0
            if dist == "fixed":
                _number(a, "ms", where, high=hi)
            elif dist == "uniform":
                if _number(a, "min_ms", where, high=hi) > _number(a, "max_ms", where, high=hi):
                    raise _bad(f"{where}.min_ms", "must not exceed max_ms")
            elif dist == "normal":
                _number(a, "mean_ms", where, high=hi)
                _number(a, "stddev_ms", where, high=hi)
            elif dist == "lognormal":
                _number(a, "median_ms", where, low=1e-6, high=hi)
                _number(a, "sigma", where, high=10)
            elif dist == "percentiles":
                p50 = _number(a, "p50_ms", where, low=1e-6, high=hi)
                if "p99_ms" not in a and "p95_ms" not in a:
                    raise _bad(f"{where}.p99_ms", "give p99_ms or p95_ms next to p50_ms")
                for key in ("p95_ms", "p99_ms"):
                    if key in a and _number(a, key, where, high=hi) < p50:
                        raise _bad(f"{where}.{key}", "must be >= p50_ms")
                if "p95_ms" in a and "p99_ms" in a and a["p99_ms"] < a["p95_ms"]:
                    raise _bad(f"{where}.p99_ms", "must be >= p95_ms")
            else:
                samples = a.get("samples_ms")
                if not isinstance(samples, list) or not samples or not all(
                        isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= hi for s in samples):
                    raise _bad(f"{where}.samples_ms", "must be a non-empty list of millisecond values")
            if "cap_ms" in a:
                _number(a, "cap_ms", where, high=hi)
            if "load" in a:
                a["load"] = _parse_load(a["load"], f"{where}.load")
        elif "load" in a:
            raise _bad(f"{where}.load", "only a latency action grows with load")
        if kind in ("error", "commit_then_fail"):
            status = a.setdefault("status", 500 if kind == "commit_then_fail" else 503)
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
                raise _bad(f"{where}.status", "must be an HTTP status from 400 to 599")
            if "retry_after" in a:
                _number(a, "retry_after", where, high=86400)
            if kind == "commit_then_fail" and a.setdefault("then", "error") not in THEN:
                raise _bad(f"{where}.then", f"must be one of {', '.join(THEN)} (what the client meets after the "
                           "change is applied)")
        elif kind == "timeout":
            if "seconds" in a:
                _number(a, "seconds", where, high=3600)
        elif kind == "malformed_body":
            if a.setdefault("mode", "truncated") not in MALFORMED_MODES:
                raise _bad(f"{where}.mode", f"must be one of {', '.join(MALFORMED_MODES)}")
        elif kind == "slow_body":
            a["chunk_size"] = int(_number(a, "chunk_size", where, low=1, high=1 << 20, required=False, default=16))
            _number(a, "interval_ms", where, high=60_000, required=False, default=100)
            a.setdefault("interval_ms", 100)
        elif kind == "read_after_write_lag":
            _number(a, "seconds", where, low=0.001, high=86400)
        return a

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


def _parse_load(raw: Any, where: str) -> dict[str, Any]:
    """``{window, per_request_ms, max_ms?}``: the window a fixed duration of simulator time (PT1S, PT1M)."""
    if not isinstance(raw, Mapping):
        raise _bad(where, "must be an object {window, per_request_ms, max_ms?}")
    unknown = set(raw) - {"window", "per_request_ms", "max_ms"}
    if unknown:
        raise _bad(f"{where}.{sorted(unknown)[0]}", "is not a load field (window, per_request_ms, max_ms)")
    if "window" not in raw:
        raise _bad(f"{where}.window", "is required: the trailing span of simulator time whose requests count "
                   "(PT1S, PT1M)")
    try:
        window = parse_duration(raw["window"])
    except (TypeError, ValueError) as exc:
        raise _bad(f"{where}.window", str(exc)) from exc
    if window.months or not 0 < window.seconds <= 86400:
        raise _bad(f"{where}.window", "must be longer than 0 and at most a day, without months or years (PT1S, "
                   "PT1M)")
    out = dict(raw)
    _number(out, "per_request_ms", where, high=600_000.0)
    if "max_ms" in out:
        _number(out, "max_ms", where, high=600_000.0)
    return out


def validate_rules(raws: Any, where: str = "faults") -> None:
    """Check a list of rules as the parser would (for configuration documents), naming ``where[i].field``."""
    if not isinstance(raws, list):
        raise _bad(where, "must be a list of fault rules")
    probe = FaultSet(Randomness(0))
    probe.add_all(raws, datetime(2026, 1, 1, tzinfo=UTC), where=where)


def lag_until(rule: FaultRule, now: datetime) -> datetime:
    return now + timedelta(seconds=float(rule.action["seconds"]))


# -- read-after-write lag ----------------------------------------------------------------------------------------
@dataclass(slots=True)
class LagEntry:
    """One lagged write: until ``until``, reads of the customer show ``member`` (a copy taken before the write)
    and hide ledger records whose id is above the ``watermarks`` of that moment."""

    until: datetime
    member: Any
    watermarks: dict[str, int | None]


class ReadLag:
    """Lagged writes by shop and customer id. Reads show the state before the oldest write still in its window
    (its copy is the state after every earlier, already visible, write)."""

    def __init__(self) -> None:
        self._shops: dict[str, dict[int, list[LagEntry]]] = {}

    def __bool__(self) -> bool:
        return bool(self._shops)

    def add(self, shop: str, customer_id: int, entry: LagEntry) -> None:
        self._shops.setdefault(shop, {}).setdefault(customer_id, []).append(entry)

    def view(self, shop: str, now: datetime) -> dict[int, LagEntry] | None:
        """Customer id -> the entry reads must show now, or None when nothing of ``shop`` lags."""
        by_customer = self._shops.get(shop)
        if not by_customer:
            return None
        out: dict[int, LagEntry] = {}
        for cid in list(by_customer):
            live = [e for e in by_customer[cid] if e.until > now]
            if live:
                by_customer[cid] = live
                out[cid] = live[0]
            else:
                del by_customer[cid]
        if not by_customer:
            del self._shops[shop]
        return out or None

    def forget(self, shop: str | None = None) -> None:
        if shop is None:
            self._shops.clear()
        else:
            self._shops.pop(shop, None)
