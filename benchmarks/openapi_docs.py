"""The OpenAPI documents: what building all three costs (they are built lazily, on the first request for one,
and kept), and whether serving them slows the API's other requests — a GET customer's median latency in-process
alone vs. with a document fetched after every 10th request (same run, interleaved rounds)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ._common import Figure, median

__all__ = ["run"]


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from rivosim import Simulator, create_app
    from rivosim.http.openapi import APIS, document_bytes

    builds: list[float] = []
    apps: list[float] = []
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter()
        app = create_app(Simulator(seed=1))
        t1 = time.perf_counter()
        for api in APIS:
            document_bytes(app, api)
        builds.append(time.perf_counter() - t1)
        apps.append(t1 - t0)
    build, make_app = median(builds), median(apps)
    say(f"  build all three documents: {', '.join(f'{b * 1000:.0f}' for b in builds)} ms")

    sim = Simulator(seed=1)
    app = create_app(sim)
    client = app.test_client()
    created = client.post("/_rivosim/shops", json={"customers": 50, "rate_limits": {"rivo": {"enabled": False}}})
    key = created.get_json()["rivo_api_key"]
    first = client.get("/merchant_api/v1/customers", headers={"Authorization": key}).get_json()["data"][0]["id"]
    path, headers = f"/merchant_api/v1/customers/{first}", {"Authorization": key}
    n = 300 if quick else 2000

    def round_(with_docs: bool) -> float:
        times = []
        for i in range(n):
            if with_docs and i % 10 == 0:
                client.get(f"/_rivosim/openapi/{APIS[i // 10 % 3]}.json")
            t = time.perf_counter()
            client.get(path, headers=headers)
            times.append(time.perf_counter() - t)
        sim.journal.clear()
        return median(times)

    plain, mixed = [], []
    for _ in range(3):
        plain.append(round_(False))
        mixed.append(round_(True))
    p, m = median(plain), median(mixed)
    say(f"  GET customer median: alone {p * 1e6:.0f} µs, among document fetches {m * 1e6:.0f} µs")
    return [
        Figure("build the three OpenAPI documents (lazily, once per app)", f"{build * 1000:.0f} ms",
               f"create_app {make_app * 1000:.0f} ms", f"{build / make_app:.2f}x", "< 1 s", build < 1.0,
               "built on the first request for one, then served from memory"),
        Figure("GET customer median latency among document fetches", f"{m * 1e6:.0f} µs", f"alone {p * 1e6:.0f} µs",
               f"{m / p:.2f}x", "≤ 1.1x", m / p <= 1.1),
    ]
