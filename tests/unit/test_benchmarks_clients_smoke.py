"""The in-process clients benchmark (``benchmarks/clients_load.py``) runs each side and measures what it claims,
tiny: every side answers 200, the figures name their targets, and concurrent async requests under a latency rule on a
wall clock all answer, through rivosim and through the canned baseline that awaits the same second."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_clients_benchmark_sides_run() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    bench = importlib.import_module("benchmarks.clients_load")
    from rivosim.http.app import create_app

    sim, key, cid = bench._world()
    app = create_app(sim)
    url = f"{bench.RIVO}/customers/{cid}"
    transports = bench._httpx_transports(sim, app, url, key)
    mocks = bench._aiohttp_mocks(sim, app, url, key)
    for side in bench.SIDES:
        assert bench._httpx_sync(transports[side], url, key, 3) > 0
        assert bench._httpx_async(transports[side], url, key, 3) > 0
        assert bench._aiohttp(mocks[side], url, key, 3) > 0
    assert bench._app_alone(app, url, key, 3) > 0
    figures, app_rate = bench._pairs("httpx sync", lambda side: bench._httpx_sync(transports[side], url, key, 3),
                                     lambda: bench._app_alone(app, url, key, 3), 1, lambda line: None)
    assert [f.target.split(" (")[0] for f in figures] == ["≥ 85 %", "≥ 85 %", "info"] and app_rate > 0
    for client in ("httpx", "aiohttp"):
        for side in ("rivosim", "canned"):
            elapsed, cpu = bench._concurrent(client, 20, side)
            assert elapsed > 0.9 and cpu > 0  # every one of them waited the rule's second
        elapsed, cpu = bench._concurrent(client, 20, "app")
        assert 0 < elapsed < 0.9 and cpu > 0  # the app alone does not wait
    assert [f.target for f in bench._concurrency("httpx", 5, 1, lambda line: None)] == [
        "≈ 1 s (≤ 1.15 s)", "≤ 1.15x", "≤ 1.15x"]
