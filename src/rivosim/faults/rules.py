"""What a fault rule document may say: the action kinds and their fields, the latency distributions and how they
are drawn, and the checks that refuse a bad rule naming the field (``fault.action.load.window: …``). The rules
in force and the per-request decision live in :mod:`rivosim.faults.fault_set`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

from rivosim.kernel.clock import parse_duration
from rivosim.kernel.errors import InvalidConfig

__all__ = ["ACTIONS", "APIS", "DISTRIBUTIONS", "ESCAPE_ROUTES", "MALFORMED_MODES", "TERMINAL", "THEN",
           "WRITE_METHODS", "bad", "distribution_percentile", "number", "parse_action", "parse_match",
           "percentile_draw"]

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


def bad(where: str, message: str) -> InvalidConfig:
    return InvalidConfig(f"{where}: {message}", field=where)


def number(raw: Mapping[str, Any], key: str, where: str, *, low: float = 0.0, high: float = math.inf,
           required: bool = True, default: float | None = None) -> float:
    if key not in raw:
        if required:
            raise bad(f"{where}.{key}", "is required")
        return default if default is not None else 0.0
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"{where}.{key}", f"must be a number from {low:g} to {high:g}")
    return float(value)


def parse_match(raw: Any, where: str) -> dict[str, Any]:
    """A rule's ``match``: which requests it applies to (api, route glob, method, shop, header, body)."""
    if not isinstance(raw, Mapping):
        raise bad(where, "must be an object")
    unknown = set(raw) - {"api", "route", "method", "shop", "header", "body"}
    if unknown:
        raise bad(f"{where}.{sorted(unknown)[0]}", "is not a match field (api, route, method, shop, header, "
                  "body)")
    out = dict(raw)
    if "api" in out and out["api"] not in APIS:
        raise bad(f"{where}.api", "must be rivo, shopify or control")
    if "method" in out:
        if not isinstance(out["method"], str):
            raise bad(f"{where}.method", "must be an HTTP method")
        out["method"] = out["method"].upper()
    for key in ("route", "shop"):
        if key in out and not isinstance(out[key], str):
            raise bad(f"{where}.{key}", "must be a string" + (" (glob allowed: rivo.customers.*)"
                                                              if key == "route" else ""))
    for key in ("header", "body"):
        if key in out and not isinstance(out[key], Mapping):
            raise bad(f"{where}.{key}", "must be an object of name: value")
    return out


def parse_action(raw: Any, where: str) -> dict[str, Any]:
    """A rule's ``action``, checked and with its defaults filled in."""
    if not isinstance(raw, Mapping) or raw.get("type") not in ACTIONS:
        raise bad(f"{where}.type", f"must be one of {', '.join(ACTIONS)}")
    a = dict(raw)
    kind = a["type"]
    if "message" in a and not isinstance(a["message"], str):
        raise bad(f"{where}.message", "must be a string (the error detail the client sees)")
    if kind == "latency":
        dist = a.setdefault("distribution", "fixed")
        if dist not in DISTRIBUTIONS:
            raise bad(f"{where}.distribution", f"must be one of {', '.join(DISTRIBUTIONS)}")
        hi = 600_000.0
        if dist == "fixed":
            number(a, "ms", where, high=hi)
        elif dist == "uniform":
            if number(a, "min_ms", where, high=hi) > number(a, "max_ms", where, high=hi):
                raise bad(f"{where}.min_ms", "must not exceed max_ms")
        elif dist == "normal":
            number(a, "mean_ms", where, high=hi)
            number(a, "stddev_ms", where, high=hi)
        elif dist == "lognormal":
            number(a, "median_ms", where, low=1e-6, high=hi)
            number(a, "sigma", where, high=10)
        elif dist == "percentiles":
            p50 = number(a, "p50_ms", where, low=1e-6, high=hi)
            if "p99_ms" not in a and "p95_ms" not in a:
                raise bad(f"{where}.p99_ms", "give p99_ms or p95_ms next to p50_ms")
            for key in ("p95_ms", "p99_ms"):
                if key in a and number(a, key, where, high=hi) < p50:
                    raise bad(f"{where}.{key}", "must be >= p50_ms")
            if "p95_ms" in a and "p99_ms" in a and a["p99_ms"] < a["p95_ms"]:
                raise bad(f"{where}.p99_ms", "must be >= p95_ms")
        else:
            samples = a.get("samples_ms")
            if not isinstance(samples, list) or not samples or not all(
                    isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= hi for s in samples):
                raise bad(f"{where}.samples_ms", "must be a non-empty list of millisecond values")
        if "cap_ms" in a:
            number(a, "cap_ms", where, high=hi)
        if "load" in a:
            a["load"] = _parse_load(a["load"], f"{where}.load")
    elif "load" in a:
        raise bad(f"{where}.load", "only a latency action grows with load")
    if kind in ("error", "commit_then_fail"):
        status = a.setdefault("status", 500 if kind == "commit_then_fail" else 503)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise bad(f"{where}.status", "must be an HTTP status from 400 to 599")
        if "retry_after" in a:
            number(a, "retry_after", where, high=86400)
        if kind == "commit_then_fail" and a.setdefault("then", "error") not in THEN:
            raise bad(f"{where}.then", f"must be one of {', '.join(THEN)} (what the client meets after the "
                      "change is applied)")
    elif kind == "timeout":
        if "seconds" in a:
            number(a, "seconds", where, high=3600)
    elif kind == "malformed_body":
        if a.setdefault("mode", "truncated") not in MALFORMED_MODES:
            raise bad(f"{where}.mode", f"must be one of {', '.join(MALFORMED_MODES)}")
    elif kind == "slow_body":
        a["chunk_size"] = int(number(a, "chunk_size", where, low=1, high=1 << 20, required=False, default=16))
        number(a, "interval_ms", where, high=60_000, required=False, default=100)
        a.setdefault("interval_ms", 100)
    elif kind == "read_after_write_lag":
        number(a, "seconds", where, low=0.001, high=86400)
    return a


def _parse_load(raw: Any, where: str) -> dict[str, Any]:
    """``{window, per_request_ms, max_ms?}``: the window a fixed duration of simulator time (PT1S, PT1M)."""
    if not isinstance(raw, Mapping):
        raise bad(where, "must be an object {window, per_request_ms, max_ms?}")
    unknown = set(raw) - {"window", "per_request_ms", "max_ms"}
    if unknown:
        raise bad(f"{where}.{sorted(unknown)[0]}", "is not a load field (window, per_request_ms, max_ms)")
    if "window" not in raw:
        raise bad(f"{where}.window", "is required: the trailing span of simulator time whose requests count "
                  "(PT1S, PT1M)")
    try:
        window = parse_duration(raw["window"])
    except (TypeError, ValueError) as exc:
        raise bad(f"{where}.window", str(exc)) from exc
    if window.months or not 0 < window.seconds <= 86400:
        raise bad(f"{where}.window", "must be longer than 0 and at most a day, without months or years (PT1S, "
                  "PT1M)")
    out = dict(raw)
    number(out, "per_request_ms", where, high=600_000.0)
    if "max_ms" in out:
        number(out, "max_ms", where, high=600_000.0)
    return out


def percentile_draw(a: Mapping[str, Any], z: float) -> float:
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
        ms = percentile_draw(action, z)
    else:
        raise ValueError("only lognormal and percentile rules have closed-form percentiles")
    cap = action.get("cap_ms")
    return float(min(ms, cap) if cap is not None else ms)
