"""The ``LoyaltyMachine``'s invariants, checked after every step: nothing fires between actions, balances are the
ledger (and the model), tiers follow the program, webhooks are signed and delivered once, and the Rivo rate limit
holds over any window of the simulator clock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis.stateful import invariant, precondition

from rivosim.testing.machine_model import REVERSALS
from rivosim.testing.machine_program import ProgramModel
from rivosim.webhooks.signing import verify

__all__ = ["Invariants"]


class Invariants(ProgramModel):
    """What must hold after every step (each waits for the set-up: ``self._ready``)."""

    @precondition(lambda self: self._ready)
    @invariant()
    def nothing_fires_between_actions(self) -> None:
        fired = self.fired_since()
        assert not fired, f"topics fired with no business event: {[t['topic'] for t in fired]}"

    @precondition(lambda self: self._ready)
    @invariant()
    def balances_are_the_ledger(self) -> None:
        state = self.state()
        sums: dict[int, list[Any]] = {}
        for e in sorted(state["points_events"], key=lambda e: e["id"]):
            sums.setdefault(e["customer_id"], []).append(e)
        for c in state["customers"]:
            events = sums.get(c["id"], [])
            points = sum(e["points_diff"] for e in events)
            credits = sum((Decimal(str(e["credits_diff"])) for e in events), Decimal(0))
            assert c["points_tally"] == points, (c["id"], c["points_tally"], points)
            assert Decimal(str(c["credits_tally"])) == credits, (c["id"], c["credits_tally"], credits)
            m = self.model.get(c["id"])
            if m is not None:
                assert c["points_tally"] == m.points, f"customer {m.id}: {c['points_tally']} points, model {m.points}"
                assert credits == m.credits, f"customer {m.id}: {credits} credits, model {m.credits}"
            if not self.allow_negative:
                running = 0
                for e in events:
                    running += e["points_diff"]
                    if running < 0 and e["points_diff"] < 0:
                        assert e["source"] in REVERSALS, (
                            f"customer {c['id']}: balance {running} after a {e['source']} event; only a refund "
                            "reversal may take a balance below zero")

    @precondition(lambda self: self._ready)
    @invariant()
    def tiers_follow_the_program(self) -> None:
        state = self.state()
        now = self.now()
        for c in state["customers"]:
            m = self.model.get(c["id"])
            if m is None:
                continue
            got = c["vip_tier"]["id"] if c.get("vip_tier") else None
            assert got == m.tier, f"customer {m.id}: tier {got}, model {m.tier}"
            overridden = m.override_until is not None and now < m.override_until
            if m.evaluated and not overridden and not m.excluded and self._vip_on():
                earned = self.earned_tier(m, now)
                assert m.tier == (earned.id if earned else None), (
                    f"customer {m.id}: tier {m.tier} but the {self.vip.get('entry_method')} over "
                    f"{self.vip.get('period')} says {earned}")

    @precondition(lambda self: self._ready)
    @invariant()
    def webhooks_are_signed_and_delivered_once(self) -> None:
        secret = self.credentials["webhook_secret"]
        sends: dict[str, list[tuple[bool, int]]] = {}
        for request, healthy, status in self.sender.sent:
            assert verify(request.body, request.headers, secret, tolerance_seconds=None), request.headers
            delivery_id = request.headers["rivo-webhook-id"]
            sends.setdefault(delivery_id, []).append((healthy, status))
        resp = self.control("GET", "/webhooks/deliveries", query={"shop": self.DOMAIN, "body": "false"})
        deliveries = {d["id"]: d for d in resp.get_json()["deliveries"]}
        for delivery_id, attempts in sends.items():
            d = deliveries[delivery_id]
            assert len(d["attempts"]) == len(attempts), (delivery_id, d["attempts"], attempts)
            successes = sum(1 for _, status in attempts if 200 <= status < 300)
            assert successes <= 1, f"{delivery_id} was delivered {successes} times"
            if attempts[0][0] and attempts[0][1] == 200:
                assert len(attempts) == 1 and d["status"] == "delivered", (delivery_id, d)
        for d in deliveries.values():
            assert d["topic"] in self.subscribed, d
            if d["id"] not in sends:
                assert d["status"] == "pending" and not d["attempts"], d

    @precondition(lambda self: self._ready)
    @invariant()
    def rate_limit_holds(self) -> None:
        resp = self.control("GET", "/journal", query={"shop": self.DOMAIN, "since": str(self.journal_seq)})
        entries = [e for e in resp.get_json()["entries"] if e["shop"] == self.DOMAIN]
        if entries:
            self.journal_seq = max(e["seq"] for e in entries)
        for e in entries:
            if e["api"] != "rivo":
                continue
            # Refused by the limiter: the journal names the limit (older journals: any 429). An injected 429
            # or 503 came after the limiter let the request through, so it counts as accepted.
            limited = e.get("limit") is not None if "limit" in e else e["status"] == 429
            if limited:
                self.throttled = True
                continue
            self.accepted_at.append(datetime.fromisoformat(e["at"]))
        if self.rate_limit is None or not self.throttled:
            return  # no limit configured, or none enforced yet: nothing to hold it to
        rate, burst = self.rate_limit
        times = self.accepted_at
        for j in range(len(times) - len(entries), len(times)):
            if j < 0:
                continue
            for i in range(j + 1):
                window = (times[j] - times[i]).total_seconds()
                assert j - i + 1 <= burst + rate * window + 1e-6, (
                    f"{j - i + 1} requests accepted in {window:.3f} s (burst {burst}, rate {rate}/s)")
