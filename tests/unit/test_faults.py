"""Fault rules as data: validation that names the field, matching, limits, seeded draws, distributions."""

from __future__ import annotations

import math
from datetime import timedelta
from statistics import NormalDist, quantiles

import pytest

from rivosim.faults.fault_set import FaultSet, RequestFacts
from rivosim.kernel.clock import DEFAULT_START
from rivosim.kernel.errors import InvalidConfig
from rivosim.kernel.ids import Randomness

NOW = DEFAULT_START
GET_CUSTOMER = RequestFacts(api="rivo", route="rivo.customers.get", method="GET", shop="a.myshopify.com",
                            headers={"X-Test": "1"})
POST_POINTS = RequestFacts(api="rivo", route="rivo.points_events.create", method="POST", shop="a.myshopify.com",
                           headers={}, body={"source": "manual"})


def faults(seed: int = 1) -> FaultSet:
    return FaultSet(Randomness(seed))


@pytest.mark.parametrize(("raw", "field"), [
    ({"action": {"type": "explode"}}, "fault.action.type"),
    ({"action": {"type": "latency", "distribution": "fixed"}}, "fault.action.ms"),
    ({"action": {"type": "latency", "distribution": "uniform", "min_ms": 5, "max_ms": 1}}, "fault.action.min_ms"),
    ({"action": {"type": "latency", "distribution": "percentiles", "p50_ms": 10}}, "fault.action.p99_ms"),
    ({"action": {"type": "error", "status": 200}}, "fault.action.status"),
    ({"action": {"type": "timeout"}, "probability": 1.5}, "fault.probability"),
    ({"action": {"type": "timeout"}, "times": -1}, "fault.times"),
    ({"action": {"type": "timeout"}, "match": {"api": "stripe"}}, "fault.match.api"),
    ({"action": {"type": "timeout"}, "match": {"path": "/x"}}, "fault.match.path"),
    ({"action": {"type": "timeout"}, "ttl": "soon"}, "fault.ttl"),
    ({"action": {"type": "timeout"}, "colour": "red"}, "fault.colour"),
])
def test_invalid_rules_are_refused_naming_the_field(raw: dict, field: str) -> None:
    fs = faults()
    with pytest.raises(InvalidConfig) as info:
        fs.add(raw, NOW)
    assert info.value.field == field
    assert fs.rules == []


def test_matching_on_route_glob_method_shop_header_and_body() -> None:
    fs = faults()
    fs.add({"id": "r", "match": {"route": "rivo.customers.*", "method": "get", "header": {"x-test": "1"}},
            "action": {"type": "error", "status": 503}}, NOW)
    fs.add({"id": "b", "match": {"body": {"source": "manual"}, "shop": "a.myshopify.com"},
            "action": {"type": "reset"}}, NOW)
    assert fs.decide(GET_CUSTOMER, NOW).terminal.id == "r"
    assert fs.decide(POST_POINTS, NOW).terminal.id == "b"
    other_shop = RequestFacts(api="rivo", route="rivo.points_events.create", method="POST", shop="b.myshopify.com",
                              headers={}, body={"source": "manual"})
    assert fs.decide(other_shop, NOW).empty


def test_times_fires_exactly_that_often_and_after_lets_the_first_ones_through() -> None:
    fs = faults()
    fs.add({"action": {"type": "error", "status": 500}, "times": 2, "after": 1}, NOW)
    outcomes = [fs.decide(GET_CUSTOMER, NOW).terminal is not None for _ in range(6)]
    assert outcomes == [False, True, True, False, False, False]
    assert fs.rules[0].to_dict()["exhausted"] is True


def test_probability_zero_never_fires_and_probability_is_seeded() -> None:
    fs = faults()
    fs.add({"action": {"type": "timeout"}, "probability": 0}, NOW)
    assert all(fs.decide(GET_CUSTOMER, NOW).empty for _ in range(500))

    def run(seed: int) -> list[bool]:
        f = faults(seed)
        f.add({"id": "half", "action": {"type": "error", "status": 503}, "probability": 0.5}, NOW)
        return [f.decide(GET_CUSTOMER, NOW).terminal is not None for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert 60 < sum(run(7)) < 140


def test_window_and_ttl_bound_a_rule_in_simulator_time() -> None:
    fs = faults()
    fs.add({"id": "w", "action": {"type": "timeout"},
            "window": {"start": "2026-01-01T00:10:00Z", "end": "2026-01-01T00:20:00Z"}}, NOW)
    fs.add({"id": "t", "action": {"type": "latency", "ms": 50}, "ttl": "PT5M"}, NOW)
    assert fs.decide(GET_CUSTOMER, NOW).fired == ["t"]
    assert fs.decide(GET_CUSTOMER, NOW + timedelta(minutes=10)).fired == ["w"]
    assert [r.id for r in fs.rules] == ["w"]  # the ttl rule removed itself
    assert fs.decide(GET_CUSTOMER, NOW + timedelta(minutes=20)).empty


def test_latency_adds_up_and_the_first_terminal_rule_wins() -> None:
    fs = faults()
    fs.add({"action": {"type": "latency", "ms": 100}}, NOW)
    fs.add({"id": "e1", "action": {"type": "error", "status": 502}}, NOW)
    fs.add({"action": {"type": "latency", "ms": 50}}, NOW)
    fs.add({"id": "e2", "action": {"type": "reset"}}, NOW)
    decision = fs.decide(GET_CUSTOMER, NOW)
    assert decision.latency == pytest.approx(0.15)
    assert decision.terminal.id == "e1"
    assert "e2" not in decision.fired


def _percentile_samples(action: dict, n: int = 100_000) -> list[float]:
    fs = faults(3)
    fs.add({"action": {"type": "latency", **action}}, NOW)
    rule = fs.rules[0]
    return [rule.sample_latency() * 1000 for _ in range(n)]


def test_lognormal_percentiles_match_the_distribution() -> None:
    samples = _percentile_samples({"distribution": "lognormal", "median_ms": 120, "sigma": 0.5})
    cuts = quantiles(samples, n=100)
    p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    z = NormalDist()
    assert p50 == pytest.approx(120, rel=0.05)
    assert p95 == pytest.approx(120 * math.exp(0.5 * z.inv_cdf(0.95)), rel=0.05)
    assert p99 == pytest.approx(120 * math.exp(0.5 * z.inv_cdf(0.99)), rel=0.10)


def test_percentile_rule_reproduces_the_given_percentiles() -> None:
    samples = _percentile_samples({"distribution": "percentiles", "p50_ms": 80, "p99_ms": 900})
    cuts = quantiles(samples, n=100)
    assert cuts[49] == pytest.approx(80, rel=0.05)
    assert cuts[98] == pytest.approx(900, rel=0.10)


def test_other_distributions_stay_in_their_bounds() -> None:
    assert set(_percentile_samples({"distribution": "empirical", "samples_ms": [5, 10]}, 200)) == {5.0, 10.0}
    uniform = _percentile_samples({"distribution": "uniform", "min_ms": 10, "max_ms": 20}, 2000)
    assert min(uniform) >= 10 and max(uniform) <= 20
    capped = _percentile_samples({"distribution": "lognormal", "median_ms": 100, "sigma": 2, "cap_ms": 150}, 2000)
    assert max(capped) == 150
    assert min(_percentile_samples({"distribution": "normal", "mean_ms": 1, "stddev_ms": 50}, 2000)) >= 0


def test_remove_and_clear() -> None:
    fs = faults()
    fs.add({"id": "a", "action": {"type": "timeout"}, "match": {"shop": "a.myshopify.com"}}, NOW)
    fs.add({"id": "b", "action": {"type": "timeout"}, "match": {"shop": "b.myshopify.com"}}, NOW)
    with pytest.raises(InvalidConfig):
        fs.add({"id": "a", "action": {"type": "timeout"}}, NOW)
    fs.clear(shop="a.myshopify.com")
    assert [r.id for r in fs.rules] == ["b"]
    assert fs.remove("b").id == "b"
    with pytest.raises(KeyError):
        fs.remove("b")


# -- load-dependent latency --------------------------------------------------------------------------------------
LOADED = {"type": "latency", "ms": 100, "load": {"window": "PT1S", "per_request_ms": 150, "max_ms": 400}}


def test_load_latency_grows_with_the_requests_of_the_trailing_window_and_is_capped() -> None:
    fs = faults()
    fs.add({"id": "busy", "action": LOADED}, NOW)
    at = [NOW + timedelta(milliseconds=ms) for ms in (0, 100, 200, 300, 400)]
    # Each request adds 150 ms for every earlier one in the last second; the load adds at most 400 ms.
    assert [round(fs.decide(GET_CUSTOMER, t).latency * 1000) for t in at] == [100, 250, 400, 500, 500]
    # A second later only the requests of the last second count (simulator time, not call order).
    assert round(fs.decide(GET_CUSTOMER, NOW + timedelta(milliseconds=1350)).latency * 1000) == 100 + 150
    assert round(fs.decide(GET_CUSTOMER, NOW + timedelta(seconds=5)).latency * 1000) == 100


def test_load_is_counted_per_rule_and_only_from_requests_it_matches() -> None:
    fs = faults()
    fs.add({"id": "points", "match": {"route": "rivo.points_events.*"}, "action": LOADED}, NOW)
    fs.add({"id": "plain", "action": {"type": "latency", "ms": 10}}, NOW)
    for _ in range(5):
        assert round(fs.decide(GET_CUSTOMER, NOW).latency * 1000) == 10   # not the loaded rule's traffic
    assert round(fs.decide(POST_POINTS, NOW).latency * 1000) == 10 + 100
    assert round(fs.decide(POST_POINTS, NOW).latency * 1000) == 10 + 250


def test_load_counts_matched_requests_the_rule_did_not_fire_for() -> None:
    fs = faults()
    fs.add({"id": "busy", "action": LOADED, "after": 2}, NOW)
    assert fs.decide(GET_CUSTOMER, NOW).empty and fs.decide(GET_CUSTOMER, NOW).empty
    assert round(fs.decide(GET_CUSTOMER, NOW).latency * 1000) == 100 + 300   # two earlier requests in the window


def test_a_rule_without_load_ignores_traffic_and_to_dict_shows_the_load() -> None:
    fs = faults()
    plain = fs.add({"id": "plain", "action": {"type": "latency", "ms": 30}}, NOW)
    busy = fs.add({"id": "busy", "match": {"route": "none"}, "action": LOADED}, NOW)
    assert {round(fs.decide(GET_CUSTOMER, NOW).latency * 1000) for _ in range(5)} == {30}
    assert "load" not in plain.to_dict()["action"]
    assert busy.to_dict()["action"]["load"] == {"window": "PT1S", "per_request_ms": 150, "max_ms": 400}


@pytest.mark.parametrize(("load", "field", "needle"), [
    ("fast", "fault.action.load", "must be an object"),
    ({"per_request_ms": 10}, "fault.action.load.window", "is required"),
    ({"window": "soon", "per_request_ms": 10}, "fault.action.load.window", "ISO-8601"),
    ({"window": "P1M", "per_request_ms": 10}, "fault.action.load.window", "without months"),
    ({"window": "PT0S", "per_request_ms": 10}, "fault.action.load.window", "longer than 0"),
    ({"window": "PT1S"}, "fault.action.load.per_request_ms", "is required"),
    ({"window": "PT1S", "per_request_ms": -5}, "fault.action.load.per_request_ms", "must be a number"),
    ({"window": "PT1S", "per_request_ms": 5, "max_ms": "lots"}, "fault.action.load.max_ms", "must be a number"),
    ({"window": "PT1S", "per_request_ms": 5, "burst": 3}, "fault.action.load.burst", "is not a load field"),
])
def test_invalid_load_options_are_refused_naming_the_field(load: object, field: str, needle: str) -> None:
    fs = faults()
    with pytest.raises(InvalidConfig) as info:
        fs.add({"action": {"type": "latency", "ms": 10, "load": load}}, NOW)
    assert info.value.field == field
    assert needle in str(info.value)
    assert fs.rules == []


def test_only_latency_grows_with_load() -> None:
    with pytest.raises(InvalidConfig) as info:
        faults().add({"action": {"type": "error", "status": 503, "load": {"window": "PT1S", "per_request_ms": 5}}},
                     NOW)
    assert info.value.field == "fault.action.load"
