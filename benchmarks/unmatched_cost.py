"""What a wrong URL costs next to a routed one (issue 14: a client hammering wrong URLs must not eat the server):
in-process through the full pipeline, a matched GET customer against 404s for the same wrong path again and
again (its nearest-route hints are cached per path shape) and for random wrong paths (never cached). Interleaved
rounds, medians; target ≤ ~3x."""

from __future__ import annotations

import random
import string
import time
from collections.abc import Callable
from io import BytesIO

from ._common import Figure, median
from .http_load import CUSTOMERS

__all__ = ["run"]


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from werkzeug.test import EnvironBuilder

    from rivosim import Simulator, create_app
    from rivosim.transports.wsgi import call_app

    sim = Simulator(seed=1)
    shop = sim.create_shop({"domain": "wrong.myshopify.com", "customers": 100,
                            "rate_limits": {"rivo": {"enabled": False}}})
    app = create_app(sim)
    auth = {"Authorization": shop.credentials.rivo_api_key}
    customer = next(iter(shop.rivo.members))
    rnd = random.Random(1)

    def word() -> str:
        return "".join(rnd.choice(string.ascii_lowercase + "-_") for _ in range(rnd.randint(4, 14)))

    def random_wrong() -> str:
        kind = rnd.randrange(3)
        if kind == 0:
            return f"/merchant_api/v1/{word()}"
        if kind == 1:
            return f"/admin/api/2025-10/{word()}/{word()}.json"
        return f"/_rivosim/shops/wrong.myshopify.com/{word()}"

    n = 300 if quick else 1000

    def cost(paths: list[str]) -> float:
        environs = [EnvironBuilder(path=p, headers=auth).get_environ() for p in paths]
        started = time.perf_counter()
        for environ in environs:
            environ["wsgi.input"] = BytesIO()
            call_app(app, environ)
        return (time.perf_counter() - started) / len(paths) * 1e6

    kinds: dict[str, Callable[[], list[str]]] = {
        "matched GET": lambda: [f"{CUSTOMERS}/{customer}"] * n,
        "same wrong path": lambda: ["/merchant_api/v1/custmers/12345"] * n,
        "random wrong paths": lambda: [random_wrong() for _ in range(n)],
    }
    cost(kinds["matched GET"]()[:100] + kinds["same wrong path"]()[:20])  # warm-up
    results: dict[str, list[float]] = {k: [] for k in kinds}
    rounds = 1 if quick else 5
    for i in range(rounds):
        for kind, paths in kinds.items():
            results[kind].append(cost(paths()))
        say(f"  round {i + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:,.0f} µs" for k, v in results.items()))
    matched = median(results["matched GET"])
    figures = []
    for kind in ("same wrong path", "random wrong paths"):
        value = median(results[kind])
        figures.append(Figure(f"hostile: a 404 ({kind}) / a matched GET, in-process", f"{value:,.0f} µs",
                              f"{matched:,.0f} µs", f"{value / matched:.2f}x", "≤ ~3x", value / matched <= 3.0,
                              f"median of {rounds} interleaved rounds of {n}"))
    return figures
