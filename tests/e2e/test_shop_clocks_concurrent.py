"""Eight clients against one server, each in its own shop, each advancing its own clock a year in random steps:
what each one sees — its webhook deliveries, its API answers and its journal entries — is byte for byte what
the same client sees alone on a fresh server with the same seed (issue 15)."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import requests

from rivosim import Simulator, create_app
from rivosim.transports.server import Server
from tests.receiver import PostReceiver

SEED = 2026
CLIENTS = 8


class Inbox(PostReceiver):
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        super().__init__()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        self.got.append((headers.get("rivo-webhook-topic", "?"), body.decode()))
        return 200


def client(base: str, number: int) -> dict[str, Any]:
    """One test's whole life in its own shop: set up, then a year of its own time in random steps."""
    rng = random.Random(number)
    domain = f"client-{number}.myshopify.com"
    inbox = Inbox()
    http = requests.Session()
    seen: list[Any] = []
    try:
        made = http.post(f"{base}/_rivosim/shops", json={
            "domain": domain, "clock": {"start": f"2026-0{1 + number % 9}-15T00:00:00Z"},
            "api": {"new_customer_visibility_delay": 0},
            "program": {"expiry": {"enabled": True, "months": 3}}}).json()
        key = {"Authorization": made["rivo_api_key"]}
        for topic in ("customer/birthday", "notification/points_expiry_warning", "points_event/created"):
            assert http.post(f"{base}/merchant_api/v1/webhooks", headers=key,
                             json={"event_type": topic, "url": inbox.url}).status_code == 201
        ids = []
        for i in range(3):
            month, day = rng.randint(1, 12), rng.randint(1, 28)
            res = http.post(f"{base}/_rivosim/shops/{domain}/customers",
                            json={"email": f"c{i}@{domain}", "dob": f"{month:02d}-{day:02d}"})
            ids.append(res.json()["id"])
            http.post(f"{base}/_rivosim/shops/{domain}/orders", json={
                "customer_id": ids[-1], "paid": True,
                "line_items": [{"title": "Tea", "price": f"{rng.randint(5, 90)}.00", "quantity": 1}]})
        days = 0
        while days < 366:
            step = rng.randint(1, 45)
            days += step
            seen.append(http.post(f"{base}/_rivosim/shops/{domain}/clock/advance", json={"duration": f"P{step}D"})
                        .json()["now"])
            for cid in ids:
                seen.append(http.get(f"{base}/merchant_api/v1/customers/{cid}", headers=key).text)
        journal = http.get(f"{base}/_rivosim/journal", params={"shop": domain}).json()
        entries = journal["entries"] if isinstance(journal, dict) else journal
        comparable = [{k: v for k, v in e.items() if k not in ("seq", "duration_ms")} for e in entries]
        # The receiver's port is the one thing two runs cannot share.
        return json.loads(json.dumps({"answers": seen, "deliveries": list(inbox.got), "journal": comparable})
                          .replace(inbox.url, "http://receiver"))
    finally:
        inbox.close()
        http.close()


def serve() -> tuple[Server, str]:
    sim = Simulator(seed=SEED)
    server = Server(create_app(sim), tick=sim.tick).start()
    return server, server.url


def test_eight_clients_in_their_own_shops_see_what_each_sees_alone() -> None:
    server, base = serve()
    together: dict[int, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            together[number] = client(base, number)
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        server.stop()
    assert not errors, errors
    for number in range(CLIENTS):
        alone_server, alone_base = serve()
        try:
            alone = client(alone_base, number)
        finally:
            alone_server.stop()
        mine = together[number]
        assert mine["deliveries"], "each client's receiver got birthdays, expiry warnings and points events"
        assert {topic for topic, _ in mine["deliveries"]} >= {"customer/birthday",
                                                              "notification/points_expiry_warning"}
        assert json.dumps(mine, sort_keys=True) == json.dumps(alone, sort_keys=True), number
