"""The fast read (``http/rivo/fast.py``) answers GET customer exactly as Flask's path does: random request
sequences through two simulators of one seed, one app with the fast read and one without, give the same status,
headers and body for every request, and the same journal (durations aside), clock, fault decisions, state, trigger
log and webhook deliveries; and the fast read did serve most of the GETs it could."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from rivosim import Simulator, create_app
from rivosim.transports.wsgi import call_app, wsgi_environ

CUSTOMERS = "/merchant_api/v1/customers"
FAULT = {"id": "flaky", "match": {"route": "rivo.customers.get"}, "probability": 0.4,
         "action": {"type": "error", "status": 503}}
LAG = {"id": "lag", "match": {"route": "rivo.points_events.create"}, "times": 1,
       "action": {"type": "read_after_write_lag", "seconds": 20}}


class World:
    def __init__(self, seed: int, fast: bool) -> None:
        self.sim = Simulator(seed=seed)
        self.app = create_app(self.sim)
        if not fast:
            self.app.fast_reads = None
        self.answers: list[Any] = []

    def call(self, method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
             body: Any = None) -> tuple[str, list[tuple[str, str]], bytes]:
        raw = json.dumps(body).encode() if body is not None else b""
        hdrs = {**(headers or {}), **({"Content-Type": "application/json"} if body is not None else {})}
        answer = call_app(self.app, wsgi_environ(method, path, query, hdrs, raw, host="127.0.0.1", port=8000))
        self.answers.append(answer)
        return answer

    def control(self, method: str, path: str, body: Any = None) -> Any:
        status, _, out = self.call(method, "/_rivosim" + path, body=body)
        assert status[:1] == "2", (path, status, out)
        return json.loads(out) if out else None

    def outcome(self) -> Any:
        sim = self.sim
        shops = {}
        for domain, shop in sorted(sim.shops.items()):
            shops[domain] = (sorted((m.id, m.email, m.points_tally, str(m.credits_tally), m.loyalty_status)
                                    for m in shop.rivo.ordered_members()),
                             [t.to_dict() for t in sim.triggers.log(domain).items])
        deliveries = [d.to_dict() for d in sim.outbox.list()]
        for delivery in deliveries:  # measured durations, and an error message naming an object's address, aside
            for attempt in delivery["attempts"]:
                attempt["error"] = (attempt["error"] or "").split(":")[0]
                del attempt["duration_ms"]
        return ([e.comparable() for e in sim.journal.entries()], shops, deliveries, sim.now().isoformat())


def _script(rng: random.Random, steps: int) -> list[tuple[str, Any]]:
    kinds = ["get"] * 10 + ["get_other"] * 2 + ["fault_off"] * 3 + ["advance"] * 2 + [
        "post", "put", "fault_on", "limits", "lag", "hook", "bad_key", "bearer", "email", "missing"]
    return [(rng.choice(kinds), rng.random()) for _ in range(steps)]


def _run(world: World, script: list[tuple[str, Any]]) -> None:
    created = [world.control("POST", "/shops", {"domain": f"s{i}.myshopify.com", "customers": 4,
                                                 "rate_limits": {"rivo": {"enabled": i == 1}}}) for i in range(2)]
    ids: list[list[int]] = []
    for shop in created:
        _, _, body = world.call("GET", CUSTOMERS, "pagination[per_page]=10",
                                headers={"Authorization": shop["rivo_api_key"]})
        ids.append([int(c["id"]) for c in json.loads(body)["data"]])
    for kind, x in script:
        i = 0 if x < 0.7 else 1
        key = created[i]["rivo_api_key"]
        cid = ids[i][int(x * 1000) % len(ids[i])]
        auth = {"Authorization": key}
        if kind in ("get", "get_other"):
            query = "" if kind == "get" else "x=1"
            world.call("GET", f"{CUSTOMERS}/{cid}", query, headers=auth)
        elif kind == "post":
            world.call("POST", "/merchant_api/v1/points_events", headers=auth,
                       body={"customer_identifier": str(cid), "source": "manual", "points_amount": 5,
                             "credits_amount": 0})
        elif kind == "put":
            world.call("PUT", f"{CUSTOMERS}/{cid}", headers=auth, body={"first_name": f"N{int(x * 100)}"})
        elif kind == "advance":
            world.control("POST", "/clock/advance", {"seconds": round(x * 90, 3)})
        elif kind == "fault_on":
            world.call("POST", "/_rivosim/faults", body=FAULT)  # a 422 when it is there already
        elif kind == "fault_off":
            world.control("DELETE", "/faults")
        elif kind == "limits":
            world.call("PATCH", f"/_rivosim/shops/{created[i]['domain']}", body=
                       {"rate_limits": {"rivo": {"enabled": x < 0.5, "rate": 2, "burst": 3}}})
        elif kind == "lag":
            world.call("POST", "/_rivosim/faults", body=LAG)
        elif kind == "hook":
            world.call("POST", "/merchant_api/v1/webhooks", headers=auth,
                       body={"topic": "points_event/created", "url": "http://127.0.0.1:9/hook"})
        elif kind == "bad_key":
            world.call("GET", f"{CUSTOMERS}/{cid}", headers={"Authorization": key + "x"})
        elif kind == "bearer":
            world.call("GET", f"{CUSTOMERS}/{cid}", headers={"Authorization": "Bearer " + key})
        elif kind == "email":
            world.call("GET", f"{CUSTOMERS}/nobody%40example.com", headers=auth)
        elif kind == "missing":
            world.call("GET", f"{CUSTOMERS}/{cid + 1_000_000}", headers=auth)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_fast_read_changes_nothing(seed: int) -> None:
    script = _script(random.Random(seed), 200)
    fast, slow = World(seed, fast=True), World(seed, fast=False)
    _run(fast, script)
    _run(slow, script)
    assert len(fast.answers) == len(slow.answers)
    for n, (a, b) in enumerate(zip(fast.answers, slow.answers, strict=True)):
        assert a == b, f"request {n}: {a!r} != {b!r}"
    assert fast.outcome() == slow.outcome()
    assert fast.app.fast_reads.served >= 5  # type: ignore[union-attr]  # (most GETs meet a fault rule or lag)
    assert slow.sim.bugs.total == fast.sim.bugs.total == 0


def test_fast_read_takes_plain_gets_only() -> None:
    world = World(7, fast=True)
    shop = world.control("POST", "/shops", {"customers": 2, "rate_limits": {"rivo": {"enabled": False}}})
    auth = {"Authorization": shop["rivo_api_key"]}
    [first, *_] = json.loads(world.call("GET", CUSTOMERS, headers=auth)[2])["data"]
    fast = world.app.fast_reads
    assert fast is not None
    for _ in range(5):
        assert world.call("GET", f"{CUSTOMERS}/{first['id']}", headers=auth)[0] == "200 OK"
    assert fast.served == 5
    assert world.call("GET", f"{CUSTOMERS}/{first['id']}", headers={"Authorization": "nope"})[0][:3] == "401"
    assert world.call("GET", f"{CUSTOMERS}/123", headers=auth)[0][:3] == "404"
    world.control("POST", "/faults", {"match": {"route": "rivo.points_events.list"}, "action": {"type": "error"}})
    assert world.call("GET", f"{CUSTOMERS}/{first['id']}", headers=auth)[0] == "200 OK"
    assert fast.served == 5  # any fault rule at all: Flask's path
    entries = [e for e in world.sim.journal.entries() if e.api == "rivo"][-3:]
    assert [(e.route, e.status) for e in entries] == [("rivo.customers.get", 401), ("rivo.customers.get", 404),
                                                     ("rivo.customers.get", 200)]
