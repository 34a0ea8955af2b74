"""Lifecycle and webhook figures (issue 3), each next to a baseline measured in the same run:

- signed webhook deliveries per second to a local receiver vs a plain ``requests.post`` loop to the same
  receiver with the same bodies (target >= 80 %);
- ``advance("P1Y")`` for 10,000 customers whose program fires nothing vs one pass over those customers calling a
  no-op (target within 20x: a year of idle days costs O(days), not O(customers x days));
- the same year with birthdays and anniversaries earning, next to making the same earnings directly (info:
  what the clock machinery adds on top of the work itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from ._common import Figure

__all__ = ["run"]

RULES_OFF = [{"trigger": "order_placed", "points_amount": 1}]
RULES_ON = [{"trigger": "customer_birthday", "points_amount": 200},
            {"trigger": "customer_anniversary", "points_amount": 300}]


def _receiver() -> Any:
    from rivosim.transports.server import Server

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    return Server(app).start()


def _deliveries(n: int, say: Callable[[str], None]) -> list[Figure]:
    from rivosim import Simulator

    server = _receiver()
    url = server.url + "/hooks"
    try:
        sim = Simulator(seed=1)
        shop = sim.create_shop({"domain": "bench-hooks.myshopify.com", "webhooks": {"signing": "both"}},
                               customers=50)
        shop.rivo.create_subscription({"event_type": "points_event/created", "url": url})
        members = list(shop.rivo.members)
        for i in range(n):
            shop.rivo.create_points_event({"customer_identifier": members[i % len(members)], "source": "manual",
                                           "points_amount": 1, "credits_amount": 0})
        bodies = [d.body for d in sim.outbox.list(shop=shop.domain)]
        say(f"  delivering {n} signed webhooks…")
        started = time.perf_counter()
        sim.run_until_idle()
        ours = n / (time.perf_counter() - started)
        delivered = len(sim.outbox.list(shop=shop.domain, status="delivered"))
        session = requests.Session()
        started = time.perf_counter()
        for body in bodies:
            session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=5).close()
        plain = n / (time.perf_counter() - started)
    finally:
        server.stop()
    ratio = ours / plain
    return [Figure("signed deliveries/s vs plain requests.post", f"{ours:,.0f}/s", f"{plain:,.0f}/s",
                   f"{ratio:.0%}", ">= 80 %", ratio >= 0.8 and delivered == n,
                   note=f"{delivered}/{n} delivered; signing 'both' (rivo-signature + Standard-Webhooks)")]


def _year(customers: int, say: Callable[[str], None]) -> list[Figure]:
    from rivosim import Simulator

    def noop(_: object) -> None:
        pass

    figures = []
    sim = Simulator(seed=2)
    shop = sim.create_shop({"domain": "bench-year.myshopify.com", "program": {"earning_rules": RULES_OFF}},
                           customers=customers)
    members = list(shop.rivo.members.values())
    started = time.perf_counter()
    for member in members:
        noop(member)
    one_pass = time.perf_counter() - started
    say(f"  advancing one simulated year for {customers:,} idle customers…")
    started = time.perf_counter()
    sim.advance("P1Y")
    idle_year = time.perf_counter() - started
    ratio = idle_year / one_pass
    figures.append(Figure(f"advance P1Y, {customers:,} customers (idle)", f"{idle_year * 1000:.1f} ms",
                          f"{one_pass * 1000:.2f} ms (one pass)", f"{ratio:.1f}x", "<= 20x", ratio <= 20))

    sim = Simulator(seed=2)
    shop = sim.create_shop({"domain": "bench-year.myshopify.com", "program": {"earning_rules": RULES_ON}},
                           customers=customers)
    say(f"  advancing one simulated year for {customers:,} customers with birthdays and anniversaries…")
    started = time.perf_counter()
    sim.advance("P1Y")
    busy_year = time.perf_counter() - started
    earned = sum(1 for e in shop.rivo.points_events.values() if e.source in ("customer_birthday",
                                                                              "customer_anniversary"))
    sim2 = Simulator(seed=2)
    shop2 = sim2.create_shop({"domain": "bench-year.myshopify.com", "program": {"earning_rules": RULES_ON}},
                             customers=customers)
    members2 = list(shop2.rivo.members.values())
    started = time.perf_counter()
    for i in range(earned):
        member = members2[i % len(members2)]
        shop2.rivo.earn(member, "customer_birthday" if i % 2 else "customer_anniversary")
    direct = time.perf_counter() - started
    figures.append(Figure(f"advance P1Y, {customers:,} customers (celebrating)", f"{busy_year * 1000:.0f} ms",
                          f"{direct * 1000:.0f} ms ({earned:,} direct earns)", f"{busy_year / direct:.2f}x", "info",
                          None, note="what the daily tick, indexes and timers add on top of the earnings"))
    return figures


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    return [*_deliveries(500 if quick else 2000, say), *_year(10_000, say)]
