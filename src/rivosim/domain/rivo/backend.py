"""``RivoBackend``: one shop's loyalty program, composed of its resources (each a class owning its state), wired
together (who listens to whom) and to the Shopify events it reacts to (sign-ups, paid orders, refunds,
cancellations). The thin methods below keep the names the REST views, the control API and tests call.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
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
    TierChanged,
)
from rivosim.domain.rivo.ledger import Ledger, PointsEventPlan, cents
from rivosim.domain.rivo.lifecycle import Lifecycle
from rivosim.domain.rivo.members import Members
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
from rivosim.domain.rivo.program import Program
from rivosim.domain.rivo.redemptions import Redemptions
from rivosim.domain.rivo.referrals import Referrals
from rivosim.domain.rivo.subscriptions import Storefront, WebhookSubscriptions
from rivosim.domain.rivo.tiers import Tiers
from rivosim.domain.settings import ProgramSettings
from rivosim.kernel.clock import parse_duration

__all__ = ["RivoBackend"]


class RivoBackend:
    """Composes the resources, each owning its state: the members (``member_book``), the program (rules, rewards,
    tiers), the ledger (``ledger_book``, handed the program and members), tiers (``tier_book``, handed those and the
    ledger), the lifecycle (handed all four); redemptions, referrals and storefront actions (handed the program, the
    members and the ledger); and the webhook subscriptions (handed nothing but the shop context).

    A ledger change reaches the others through listeners registered here, in this order: the lifecycle hears of
    the event as it is written (expiry lots, the rolling window), ``PointsEventCreated`` is published (the
    triggers), then tiers re-evaluate the member."""

    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx
        self.member_book = Members(ctx)  # first: it draws the referral-code mask from the shop's random stream
        self.program = Program(ctx)
        self.ledger_book = Ledger(ctx, self.program, self.member_book)
        self.tier_book = Tiers(ctx, self.program, self.member_book, self.ledger_book)
        # The stores, shared by reference (never rebound): the names every reader uses.
        self.members = self.member_book.members
        self.members_by_email = self.member_book.members_by_email
        self.points_events = self.ledger_book.points_events
        self.ledger = self.ledger_book.by_member
        self.webhooks = WebhookSubscriptions(ctx)
        self.redemption_book = Redemptions(ctx, self.program, self.member_book, self.ledger_book)
        self.referral_book = Referrals(ctx, self.program, self.member_book, self.ledger_book)
        self.storefront = Storefront(ctx, self.member_book, self.ledger_book)
        self.program.apply_program_config(ctx.settings().program)
        self.lifecycle = Lifecycle(ctx, self.program, self.member_book, self.ledger_book, self.tier_book)
        self.member_book.on_days_changed(self.lifecycle.index_member_days)
        self.ledger_book.on_recorded(self.lifecycle.note_points_event)
        self.ledger_book.on_changed(self.tier_book.after_ledger_change)
        self.revision = 1
        """Counts up (to a number this backend never had before) with every domain event of the shop and every call
        of a mutator below that may publish none. Together with the journal's ``last_write`` (any write over HTTP)
        it stamps what the Rivo API shows of the shop: ``http/rivo/shapes.py`` caches whole list pages by the pair,
        per backend object (a new backend, after a reset or a restore, starts a new cache), so the count is the
        backend's own: no state outside the simulator, and a restored shop counts on from where it was saved."""
        bus = ctx.bus
        bus.subscribe_all(self._changed)
        bus.subscribe(CustomerCreated, self._on_customer_created)
        bus.subscribe(CustomerUpdated, self.member_book.on_customer_updated)
        bus.subscribe(CustomerDeleted, self.member_book.on_customer_deleted)
        bus.subscribe(CustomerJoinedProgram, self._on_joined)
        bus.subscribe(OrderPaid, self._on_order_paid)
        bus.subscribe(OrderRefunded, self._on_order_refunded)
        bus.subscribe(OrderCancelled, self._on_order_cancelled)
        self.next_visibility_delay: timedelta | None = None

    def _changed(self, _event: object = None) -> None:
        self.revision += 1

    @property
    def closed(self) -> bool:
        return self.lifecycle.closed

    @closed.setter
    def closed(self, value: bool) -> None:
        """Set when the shop is deleted: the lifecycle's and tiers' timers still in the clock's heap do nothing."""
        self.lifecycle.closed = value
        self.tier_book.closed = value

    # -- members (the resource's; these names are the REST views', the wire's and the control API's) ------------
    def find_member(self, identifier: Any, *, visible_only: bool = True) -> Member:
        return self.member_book.find_member(identifier, visible_only=visible_only)

    def iter_members(self, *, visible_only: bool = True) -> Iterator[Member]:
        return self.member_book.iter_members(visible_only=visible_only)

    def ordered_members(self) -> list[Member]:
        return self.member_book.ordered_members()

    def update_member(self, identifier: Any, fields: dict[str, Any]) -> Member:
        self._changed()
        return self.member_book.update_member(identifier, fields)

    def is_excluded(self, member: Member) -> bool:
        return self.member_book.is_excluded(member)

    def referral_code(self, customer_id: int) -> str:
        return self.member_book.referral_code(customer_id)

    def member_id_for_code(self, code: str) -> int | None:
        return self.member_book.member_id_for_code(code)

    # -- the ledger (the resource's) -----------------------------------------------------------------------------
    def create_points_event(self, fields: dict[str, Any]) -> PointsEvent:
        self._changed()
        return self.ledger_book.create_points_event(fields)

    def create_points_events_batch(self, items: Any) -> list[PointsEvent]:
        self._changed()
        return self.ledger_book.create_points_events_batch(items)

    def list_points_events(self, customer_identifier: Any = None) -> list[PointsEvent]:
        return self.ledger_book.list_points_events(customer_identifier)

    def earn(self, member: Member, trigger: str, *, points: int | None = None, name: str | None = None,
             order_id: int | None = None, title: str | None = None,
             details: dict[str, Any] | None = None) -> PointsEvent | None:
        self._changed()
        return self.ledger_book.earn(member, trigger, points=points, name=name, order_id=order_id, title=title,
                                     details=details)

    # -- tiers and the lifecycle (the resources') -----------------------------------------------------------------
    def evaluate_tier(self, member: Member) -> TierChanged | None:
        self._changed()
        return self.tier_book.evaluate_tier(member)

    def set_member_tier(self, identifier: Any, tier_id: Any, *, internal_note: Any = None,
                        external_note: Any = None) -> Member:
        self._changed()
        return self.tier_book.set_member_tier(identifier, tier_id, internal_note=internal_note,
                                              external_note=external_note)

    def next_tier(self, member: Member) -> VipTier | None:
        return self.tier_book.next_tier(member)

    def tier_progress(self, member: Member, at: datetime | None = None) -> Decimal:
        return self.tier_book.tier_progress(member, at)

    def period_start(self, at: datetime) -> datetime | None:
        return self.tier_book.period_start(at)

    def next_period_boundary(self, at: datetime) -> datetime | None:
        return self.tier_book.next_period_boundary(at)

    def on_period_boundary(self) -> None:
        self._changed()
        self.tier_book.on_period_boundary()

    def points_expire_at(self, member: Member) -> datetime | None:
        return self.lifecycle.points_expire_at(member)

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
        self._changed()
        self.program.apply_program_config(program)

    def list_rewards(self) -> list[Reward]:
        return self.program.list_rewards()

    def get_reward(self, reward_id: int) -> Reward:
        return self.program.get_reward(reward_id)

    def create_reward(self, fields: dict[str, Any]) -> Reward:
        self._changed()
        return self.program.create_reward(fields)

    def update_reward(self, reward_id: int, fields: dict[str, Any]) -> Reward:
        self._changed()
        return self.program.update_reward(reward_id, fields)

    def delete_reward(self, reward_id: int) -> Reward:
        self._changed()
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
        self._changed()
        return self.redemption_book.redeem_reward(fields)

    def list_redemptions(self, customer_identifier: Any = None) -> list[Redemption]:
        return self.redemption_book.list_redemptions(customer_identifier)

    def redemption_for_code(self, code: str) -> Redemption | None:
        return self.redemption_book.redemption_for_code(code)

    def use_code(self, code: str) -> Redemption | None:
        self._changed()
        return self.redemption_book.use_code(code)

    @property
    def referrals(self) -> dict[int, Referral]:
        return self.referral_book.referrals

    def create_referral(self, fields: dict[str, Any]) -> Referral:
        self._changed()
        return self.referral_book.create_referral(fields)

    def get_referral(self, referral_id: int) -> Referral:
        return self.referral_book.get_referral(referral_id)

    def complete_referral(self, referral_id: int, order_id: int | None = None) -> Referral:
        self._changed()
        return self.referral_book.complete_referral(referral_id, order_id)

    def complete_referral_for_order(self, customer_id: int, email: str | None, order_id: int) -> Referral | None:
        self._changed()
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
        self._changed()
        return self.storefront.record_action(customer_id, action, details)

    def record_widget_event(self, member: Member | None, name: str, details: dict[str, Any]) -> WidgetEvent:
        self._changed()
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
        self.member_book.on_customer_created(event, visibility_delay=delay)

    def _on_joined(self, event: CustomerJoinedProgram) -> None:
        member = self.members.get(event.customer_id)
        if member is not None:
            self.tier_book.evaluate_tier(member)  # placed in the entry tier first: the sign-up points already show it
            self.ledger_book.earn(member, "customer_member_enabled", title="Joined the program")

    def _on_order_paid(self, event: OrderPaid) -> None:
        if event.customer_id is None:
            return
        self.member_book.note_purchase(event.customer_id, event.at, event.total, event.order_id)
        member = self.members.get(event.customer_id)
        if member is None:
            return
        self.tier_book.note_progress(member, event.at)
        for code in event.discount_codes:
            self.redemption_book.use_code(code)
        # One business event, one fixed order of triggers: order/placed, product/purchased for each matching
        # product rule, then their points events, then at most one tier change (README, trigger table).
        now = self.ctx.now()
        ledger = self.ledger_book
        plans: list[PointsEventPlan] = []
        rule = self.program.find_rule("order_placed")
        if rule is not None and ledger.earning_block(member, rule, "order_placed") is None:
            ledger.announce(member, rule, {"order_id": event.order_id, "subtotal": f"{event.subtotal:.2f}",
                                         "total": f"{event.total:.2f}"})
            points = ledger.order_points_for(rule, event.subtotal)
            if points > 0 or rule.credits_amount > 0:
                plans.append(PointsEventPlan(member=member, source="order_placed", points_diff=points,
                                             credits_diff=cents(rule.credits_amount), applied_at=now,
                                             title=f"Placed an order (${event.subtotal:.2f})", rule=rule,
                                             order_id=event.order_id))
        purchased = {line.product_id for line in event.lines if line.product_id is not None}
        for product_rule in sorted(self.program.rules.values(), key=lambda r: r.id):
            matched = purchased & set(product_rule.product_ids)
            if (product_rule.trigger == "product_purchased" and matched
                    and ledger.earning_block(member, product_rule, "product_purchased") is None):
                ledger.announce(member, product_rule, {"order_id": event.order_id, "product_ids": sorted(matched)})
                plans.append(PointsEventPlan(member=member, source="product_purchased",
                                             points_diff=product_rule.points_amount,
                                             credits_diff=cents(product_rule.credits_amount), applied_at=now,
                                             title=product_rule.name, rule=product_rule, order_id=event.order_id))
        with self.tier_book.deferred_tiers():
            for plan in plans:
                ledger.apply_plan(plan)
        self.referral_book.complete_referral_for_order(member.id, member.email, event.order_id)
        self.tier_book.evaluate_tier(member)

    def _on_order_refunded(self, event: OrderRefunded) -> None:
        if event.customer_id is None:
            return
        self.member_book.note_refund(event.customer_id, event.at, event.amount, event.order_id)
        purchases = self.member_book.purchases.get(event.customer_id, ())
        paid = sum((p[1] for p in purchases if p[2] == event.order_id and p[1] > 0), Decimal(0))
        fraction = Decimal(1) if event.fully_refunded or not paid else min(Decimal(1), event.amount / paid)
        self.ledger_book.reverse_order_points(event.order_id, fraction, "order_refund")
        member = self.members.get(event.customer_id)
        if member is not None:
            self.tier_book.evaluate_tier(member)

    def _on_order_cancelled(self, event: OrderCancelled) -> None:
        if event.customer_id is None:
            return
        self.ledger_book.reverse_order_points(event.order_id, Decimal(1), "order_cancelled")
