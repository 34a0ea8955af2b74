"""Keeps ``benchmarks/`` from rotting: imports every module and runs the cheapest pieces with tiny sizes."""

from __future__ import annotations

import dataclasses
import importlib
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A real wrk --latency report from the POST script, with p50 edited to microseconds and error lines added.
WRK_SAMPLE = """\
Running 1s test @ http://127.0.0.1:18124/merchant_api/v1/points_events
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.62ms    1.32ms  24.88ms   94.84%
    Req/Sec     3.52k    80.20     3.62k    63.64%
  Latency Distribution
     50%  850.00us
     75%    4.74ms
     90%    4.87ms
     99%    7.45ms
  3846 requests in 1.10s, 529.58KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 6
Requests/sec:   3496.09
Transfer/sec:    481.40KB
status 201: 3840
status 500: 6
"""


def _bench(name: str) -> ModuleType:
    if str(ROOT) not in sys.path:  # `pytest` run without `python -m` does not put the repo root on sys.path
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"benchmarks.{name}")


def test_benchmarks_smoke() -> None:
    http_load = _bench("http_load")
    seeding = _bench("seeding")
    servers = _bench("_servers")
    _bench("startup")
    main = _bench("__main__")

    # wrk parsing: the numbers in the sample, units converted to milliseconds.
    res = http_load.parse_wrk(WRK_SAMPLE)
    assert res.rps == 3496.09
    assert res.requests == 3846
    assert res.p50_ms == pytest.approx(0.85)
    assert res.p99_ms == pytest.approx(7.45)
    assert res.statuses == {201: 3840, 500: 6}
    assert (res.non_2xx, res.socket_errors) == (6, 3)
    with pytest.raises(ValueError):
        http_load.parse_wrk("wrk: command not found")
    assert http_load.LUA_POST.is_file()

    # Seeding, tiny: both sides build every customer; lookups and pages answer 200 with full pages.
    riv = seeding.measure_rivosim(2000, lookups=20, pages=5)
    assert riv["count"] == 2000 and riv["seconds"] > 0
    assert riv["big_by_id"] > 0 and riv["small_by_email"] > 0
    assert riv["big_list_items"] == 25 and riv["small_list_items"] == 25
    base = seeding.measure_baseline(2000)
    assert base["count"] == 2000 and base["seconds"] > 0

    # The baseline's dicts carry exactly the fields of the records seeding builds.
    from rivosim.domain.rivo.models import Member
    from rivosim.domain.shopify.models import ShopifyCustomer

    firsts, lasts = seeding._pools()
    customers, members, *_ = seeding.build_plain(3, firsts, lasts, random.Random(0), datetime(2026, 1, 1, tzinfo=UTC))
    cid = next(iter(members))
    assert set(members[cid]) == {f.name for f in dataclasses.fields(Member)}
    assert set(customers[cid]) == {f.name for f in dataclasses.fields(ShopifyCustomer)}

    # The ceiling app replays captured bytes exactly.
    captured = {"get": {"status": 200, "headers": [["Content-Type", "application/json"]], "body": '{"a":1}'},
                "post": {"status": 201, "headers": [["Content-Type", "application/json"]], "body": '{"b":2}'}}
    client = servers.create_bare_app(captured).test_client()
    assert client.get("/merchant_api/v1/customers/7").get_data() == b'{"a":1}'
    resp = client.post("/merchant_api/v1/points_events", json={"x": 1})
    assert (resp.status_code, resp.get_data()) == (201, b'{"b":2}')

    # The table marks a missed target.
    table = main.format_table([main.Figure("x", "1", "2", "0.5x", "≥ 70 %", False),
                               main.Figure("y", "1", "1", "1.00x", "info", None)])
    assert "MISS" in table.splitlines()[2] and "pass" not in table


def test_scenarios_benchmark_sides_do_the_same_work() -> None:
    """The runner and the direct baseline of ``benchmarks scenarios`` end in the same world (a few customers)."""
    scenarios_load = _bench("scenarios_load")
    main = _bench("__main__")
    assert "scenarios" in main.SECTIONS

    out = scenarios_load.compare(8, 30.0)
    runner, direct = out["runner"], out["direct"]
    assert out["problems"] == []
    assert runner.passed and runner.steps == direct.steps == out["steps"] == scenarios_load.expected_steps(8)
    assert runner.state == direct.state
    state = runner.state
    assert (state.customers, state.orders, state.paid_orders, state.ledger_events) == (8, 8, 8, 32)
    # Sign-up 100 + order 25 + follow 50 + the adjustment, per customer: all four tiers of adjustment landed.
    assert state.points_total == sum(175 + scenarios_load.adjustment(i) for i in range(8))
    assert {name for name, _ in state.tiers} == {"Bronze", "Silver", "Gold"}

    # A difference in the worlds is reported, not averaged away.
    other = dataclasses.replace(state, ledger_events=state.ledger_events + 1)
    assert state.differences(other) == ["ledger_events: 32 vs 33"]
