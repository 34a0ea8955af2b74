"""Extending ``LoyaltyMachine`` with your own workflow, as its docstring shows: a points-sync receiver that keeps
a local copy of balances from ``points_event/created`` deliveries (de-duplicating by webhook id, keeping only
the newest event's balance), a rule that flushes deliveries, and an invariant that the copy matches Rivo."""

from __future__ import annotations

import json

from hypothesis.stateful import invariant, rule

from rivosim.testing import LoyaltyMachine
from rivosim.webhooks.senders import OutgoingRequest


class PointsSyncMachine(LoyaltyMachine):
    SUBSCRIBE = ("points_event/created", "customer/joined")

    def on_setup(self) -> None:
        self.store: dict[int, tuple[int, int]] = {}  # customer id -> (points event id, balance)
        self.seen: set[str] = set()

    def on_delivery(self, request: OutgoingRequest) -> int:
        if not self.receiver_healthy:
            return 503
        webhook_id = request.headers["rivo-webhook-id"]
        if webhook_id in self.seen:
            return 200
        self.seen.add(webhook_id)
        if request.headers["rivo-webhook-topic"] == "points_event/created":
            body = json.loads(request.body)
            cid = body["customer"]["id"]
            event_id = body["id"][-1]  # webhooks carry the composite [shop_id, event_id]
            if event_id > self.store.get(cid, (0, 0))[0]:
                self.store[cid] = (event_id, body["customer"]["points_tally"])
        return 200

    @rule()
    def sync_now(self) -> None:
        self.receiver_healthy = True
        self.run_until_idle()  # a rule of the base machine, used as a method: time moves, boundaries checked

    @invariant()
    def store_matches_rivo(self) -> None:
        if not self._ready:
            return
        resp = self.control("GET", "/webhooks/deliveries", query={"shop": self.DOMAIN, "body": "false",
                                                                  "topic": "points_event/created"})
        if any(d["status"] != "delivered" for d in resp.get_json()["deliveries"]):
            return  # something is still on its way (or was given up on): the copy may lag
        points = self.model_points()
        for cid, (_, balance) in self.store.items():
            assert balance == points[cid], f"customer {cid}: local copy {balance}, Rivo {points[cid]}"


TestPointsSyncMachine = PointsSyncMachine.TestCase
