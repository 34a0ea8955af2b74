"""The ``LoyaltyMachine``'s shopper rules, through the control API: sign-ups, paid and pending orders, payments,
refunds and cancellations. They fill the ``members`` and ``orders`` bundles the other rules draw from.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from rivosim.testing import strategies as rs
from rivosim.testing.machine_model import MEMBERS, ORDERS, MemberModel, OrderModel, Topic
from rivosim.testing.machine_program import ProgramModel

__all__ = ["ShopperRules"]


class ShopperRules(ProgramModel):
    """What shoppers do (``POST /_rivosim/shops/<d>/customers``, ``…/orders`` and their pay, refund, cancel)."""

    @precondition(lambda self: self._ready)
    @rule(target=MEMBERS, data=st.data())
    def sign_up(self, data: st.DataObject) -> int:
        customer = data.draw(rs.customers(), label="customer")
        joins = data.draw(st.sampled_from((True, True, True, False)), label="joins_program")
        excluded = data.draw(st.sampled_from((False, False, False, False, True)), label="Rivo Excluded")
        delayed = data.draw(st.sampled_from((False, False, True)), label="visibility delayed")
        body = {**customer, "email": self._fresh_email(customer["email"]), "joins_program": joins,
                "visibility_delay": 60 if delayed else 0}
        if excluded:
            body["tags"] = ["Rivo Excluded"]
        resp = self.control("POST", self.shop_path("/customers"), body)
        assert resp.status_code == 201, resp.get_json()
        created = resp.get_json()
        m = MemberModel(id=created["id"], email=created["email"], status="member" if joins else "guest",
                        excluded=excluded, visible_at=self.now() + timedelta(seconds=60 if delayed else 0),
                        referral_code=created["loyalty"]["referral_code"])
        self.model[m.id] = m
        self.expect(self._join(m) if joins else [])
        return m.id

    @precondition(lambda self: self._ready)
    @rule(target=ORDERS, member=MEMBERS, data=st.data())
    def place_order(self, member: int, data: st.DataObject) -> int:
        body = data.draw(rs.orders(paid=st.sampled_from((True, True, False))), label="order")
        resp = self.control("POST", self.shop_path("/orders"), {**body, "customer_id": member})
        assert resp.status_code == 201, resp.get_json()
        created = resp.get_json()
        total = sum((Decimal(li["price"]) * li["quantity"] for li in body["line_items"]), Decimal(0))
        assert Decimal(created["total_price"]) == total
        order = OrderModel(id=created["id"], customer_id=member, total=total,
                           products={li["product_id"] for li in body["line_items"]})
        self.order_model[order.id] = order
        self.expect(self._paid(order) if body["paid"] else [])
        return order.id

    @rule(order=ORDERS)
    def pay_order(self, order: int) -> None:
        o = self.order_model[order]
        before = self.state()
        resp = self.control("POST", self.shop_path(f"/orders/{order}/pay"))
        if o.status != "pending" or o.cancelled:
            self.refused(resp, before)
            return
        assert resp.status_code == 200, resp.get_json()
        self.expect(self._paid(o))

    @rule(order=ORDERS, data=st.data())
    def refund_order(self, order: int, data: st.DataObject) -> None:
        o = self.order_model[order]
        body = data.draw(rs.refunds(o.total), label="refund")
        before = self.state()
        resp = self.control("POST", self.shop_path(f"/orders/{order}/refund"), body)
        remaining = o.total - o.refunded
        value = remaining if "amount" not in body else Decimal(body["amount"])
        if o.status not in ("paid", "partially_refunded") or not Decimal(0) < value <= remaining:
            self.refused(resp, before)
            return
        assert resp.status_code == 200, resp.get_json()
        self.expect(self._refund(o, value))

    @rule(order=ORDERS)
    def cancel_order(self, order: int) -> None:
        o = self.order_model[order]
        before = self.state()
        resp = self.control("POST", self.shop_path(f"/orders/{order}/cancel"), {"reason": "customer"})
        if o.cancelled:
            self.refused(resp, before)
            return
        assert resp.status_code == 200, resp.get_json()
        expected: list[Topic] = []
        if o.status in ("paid", "partially_refunded") and o.total > o.refunded:
            expected = self._refund(o, o.total - o.refunded)
        elif o.status == "pending":
            o.status = "voided"
        o.cancelled = True
        self.expect(expected)
