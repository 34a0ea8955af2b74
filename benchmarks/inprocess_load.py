"""In-process mode (``mock_apis``), in this process:

- calls/s through ``mock_apis`` next to a bare ``responses`` callback that builds the WSGI environ and calls the
  same Flask app directly (no fault or transport handling), interleaved in pairs; the figure is the median of the
  per-pair ratios (robust to a busy machine, which moves both sides of a pair alike); target >= 85 %; and next
  to ``responses`` returning the app's answer as fixed bytes (information: the other clients' target is set
  against such a canned baseline; ``responses``' own round trip costs several times the app, so the app weighs
  less here than under httpx);
- latency fidelity in virtual time: 100,000 requests under a lognormal rule and 100,000 under a percentile rule;
  each request's latency is how far it moved the simulator clock. p50 and p95 within 5 % of the distribution's
  values, p99 within 10 % (for the percentile rule, against the percentiles it was given).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from statistics import quantiles
from typing import Any

from ._common import Figure, median

__all__ = ["bare_bridge", "calls_per_second", "fidelity", "run"]

LOGNORMAL = {"type": "latency", "distribution": "lognormal", "median_ms": 120, "sigma": 0.5}
PERCENTILES = {"type": "latency", "distribution": "percentiles", "p50_ms": 80, "p99_ms": 900}
RIVO = "https://developer-api.rivo.io/merchant_api/v1"


def _world(customers: int = 50) -> tuple[Any, str, int]:
    from rivosim import Simulator

    sim = Simulator(seed=7)
    shop = sim.create_shop({"rate_limits": {"rivo": {"enabled": False}}}, customers=customers)
    return sim, shop.credentials.rivo_api_key, shop.rivo.ordered_members()[0].id


def bare_bridge(app: Any) -> Any:
    """The baseline: a plain ``responses`` mock whose callback builds the environ and calls ``app``."""
    import responses

    from rivosim.transports.inprocess import environ_for

    def callback(request: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        captured: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return lambda data: None

        result = app(environ_for(request), start_response)
        body = b"".join(result)
        return int(captured[0][:3]), captured[1], body

    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.add_callback(responses.GET, re.compile(r"https://developer-api\.rivo\.io/.*"), callback=callback,
                      content_type=None)
    return mock


def canned_bridge(app: Any, url: str, key: str) -> Any:
    """A plain ``responses`` mock answering the app's answer to the benchmark's GET as fixed bytes (no app)."""
    import requests
    import responses

    from rivosim.transports.inprocess import environ_for
    from rivosim.transports.wsgi import call_app

    status, headers, body = call_app(app, environ_for(requests.Request("GET", url, headers={
        "Authorization": key}).prepare()))
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.add(responses.GET, re.compile(r"https://developer-api\.rivo\.io/.*"), body=body, status=int(status[:3]),
             headers={k: v for k, v in headers if k.lower() != "content-type"},
             content_type=dict(headers).get("Content-Type"))
    return mock


def calls_per_second(n: int, make_mock: Callable[[], Any], url: str, key: str) -> float:
    import requests

    with make_mock(), requests.Session() as session:
        headers = {"Authorization": key}
        for _ in range(50):
            session.get(url, headers=headers)
        t0 = time.perf_counter()
        for _ in range(n):
            resp = session.get(url, headers=headers)
        elapsed = time.perf_counter() - t0
        if resp.status_code != 200:
            raise RuntimeError(f"GET answered {resp.status_code}")
    return n / elapsed


def fidelity(action: dict[str, Any], n: int) -> tuple[float, float, float]:
    """p50/p95/p99 (ms) of ``n`` in-process requests' latency in virtual time under a rule with ``action``."""
    import requests

    from rivosim.transports.inprocess import mock_apis

    sim, key, cid = _world(5)
    shop = sim.shop_for_rivo_key(key)
    assert shop is not None
    sim.faults.add({"match": {"route": "rivo.customers.get"}, "action": action})
    url = f"{RIVO}/customers/{cid}"
    samples: list[float] = []
    with mock_apis(sim), requests.Session() as session:
        headers = {"Authorization": key}
        for _ in range(n):
            before = shop.clock.now()  # latency moves the shop's clock (only)
            session.get(url, headers=headers)
            samples.append((shop.clock.now() - before).total_seconds() * 1000)
    cuts = quantiles(samples, n=100)
    return cuts[49], cuts[94], cuts[98]


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from rivosim.faults.fault_set import distribution_percentile
    from rivosim.http.app import create_app
    from rivosim.transports.inprocess import mock_apis

    figures: list[Figure] = []
    sim, key, cid = _world()
    app = create_app(sim)
    url = f"{RIVO}/customers/{cid}"
    rounds, n = (3, 500) if quick else (7, 1500)
    got: dict[str, list[float]] = {"ours": [], "bare": [], "canned": []}
    makers = {"ours": lambda: mock_apis(sim, app=app), "bare": lambda: bare_bridge(app),
              "canned": lambda: canned_bridge(app, url, key)}
    for i in range(rounds):  # interleaved, alternating which side goes first
        for name in (("ours", "bare", "canned") if i % 2 == 0 else ("canned", "bare", "ours")):
            got[name].append(calls_per_second(n, makers[name], url, key))
        say(f"  round {i + 1}/{rounds}: mock_apis {got['ours'][-1]:,.0f} calls/s, bare responses callback "
            f"{got['bare'][-1]:,.0f} calls/s ({got['ours'][-1] / got['bare'][-1]:.0%}), canned responses "
            f"{got['canned'][-1]:,.0f} calls/s ({got['ours'][-1] / got['canned'][-1]:.0%})")
    ours = got["ours"]
    for base, what, target in (("bare", "bare responses bridge", 0.85), ("canned", "canned responses (fixed bytes, "
                                                                                 "no app)", None)):
        ratios = [a / b for a, b in zip(ours, got[base], strict=True)]
        ratio = median(ratios)
        figures.append(Figure(f"in-process calls/s: mock_apis / {what} (median of {rounds} rounds)",
                              f"{median(ours):,.0f}/s", f"{median(got[base]):,.0f}/s", f"{ratio:.0%}",
                              "≥ 85 %" if target else "info", (ratio >= target) if target else None,
                              "GET customer through requests; ratio = median of per-round ratios: "
                              + ", ".join(f"{r:.0%}" for r in ratios)))

    count = 20_000 if quick else 100_000
    for name, action, given in (("lognormal median 120 ms sigma 0.5", LOGNORMAL, None),
                                ("percentiles p50 80 / p99 900 ms", PERCENTILES, {0.50: 80.0, 0.99: 900.0})):
        t0 = time.perf_counter()
        measured = fidelity(action, count)
        expected = [given.get(q) if given and q in given else distribution_percentile(action, q)
                    for q in (0.50, 0.95, 0.99)]
        errors = [abs(m - e) / e for m, e in zip(measured, expected, strict=True)]
        ok = errors[0] <= 0.05 and errors[1] <= 0.05 and errors[2] <= 0.10
        say(f"  in-process {name}: p50/p95/p99 " + "/".join(f"{v:.1f}" for v in measured) + " ms vs "
            + "/".join(f"{v:.1f}" for v in expected) + f" ms ({count:,} requests, {time.perf_counter() - t0:.0f} s)")
        figures.append(Figure(f"in-process {name}: p50/p95/p99 ({count:,} requests, virtual time)",
                              "/".join(f"{v:.1f}" for v in measured) + " ms",
                              "/".join(f"{v:.1f}" for v in expected) + " ms",
                              "/".join(f"{e:+.1%}" for e in ((m - x) / x for m, x in zip(measured, expected,
                                                                                        strict=True))),
                              "p50/p95 ±5 %, p99 ±10 %", ok,
                              "p95 of the percentile rule: the fitted lognormal's" if given else ""))
    from . import clients_load  # httpx (sync, async) and aiohttp, each next to its own baselines

    figures += clients_load.run(quick, say)
    return figures
