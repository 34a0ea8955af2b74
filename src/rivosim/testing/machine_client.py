"""The ``LoyaltyMachine``'s Rivo-client rules, through the merchant REST API with the shop's key: manual points
adjustments and rule-based points events, redemptions, referral claims and completions, loyalty-status changes
and manual tier changes. Each checks the answer against the model: refused (and nothing changed), throttled or
injected (nothing changed), or accepted with exactly the README's topics.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import multiple, rule

from rivosim.testing import strategies as rs
from rivosim.testing.machine_model import IPS, MEMBERS, REFERRALS, ReferralModel
from rivosim.testing.machine_program import ProgramModel

__all__ = ["ClientRules"]


class ClientRules(ProgramModel):
    """What a Rivo client does (``/merchant_api/v1``: points events, redemptions, referrals, customers)."""

    @rule(member=MEMBERS, body=rs.manual_points_events())
    def adjust_points(self, member: int, body: dict[str, Any]) -> None:
        m = self.model[member]
        before = self.state()
        resp = self.rivo("POST", "/points_events", {**body, "customer_identifier": member})
        points, credits = int(body["points_amount"]), Decimal(body["credits_amount"])
        if not self._visible(m):
            self.refused(resp, before, 404)
            return
        short = not self.allow_negative and (m.points + points < 0 or m.credits + credits < 0)
        if m.excluded or short:
            self.refused(resp, before, 422)
            return
        if self.throttled_now(resp, before):
            return
        assert resp.status_code == 201, resp.get_json()
        attrs = resp.get_json()["data"]["attributes"]
        assert attrs["points_diff"] == points and attrs["source"] == "manual"
        self.expect(self.ledger(m, "manual", points, credits) + self.evaluate(m))

    @rule(member=MEMBERS)
    def custom_action_event(self, member: int) -> None:
        """A rule-based points event through the API (README row 6)."""
        m = self.model[member]
        before = self.state()
        resp = self.rivo("POST", "/points_events", {"customer_identifier": member, "source": "custom_action",
                                                    "custom_action_name": "quiz"})
        rule_ = self.rules.get("custom_action")
        if not self._visible(m):
            self.refused(resp, before, 404)
        elif m.excluded:
            self.refused(resp, before, 422)
        elif rule_ is None:
            self.refused(resp, before, 404)
        elif not rule_.get("enabled", True) or m.status != "member":
            self.refused(resp, before, 422)
        elif not self.throttled_now(resp, before):
            assert resp.status_code == 201, resp.get_json()
            points = int(rule_.get("points_amount", 0))
            self.expect([("custom_action/completed", m.id), *self.ledger(m, "custom_action", points),
                         *self.evaluate(m)])

    @rule(member=MEMBERS, data=st.data())
    def redeem(self, member: int, data: st.DataObject) -> None:
        m = self.model[member]
        if not self.rewards:
            return
        reward = self.rewards[data.draw(st.sampled_from(sorted(self.rewards)), label="reward")]
        before = self.state()
        resp = self.rivo("POST", "/points_redemptions", {"customer_identifier": member, "reward_id": reward["id"]})
        cost = int(reward["points_amount"])
        if not self._visible(m):
            self.refused(resp, before, 404)
            return
        short = cost > m.points
        if m.excluded or (short and not self.allow_negative):
            self.refused(resp, before, 422)
            return
        if self.throttled_now(resp, before):
            return
        assert resp.status_code == 201, resp.get_json()
        code = resp.get_json()["data"]["attributes"]["code"]
        assert code.startswith("REDEEM-")
        self.expect([("points_redemption/created", m.id), *self.ledger(m, "points_purchase", -cost),
                     *self.evaluate(m)])

    @rule(target=REFERRALS, advocate=MEMBERS, data=st.data())
    def claim_referral(self, advocate: int, data: st.DataObject) -> Any:
        adv = self.model[advocate]
        kind = data.draw(st.sampled_from(("new", "new", "member", "self")), label="friend")
        if kind == "member" and self.model:
            email = self.model[data.draw(st.sampled_from(sorted(self.model)), label="friend id")].email
        elif kind == "self":
            email = adv.email
        else:
            email = self._fresh_email(data.draw(rs.emails("friend", "referred"), label="friend email"))
        ip = data.draw(st.sampled_from(IPS), label="ip")
        before = self.state()
        resp = self.rivo("POST", "/referrals", {"email": email, "referral_code": adv.referral_code, "remote_ip": ip})
        settings = self.referral_settings
        if not settings["enabled"] or adv.excluded:  # an excluded advocate cannot refer friends
            self.refused(resp, before, 422)
            return multiple()
        if any(r.email.casefold() == email.casefold() and r.status != "blocked" for r in self.referral_model.values()):
            self.refused(resp, before, 422)
            return multiple()
        if self.throttled_now(resp, before):
            return multiple()
        assert resp.status_code == 201, resp.get_json()
        friend = next((m for m in self.model.values() if m.email.casefold() == email.casefold()), None)
        week_ago = self.now() - timedelta(days=7)
        blocked = (email.casefold() == adv.email.casefold()
                   or (settings["new_customers_only"] and friend is not None and friend.paid_orders > 0)
                   or sum(1 for r in self.referral_model.values() if r.ip == ip and r.created_at >= week_ago)
                   >= settings["weekly_ip_threshold"])
        attrs = resp.get_json()["data"]["attributes"]
        assert attrs["status"] == ("blocked" if blocked else "pending"), (attrs, blocked)
        ref = ReferralModel(int(resp.get_json()["data"]["id"]), adv.id, email, ip, self.now(),
                            "blocked" if blocked else "pending")
        self.referral_model[ref.id] = ref
        self.expect([] if blocked else [("referral/claimed", adv.id)])
        return ref.id

    @rule(referral=REFERRALS)
    def complete_referral(self, referral: int) -> None:
        ref = self.referral_model[referral]
        before = self.state()
        resp = self.rivo("POST", f"/referrals/{referral}/complete")
        if ref.status != "pending":
            self.refused(resp, before, 422)
            return
        if self.throttled_now(resp, before):
            return
        assert resp.status_code == 200, resp.get_json()
        self.expect(self._complete(ref))

    @rule(member=MEMBERS, status=st.sampled_from(("member", "guest")))
    def set_loyalty_status(self, member: int, status: str) -> None:
        m = self.model[member]
        before = self.state()
        resp = self.rivo("PUT", f"/customers/{member}", {"loyalty_status": status})
        if not self._visible(m):
            self.refused(resp, before, 404)
            return
        if self.throttled_now(resp, before):
            return
        assert resp.status_code == 200, resp.get_json()
        joined = status == "member" and m.status != "member"
        m.status = status
        self.expect(self._join(m) if joined else [])

    @rule(member=MEMBERS, data=st.data())
    def set_tier(self, member: int, data: st.DataObject) -> None:
        m = self.model[member]
        if not self.tiers:
            return
        tier = self.tiers[data.draw(st.sampled_from(sorted(self.tiers)), label="tier")]
        before = self.state()
        resp = self.rivo("POST", f"/customers/{member}/vip_tier", {"vip_tier_id": tier.id})
        if not self._visible(m):
            self.refused(resp, before, 404)
            return
        if not self._vip_on() or m.excluded:  # an excluded customer takes no part in the VIP program
            self.refused(resp, before, 422)
            return
        if self.throttled_now(resp, before):
            return
        assert resp.status_code == 200, resp.get_json()
        now = self.now()
        m.override_until = self._next_boundary(now) or now + timedelta(days=365 * 1000)
        earned = self.earned_tier(m, now)
        m.override_floor = earned.id if earned else None
        m.touched.append(now)  # README: a rolling-year override ends a year after it was set; re-evaluated then
        self.expect(self._move(m, tier, manual=True))
