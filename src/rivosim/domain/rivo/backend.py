"""``RivoBackend``: one shop's loyalty program, assembled from its resource parts, and wired to the
Shopify events it reacts to (sign-ups, paid orders, refunds, cancellations) and to the passing of time.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import (
    CustomerCreated,
    CustomerDeleted,
    CustomerJoinedProgram,
    CustomerUpdated,
    OrderCancelled,
    OrderPaid,
    OrderRefunded,
)
from rivosim.domain.rivo.ledger import PointsEventPlan, cents
from rivosim.domain.rivo.lifecycle import LifecycleOps
from rivosim.domain.rivo.models import (
    EarningRule,
    Member,
    PointsEvent,
    Redemption,
    Referral,
    Reward,
    VipTier,
    WebhookSubscription,
    WidgetEvent,
)
from rivosim.domain.rivo.redemptions import Redemptions
from rivosim.domain.rivo.referrals import Referrals
from rivosim.domain.rivo.subscriptions import Storefront, WebhookSubscriptions
from rivosim.domain.settings import ProgramSettings
from rivosim.kernel.clock import parse_duration

__all__ = ["RivoBackend"]


class RivoBackend(LifecycleOps):
    """The members, their ledger, tiers and lifecycle (mixed in: each writes the members and the ledger), composing
    the resources that own their own state: the program (rules, rewards, tiers); redemptions, referrals and
    storefront actions (handed the program and this core, :class:`~rivosim.domain.rivo.core.MemberLedger`); and
    the webhook subscriptions."""

    def __init__(self, ctx: ShopContext) -> None:
        super().__init__(ctx)
        self.webhooks = WebhookSubscriptions(ctx)
        self.redemption_book = Redemptions(ctx, self.program, self)
        self.referral_book = Referrals(ctx, self.program, self)
        self.storefront = Storefront(ctx, self)
        self.program.apply_program_config(ctx.settings().program)
        self.init_lifecycle()
        bus = ctx.bus
        bus.subscribe(CustomerCreated, self._on_customer_created)
        bus.subscribe(CustomerUpdated, self.on_customer_updated)
        bus.subscribe(CustomerDeleted, self.on_customer_deleted)
        bus.subscribe(CustomerJoinedProgram, self._on_joined)
        bus.subscribe(OrderPaid, self._on_order_paid)
        bus.subscribe(OrderRefunded, self._on_order_refunded)
        bus.subscribe(OrderCancelled, self._on_order_cancelled)
        self.next_visibility_delay: timedelta | None = None

    # -- the program (the resource's; these names are the REST views' and the control API's) -------------------
    @property
    def rules(self) -> dict[int, EarningRule]:
        return self.program.rules

    @property
    def rewards(self) -> dict[int, Reward]:
        return self.program.rewards

    @property
    def tiers(self) -> dict[int, VipTier]:
        return self.program.tiers

    @property
    def tier_order(self) -> list[VipTier]:
        return self.program.tier_order

    def apply_program_config(self, program: ProgramSettings) -> None:
        self.program.apply_program_config(program)

    def list_rewards(self) -> list[Reward]:
        return self.program.list_rewards()

    def get_reward(self, reward_id: int) -> Reward:
        return self.program.get_reward(reward_id)

    def create_reward(self, fields: dict[str, Any]) -> Reward:
        return self.program.create_reward(fields)

    def update_reward(self, reward_id: int, fields: dict[str, Any]) -> Reward:
        return self.program.update_reward(reward_id, fields)

    def delete_reward(self, reward_id: int) -> Reward:
        return self.program.delete_reward(reward_id)

    def vip_available(self) -> bool:
        return self.program.vip_available()

    def list_tiers(self) -> list[VipTier]:
        return self.program.list_tiers()

    def get_tier(self, tier_id: int) -> VipTier:
        return self.program.get_tier(tier_id)

    def list_earning_rules(self) -> list[EarningRule]:
        return self.program.list_earning_rules()

    def find_rule(self, trigger: str, name: str | None = None) -> EarningRule | None:
        return self.program.find_rule(trigger, name)

    # -- redemptions and referrals (the resources'; these names are the REST views') ---------------------------
    @property
    def redemptions(self) -> dict[int, Redemption]:
        return self.redemption_book.redemptions

    def redeem_reward(self, fields: dict[str, Any]) -> Redemption:
        return self.redemption_book.redeem_reward(fields)

    def list_redemptions(self, customer_identifier: Any = None) -> list[Redemption]:
        return self.redemption_book.list_redemptions(customer_identifier)

    def redemption_for_code(self, code: str) -> Redemption | None:
        return self.redemption_book.redemption_for_code(code)

    def use_code(self, code: str) -> Redemption | None:
        return self.redemption_book.use_code(code)

    @property
    def referrals(self) -> dict[int, Referral]:
        return self.referral_book.referrals

    def create_referral(self, fields: dict[str, Any]) -> Referral:
        return self.referral_book.create_referral(fields)

    def get_referral(self, referral_id: int) -> Referral:
        return self.referral_book.get_referral(referral_id)

    def complete_referral(self, referral_id: int, order_id: int | None = None) -> Referral:
        return self.referral_book.complete_referral(referral_id, order_id)

    def complete_referral_for_order(self, customer_id: int, email: str | None, order_id: int) -> Referral | None:
        return self.referral_book.complete_referral_for_order(customer_id, email, order_id)

    def referral_for_code(self, code: str) -> Referral | None:
        return self.referral_book.referral_for_code(code)

    def list_referrals(self, customer_identifier: Any = None) -> list[Referral]:
        return self.referral_book.list_referrals(customer_identifier)

    # -- storefront actions (the resource's) -------------------------------------------------------------------
    @property
    def widget_events(self) -> dict[int, WidgetEvent]:
        return self.storefront.widget_events

    def record_action(self, customer_id: int, action: Any, details: dict[str, Any]) -> tuple[WidgetEvent | None,
                                                                                              PointsEvent | None]:
        return self.storefront.record_action(customer_id, action, details)

    def record_widget_event(self, member: Member | None, name: str, details: dict[str, Any]) -> WidgetEvent:
        return self.storefront.record_widget_event(member, name, details)

    def list_widget_events(self) -> list[WidgetEvent]:
        return self.storefront.list_widget_events()

    # -- webhook subscriptions (the resource's; these names are the REST views') ------------------------------
    @property
    def subscriptions(self) -> dict[int, WebhookSubscription]:
        return self.webhooks.subscriptions

    def create_subscription(self, fields: dict[str, Any]) -> WebhookSubscription:
        return self.webhooks.create_subscription(fields)

    def get_subscription(self, sub_id: int) -> WebhookSubscription:
        return self.webhooks.get_subscription(sub_id)

    def update_subscription(self, sub_id: int, fields: dict[str, Any]) -> WebhookSubscription:
        return self.webhooks.update_subscription(sub_id, fields)

    def delete_subscription(self, sub_id: int) -> WebhookSubscription:
        return self.webhooks.delete_subscription(sub_id)

    def subscription_for(self, topic: str) -> WebhookSubscription | None:
        return self.webhooks.subscription_for(topic)

    def visibility_delay(self) -> timedelta:
        raw = self.ctx.settings().api.new_customer_visibility_delay
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
            self.evaluate_tier(member)  # placed in the entry tier first: the sign-up points already show it
            self.earn(member, "customer_member_enabled", title="Joined the program")

    def _on_order_paid(self, event: OrderPaid) -> None:
        if event.customer_id is None:
            return
        self.note_purchase(event.customer_id, event.at, event.total, event.order_id)
        member = self.members.get(event.customer_id)
        if member is None:
            return
        self.note_progress(member, event.at)
        for code in event.discount_codes:
            self.use_code(code)
        # One business event, one fixed order of triggers: order/placed, product/purchased for each matching
        # product rule, then their points events, then at most one tier change (README, trigger table).
        now = self.ctx.now()
        plans: list[PointsEventPlan] = []
        rule = self.program.find_rule("order_placed")
        if rule is not None and self.earning_block(member, rule, "order_placed") is None:
            self.announce(member, rule, {"order_id": event.order_id, "subtotal": f"{event.subtotal:.2f}",
                                         "total": f"{event.total:.2f}"})
            points = self.order_points_for(rule, event.subtotal)
            if points > 0 or rule.credits_amount > 0:
                plans.append(PointsEventPlan(member=member, source="order_placed", points_diff=points,
                                             credits_diff=cents(rule.credits_amount), applied_at=now,
                                             title=f"Placed an order (${event.subtotal:.2f})", rule=rule,
                                             order_id=event.order_id))
        purchased = {line.product_id for line in event.lines if line.product_id is not None}
        for product_rule in sorted(self.program.rules.values(), key=lambda r: r.id):
            matched = purchased & set(product_rule.product_ids)
            if (product_rule.trigger == "product_purchased" and matched
                    and self.earning_block(member, product_rule, "product_purchased") is None):
                self.announce(member, product_rule, {"order_id": event.order_id, "product_ids": sorted(matched)})
                plans.append(PointsEventPlan(member=member, source="product_purchased",
                                             points_diff=product_rule.points_amount,
                                             credits_diff=cents(product_rule.credits_amount), applied_at=now,
                                             title=product_rule.name, rule=product_rule, order_id=event.order_id))
        with self.deferred_tiers():
            for plan in plans:
                self.apply_plan(plan)
        self.complete_referral_for_order(member.id, member.email, event.order_id)
        self.evaluate_tier(member)

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
