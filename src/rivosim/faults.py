"""Fault rules as data: a match (api, route name, method, shop, header, body field), an action (latency,
error status, timeout, reset, empty reply, malformed or slow body, commit-then-fail, read-after-write lag) and
limits (probability, times, after, window, ttl). The pipeline asks ``FaultSet.decide`` once per request.

Every draw comes from the rule's own stream of the simulator's seed, so the same seed and the same request
sequence give the same faults, whatever other rules or shops do.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any

from .clock import parse_duration, parse_instant
from .errors import InvalidConfig
from .ids import Randomness

__all__ = ["ACTIONS", "Decision", "FaultRule", "FaultSet", "RequestFacts"]

ACTIONS = ("latency", "error", "timeout", "reset", "empty_reply", "malformed_body", "slow_body",
           "commit_then_fail", "read_after_write_lag")
TERMINAL = frozenset(ACTIONS) - {"latency", "read_after_write_lag"}
DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal", "percentiles", "empirical")
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
    matched: int = 0
    fired: int = 0
    _stream: Any = field(default=None, repr=False)

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
            "matched": self.matched, "fired": self.fired,
            "exhausted": self.times is not None and self.fired >= self.times,
        }

    # -- matching ------------------------------------------------------------------------------------
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
        lowered = {k.lower(): v for k, v in facts.headers.items()} if "header" in m else {}
        for name, value in (m.get("header") or {}).items():
            if lowered.get(name.lower()) != value:
                return False
        for name, value in (m.get("body") or {}).items():
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
    def sample_latency(self) -> float:
        """Seconds of latency from this rule's distribution (its own seeded stream)."""
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
            median, sigma = _fit_percentiles(a)
            ms = median * math.exp(sigma * rng.gauss(0.0, 1.0))
        else:  # empirical
            ms = a["samples_ms"][rng.randrange(len(a["samples_ms"]))]
        if cap is not None:
            ms = min(ms, cap)
        return float(ms) / 1000.0


def _fit_percentiles(a: Mapping[str, Any]) -> tuple[float, float]:
    """A lognormal through the given percentiles: median = p50; sigma from p99 (else p95)."""
    median = float(a["p50_ms"])
    if "p99_ms" in a:
        return median, math.log(a["p99_ms"] / median) / _Z99
    return median, math.log(a["p95_ms"] / median) / _Z95


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


class FaultSet:
    """The rules in force, in the order they were added (the first terminal rule that fires wins)."""

    def __init__(self, randomness: Randomness) -> None:
        self._randomness = randomness
        self.rules: list[FaultRule] = []
        self._seq = 0

    def add(self, raw: Mapping[str, Any], now: datetime, *, where: str = "fault") -> FaultRule:
        rule = self.parse(raw, now, where=where)
        if any(r.id == rule.id for r in self.rules):
            raise _bad(f"{where}.id", f"a rule with id {rule.id!r} already exists")
        self.rules.append(rule)
        return rule

    def parse(self, raw: Any, now: datetime, *, where: str = "fault") -> FaultRule:
        if not isinstance(raw, Mapping):
            raise _bad(where, "a fault rule must be an object")
        unknown = set(raw) - {"id", "match", "action", "probability", "times", "after", "window", "ttl"}
        if unknown:
            raise _bad(f"{where}.{sorted(unknown)[0]}", "is not a fault rule field (id, match, action, "
                       "probability, times, after, window, ttl)")
        self._seq += 1
        rule_id = raw.get("id", f"fault-{self._seq}")
        if not isinstance(rule_id, str) or not rule_id:
            raise _bad(f"{where}.id", "must be a non-empty string")
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
            except ValueError as exc:
                raise _bad(f"{where}.ttl", str(exc)) from exc
        rule = FaultRule(id=rule_id, match=match, action=action, probability=probability, times=times, after=after,
                         window_start=start, window_end=end, expires_at=expires, created_at=now)
        rule._stream = self._randomness.stream("fault", rule_id)
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
        if "api" in out and out["api"] not in ("rivo", "shopify", "control"):
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
            else:
                samples = a.get("samples_ms")
                if not isinstance(samples, list) or not samples or not all(
                        isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= hi for s in samples):
                    raise _bad(f"{where}.samples_ms", "must be a non-empty list of millisecond values")
            if "cap_ms" in a:
                _number(a, "cap_ms", where, high=hi)
        elif kind in ("error", "commit_then_fail"):
            status = a.setdefault("status", 500 if kind == "commit_then_fail" else 503)
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
                raise _bad(f"{where}.status", "must be an HTTP status from 400 to 599")
            if "retry_after" in a:
                _number(a, "retry_after", where, high=86400)
        elif kind == "timeout":
            if "seconds" in a:
                _number(a, "seconds", where, high=3600)
        elif kind == "malformed_body":
            if a.setdefault("mode", "truncated") not in ("truncated", "invalid"):
                raise _bad(f"{where}.mode", "must be truncated or invalid")
        elif kind == "slow_body":
            a["chunk_size"] = int(_number(a, "chunk_size", where, low=1, high=1 << 20, required=False, default=16))
            _number(a, "interval_ms", where, high=60_000, required=False, default=100)
            a.setdefault("interval_ms", 100)
        elif kind == "read_after_write_lag":
            _number(a, "seconds", where, low=0.001, high=86400)
        return a

    # -- control -------------------------------------------------------------------------------------
    def remove(self, rule_id: str) -> FaultRule:
        for i, rule in enumerate(self.rules):
            if rule.id == rule_id:
                return self.rules.pop(i)
        raise KeyError(rule_id)

    def clear(self, shop: str | None = None) -> None:
        self.rules = [r for r in self.rules if shop is not None and r.match.get("shop") != shop]

    # -- the per-request decision ----------------------------------------------------------------------
    def decide(self, facts: RequestFacts, now: datetime) -> Decision:
        decision = Decision()
        if not self.rules:
            return decision
        self._expire(now)
        for rule in self.rules:
            if not rule.active(now) or not rule.matches(facts):
                continue
            rule.matched += 1
            if rule.matched <= rule.after:
                continue
            if rule.kind in TERMINAL and decision.terminal is not None:
                continue
            if rule.probability < 1.0 and rule._stream.random() >= rule.probability:
                continue
            rule.fired += 1
            decision.fired.append(rule.id)
            if rule.kind == "latency":
                decision.latency += rule.sample_latency()
            elif rule.kind == "read_after_write_lag":
                decision.lag = decision.lag or rule
            else:
                decision.terminal = rule
        return decision

    def _expire(self, now: datetime) -> None:
        if any(r.expires_at is not None and now >= r.expires_at for r in self.rules):
            self.rules = [r for r in self.rules if r.expires_at is None or now < r.expires_at]


def lag_until(rule: FaultRule, now: datetime) -> datetime:
    return now + timedelta(seconds=float(rule.action["seconds"]))
