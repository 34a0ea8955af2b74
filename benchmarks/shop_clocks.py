"""Per-shop clock figures (issue 15), each next to a baseline measured in the same run:

- advancing one shop by a year in a simulator holding 1,000 other shops of 1,000 customers each (a million
  customers; ``--quick``: 200 shops of 50) vs the same advance in a simulator holding only that shop (target
  <= 1.2x: a shop's advance costs O(its own due events), whatever else is there). The crowded world is seeded
  once (its seeding time and the process's RSS are printed); each round resets the shop first, so every
  advance starts from the same state;
- resetting one 100-customer shop (``Simulator.reset_shop``; target < 5 ms), next to creating that shop from
  scratch. The first reset of a shop seeds it anew and keeps a template; the figure is the median of the
  resets after it (the first one is printed beside).

Runs are interleaved (crowded, alone, crowded, ...) and the medians compared, as the machine is shared.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

from ._common import Figure, median

__all__ = ["run"]

TARGET = "target.myshopify.com"
DOC = {"domain": TARGET, "program": {"earning_rules": [
    {"trigger": "customer_birthday", "points_amount": 200}, {"trigger": "customer_anniversary", "points_amount": 300},
    {"trigger": "order_placed", "points_amount": 1}], "expiry": {"enabled": True, "months": 6}}}


def _world(others: int, customers: int) -> object:
    from rivosim import Simulator

    sim = Simulator(seed=3)
    for i in range(others):
        sim.create_shop({"domain": f"other-{i}.myshopify.com"}, customers=customers)
    sim.create_shop(DOC, customers=100)
    return sim


def _year(sim: object) -> float:
    sim.reset_shop(TARGET)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    sim.shop(TARGET).advance("P1Y")  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    others, customers, rounds = (200, 50, 5) if quick else (1000, 1000, 7)
    say(f"shop clocks: seeding {others} shops of {customers} customers …")
    t0 = time.perf_counter()
    crowded = _world(others, customers)
    say(f"  seeded in {time.perf_counter() - t0:.1f} s; peak RSS {_rss_mib():.0f} MiB")
    alone = _world(0, 0)
    crowd_s: list[float] = []
    alone_s: list[float] = []
    for _ in range(rounds):
        crowd_s.append(_year(crowded))
        alone_s.append(_year(alone))
    c, a = median(crowd_s), median(alone_s)
    ratio = c / a
    figures = [Figure(f"one shop advances P1Y among {others} shops", f"{c * 1000:.1f} ms", f"{a * 1000:.1f} ms alone",
                      f"{ratio:.2f}x", "<= 1.2x", ratio <= 1.2,
                      note=f"median of {rounds} interleaved runs; {others} shops of {customers} customers")]
    figures.append(_reset_figure(crowded, others + 1, say))
    return figures


def _reset_figure(crowded: object, held: int, say: Callable[[str], None]) -> Figure:
    from rivosim import Simulator

    fresh = {**DOC, "domain": "reset-me.myshopify.com"}
    crowded.create_shop(fresh, customers=100)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    crowded.reset_shop(fresh["domain"])  # type: ignore[attr-defined]
    first = time.perf_counter() - t0
    resets: list[float] = []
    creates: list[float] = []
    for i in range(21):
        crowded.shop(fresh["domain"]).advance("P30D")  # type: ignore[attr-defined]  # something to undo
        t0 = time.perf_counter()
        crowded.reset_shop(fresh["domain"])  # type: ignore[attr-defined]
        resets.append(time.perf_counter() - t0)
        sim = Simulator(seed=3)
        t0 = time.perf_counter()
        sim.create_shop({**DOC, "domain": f"fresh-{i}.myshopify.com"}, customers=100)
        creates.append(time.perf_counter() - t0)
    r, k = median(resets), median(creates)
    say(f"  first reset (seeds anew, keeps the template): {first * 1000:.1f} ms")
    return Figure("reset one 100-customer shop", f"{r * 1000:.2f} ms", f"{k * 1000:.2f} ms to create",
                  f"{r / k:.2f}x", "< 5 ms", r < 0.005,
                  note=f"median of 21 interleaved with creates, in a simulator holding {held + 1} shops; "
                       f"the first reset: {first * 1000:.0f} ms")
