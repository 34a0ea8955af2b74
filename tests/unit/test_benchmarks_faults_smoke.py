"""Keeps the faults and in-process benchmarks from rotting: their rules parse, none of the "100 non-matching
rules" matches the benchmarked request, and the in-process measurements run at tiny sizes."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from rivosim.faults.fault_set import FaultSet, RequestFacts
from rivosim.kernel.clock import DEFAULT_START
from rivosim.kernel.ids import Randomness

ROOT = Path(__file__).resolve().parents[2]


def _bench(name: str) -> ModuleType:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"benchmarks.{name}")


def test_hundred_rules_never_match_the_benchmarked_request() -> None:
    faults_load = _bench("faults_load")
    rules = FaultSet(Randomness(1))
    rules.add_all(faults_load.hundred_rules(), DEFAULT_START)
    assert len(rules) == 100
    facts = RequestFacts("rivo", "rivo.customers.get", "GET", "bench.myshopify.com", {})
    assert rules.candidates("rivo", "rivo.customers.get", "GET", "bench.myshopify.com") == ()
    assert rules.decide(facts, DEFAULT_START).empty


def test_in_process_measurements_run() -> None:
    inprocess_load = _bench("inprocess_load")
    p50, p95, p99 = inprocess_load.fidelity(inprocess_load.LOGNORMAL, 200)
    assert 0 < p50 < p95 < p99
    sim, key, cid = inprocess_load._world(3)
    from rivosim.http.app import create_app
    from rivosim.transports.inprocess import mock_apis

    app = create_app(sim)
    url = f"{inprocess_load.RIVO}/customers/{cid}"
    assert inprocess_load.calls_per_second(20, lambda: mock_apis(sim, app=app), url, key) > 0
    assert inprocess_load.calls_per_second(20, lambda: inprocess_load.bare_bridge(app), url, key) > 0
    assert inprocess_load.calls_per_second(20, lambda: inprocess_load.canned_bridge(app, url, key), url, key) > 0
