"""``RivoBackend``: one shop's loyalty program, assembled from its resource parts, and wired to the
Shopify events it reacts to (sign-ups, paid orders, refunds, cancellations).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ...clock import parse_duration
from ..context import ShopContext
from ..events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerJoinedProgram,
    CustomerUpdated,
    OrderCancelled,
    OrderPaid,
    OrderRefunded,
)
from .ledger import PointsEventPlan
from .models import EarningRule, Member
from .subscriptions import SubscriptionOps

__all__ = ["RivoBackend"]


class RivoBackend(SubscriptionOps):
    """Program, members, ledger, tiers, redemptions, referrals, subscriptions. See the mixins for each part."""

    def __init__(self, ctx: ShopContext) -> None:
        super().__init__(ctx)
        self.apply_program_config(ctx.config()["program"])
        bus = ctx.bus
        bus.subscribe(CustomerCreated, self._on_customer_created)
        bus.subscribe(CustomerUpdated, self.on_customer_updated)
        bus.subscribe(CustomerDeleted, self.on_customer_deleted)
        bus.subscribe(CustomerJoinedProgram, self._on_joined)
        bus.subscribe(OrderPaid, self._on_order_paid)
        bus.subscribe(OrderRefunded, self._on_order_refunded)
        bus.subscribe(OrderCancelled, self._on_order_cancelled)
        self.next_visibility_delay: timedelta | None = None

    def visibility_delay(self) -> timedelta:
        raw = self.ctx.config()["api"]["new_customer_visibility_delay"]
        now = self.ctx.now()
        return parse_duration(raw).after(now) - now  # calendar parts ("P1M") count too

    def _on_customer_created(self, event: CustomerCreated) -> None:
        # A caller that knows better (seeding, control-API "visible now") sets next_visibility_delay first.
        delay = self.next_visibility_delay if self.next_visibility_delay is not None else self.visibility_delay()
        self.next_visibility_delay = None
        self.on_customer_created(event, visibility_delay=delay)

    def _on_joined(self, event: CustomerJoinedProgram) -> None:
        member = self.members.get(event.customer_id)
        if member is not None:
            self.earn(member, "customer_member_enabled", title="Joined the program")
            self.evaluate_tier(member)

    def _on_order_paid(self, event: OrderPaid) -> None:
        if event.customer_id is None:
            return
        self.note_purchase(event.customer_id, event.at, event.total, event.order_id)
        member = self.members.get(event.customer_id)
        if member is None:
            return
        for code in event.discount_codes:
            self.use_code(code)
        rule = self.find_rule("order_placed")
        if rule is not None:
            points = self.order_points_for(rule, event.subtotal)
            if points > 0:
                self.earn(member, "order_placed", points=points, order_id=event.order_id,
                          title=f"Placed an order (${event.subtotal})")
        purchased = {line.product_id for line in event.lines if line.product_id is not None}
        for product_rule in sorted(self.rules.values(), key=lambda r: r.id):
            if (product_rule.trigger == "product_purchased" and purchased & set(product_rule.product_ids)
                    and self.earning_block(member, product_rule, "product_purchased") is None):
                self._earn_rule(member, product_rule, event.order_id)
        self.complete_referral_for_order(member.id, member.email, event.order_id)
        self.evaluate_tier(member)

    def _earn_rule(self, member: Member, rule: EarningRule, order_id: int) -> None:
        self.apply_plan(PointsEventPlan(member=member, source=rule.trigger, points_diff=rule.points_amount,
                                        credits_diff=rule.credits_amount, applied_at=self.ctx.now(),
                                        title=rule.name, rule=rule, order_id=order_id))

    def _on_order_refunded(self, event: OrderRefunded) -> None:
        if event.customer_id is None:
            return
        self.note_refund(event.customer_id, event.at, event.amount, event.order_id)
        paid = sum((p[1] for p in self.purchases.get(event.customer_id, ()) if p[2] == event.order_id and p[1] > 0),
                   Decimal(0))
        fraction = Decimal(1) if event.fully_refunded or not paid else min(Decimal(1), event.amount / paid)
        self.reverse_order_points(event.order_id, fraction, "order_refund")
        member = self.members.get(event.customer_id)
        if member is not None:
            self.evaluate_tier(member)

    def _on_order_cancelled(self, event: OrderCancelled) -> None:
        if event.customer_id is None:
            return
        self.reverse_order_points(event.order_id, Decimal(1), "order_cancelled")
