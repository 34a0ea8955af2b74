"""The points ledger: every balance change is a ``PointsEvent``; a member's tallies are always the sum of
their ledger. Covers ``POST /points_events`` (single and batch, all-or-nothing) and earning from rules.
A resource of its own (``Ledger``), composed by ``RivoBackend`` as ``ledger_book``: it is handed the program and
the members, and tells its listeners about every change (the lifecycle, then tiers) rather than knowing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import ActionCompleted, PointsEventCreated
from rivosim.domain.numbers import parse_bool, parse_decimal, parse_int
from rivosim.domain.rivo.members import Members
from rivosim.domain.rivo.models import EarningRule, Member, PointsEvent
from rivosim.domain.rivo.program import Program
from rivosim.kernel.clock import parse_instant
from rivosim.kernel.errors import (
    CustomerExcluded,
    EarningRuleDisabled,
    InsufficientBalance,
    InsufficientPoints,
    NotFound,
    ProgramInactive,
    ValidationFailed,
)

__all__ = ["API_SOURCES", "Ledger", "PointsEventPlan"]

# rivo-api.md §3.3: the `source` enum of POST /points_events (10 values in the doc).
API_SOURCES = ("manual", "custom_action", "referral_complete", "visit_url", "instagram_follow", "tiktok_follow",
               "facebook_like", "facebook_share", "twitter_follow", "twitter_share")
SOURCE_TITLES = {
    "manual": "Manual adjustment", "order_placed": "Placed an order", "points_purchase": "Redeemed a reward",
    "customer_member_enabled": "Joined the program", "customer_birthday": "Birthday",
    "customer_anniversary": "Program anniversary", "referral_complete": "Referral completed",
    "order_refund": "Order refunded", "order_cancelled": "Order cancelled", "points_expired": "Points expired",
    "credits_expired": "Store credit expired",
}
CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    """Money to the cent, half up (as Shopify rounds; Decimal's default would be banker's rounding)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


_NOTE_MAX = 1000


_POINTS_EVENT_FIELDS = frozenset({"customer_identifier", "source", "points_amount", "credits_amount", "skip_email",
                                  "internal_note", "external_note", "applied_at", "custom_action_name"})


@dataclass(slots=True)
class PointsEventPlan:
    """A validated, not yet applied, ledger change."""

    member: Member
    source: str
    points_diff: int
    credits_diff: Decimal
    applied_at: datetime
    title: str
    rule: EarningRule | None = None
    internal_note: str | None = None
    external_note: str | None = None
    order_id: int | None = None
    custom_action_name: str | None = None
    skip_email: bool = False
    points_purchase_id: int | None = None


def credits_amount(value: Any, field: str) -> Decimal:
    """A store-credit amount, either sign, to the cent."""
    return cents(parse_decimal(value, field, low=None, high=Decimal(100_000_000)))


def _note(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _NOTE_MAX:
        raise ValidationFailed(f"{field} must be a string of at most {_NOTE_MAX} characters", field=field)
    return value


class Ledger:
    """Every points event of the shop, by id, by member and by order. Collaborators: the program (the earning
    rules) and the members (who earns; their tallies live on the member). Listeners: ``on_recorded`` ones hear of
    each event as it is written, before it is announced (points expiry, the rolling tier window); ``on_changed``
    ones after (tier re-evaluation)."""

    def __init__(self, ctx: ShopContext, program: Program, members: Members) -> None:
        self.ctx = ctx
        self.program = program
        self.members = members
        self.points_events: dict[int, PointsEvent] = {}
        self.by_member: dict[int, list[PointsEvent]] = {}
        self.order_points: dict[int, list[int]] = {}
        self._recorded: list[Callable[[Member, PointsEvent], None]] = []
        self._changed: list[Callable[[Member], None]] = []

    def on_recorded(self, listener: Callable[[Member, PointsEvent], None]) -> None:
        """Call ``listener(member, event)`` when an event is written, before ``PointsEventCreated`` is published."""
        self._recorded.append(listener)

    def on_changed(self, listener: Callable[[Member], None]) -> None:
        """Call ``listener(member)`` after a member's balance or lifetime points changed and it was published."""
        self._changed.append(listener)

    def _notify_changed(self, member: Member) -> None:
        for listener in self._changed:
            listener(member)

    # -- guards ------------------------------------------------------------------------------------------
    def program_active(self) -> bool:
        return self.ctx.settings().program.active

    def earning_block(self, member: Member, rule: EarningRule | None, trigger: str) -> str | None:
        """Why ``member`` cannot earn from ``rule`` now (None when they can)."""
        if not self.program_active():
            return "program_inactive"
        if self.members.is_excluded(member):
            return "customer_excluded"
        if member.loyalty_status != "member":
            return "not_a_member"
        if rule is None:
            return "no_rule"
        if not rule.enabled:
            return "rule_disabled"
        if rule.once_per_customer and member.completed_rule_ids and rule.id in member.completed_rule_ids:
            return "already_completed"
        return None

    # -- API: create ---------------------------------------------------------------------------------------
    def plan_points_event(self, fields: dict[str, Any], *, overlay: dict[int, tuple[int, Decimal]] | None = None
                          ) -> PointsEventPlan:
        """Validate a ``POST /points_events`` body into a plan; raises before anything changes."""
        allowed = _POINTS_EVENT_FIELDS
        for key in fields:
            if key not in allowed:
                raise ValidationFailed(f"unknown parameter {key}; accepted: {', '.join(sorted(allowed))}", field=key)
        if fields.get("customer_identifier") in (None, ""):
            raise ValidationFailed("customer_identifier is required", field="customer_identifier")
        source = fields.get("source")
        if source is None:
            raise ValidationFailed("source is required", field="source")
        if source not in API_SOURCES:
            raise ValidationFailed(f"source must be one of {', '.join(API_SOURCES)}", field="source")
        member = self.members.find_member(fields["customer_identifier"])
        applied_at = self.ctx.now()
        if fields.get("applied_at") not in (None, ""):
            raw = fields["applied_at"]
            try:
                applied_at = parse_instant(raw) if isinstance(raw, str) else _bad_instant()
            except ValueError as exc:
                raise ValidationFailed("applied_at must be an ISO-8601 date-time", field="applied_at") from exc
        skip_email = parse_bool(fields.get("skip_email", False), "skip_email", numeric_text=True)
        internal_note = _note(fields.get("internal_note"), "internal_note")
        external_note = _note(fields.get("external_note"), "external_note")
        if not self.program_active():
            raise ProgramInactive("the loyalty program is not active: activate it in Rivo before adjusting points")
        if self.members.is_excluded(member):
            raise CustomerExcluded(f"customer {member.id} is tagged 'Rivo Excluded' and cannot earn or redeem")
        if source == "manual":
            # rivo-api.md §3.3 (CONFIRMED): both amounts are required for a manual event.
            for name in ("points_amount", "credits_amount"):
                if fields.get(name) in (None, ""):
                    raise ValidationFailed(f"{name} is required when source is manual (send 0 to leave "
                                           f"{'points' if name == 'points_amount' else 'credits'} unchanged)",
                                           field=name)
            points = parse_int(fields["points_amount"], "points_amount")
            credits = credits_amount(fields["credits_amount"], "credits_amount")
            if points == 0 and credits == 0:
                raise ValidationFailed("points_amount and credits_amount cannot both be 0", field="points_amount")
            plan = PointsEventPlan(member=member, source=source, points_diff=points, credits_diff=credits,
                                   applied_at=applied_at, title=SOURCE_TITLES["manual"], internal_note=internal_note,
                                   external_note=external_note, skip_email=skip_email)
        else:
            name = fields.get("custom_action_name")
            if name is not None and (not isinstance(name, str) or len(name) > 2048):
                raise ValidationFailed("custom_action_name must be a string of at most 2048 characters",
                                       field="custom_action_name")
            if source in ("custom_action", "visit_url") and not name:
                raise ValidationFailed(f"custom_action_name is required when source is {source}"
                                       + (" (the URL)" if source == "visit_url" else ""), field="custom_action_name")
            rule = self.program.find_rule(source, name)
            if rule is None:
                what = f"{source} {name!r}" if name else source
                raise NotFound(f"no earning rule for {what}; configured triggers: "
                               f"{', '.join(sorted({r.trigger for r in self.program.rules.values()})) or 'none'}",
                               resource="earning_rule")
            block = self.earning_block(member, rule, source)
            if block == "rule_disabled":
                raise EarningRuleDisabled(f"the earning rule {rule.name!r} ({source}) is disabled: enable it in Rivo",
                                          earning_rule_id=rule.id)
            if block == "already_completed":
                raise ValidationFailed(f"customer {member.id} has already completed {rule.name!r}, which earns once",
                                       field="source")
            if block == "not_a_member":
                raise ValidationFailed(f"customer {member.id} is a guest, not a loyalty member",
                                       field="customer_identifier")
            # rivo-api.md §3.3 (OBSERVED): for non-manual sources the amount comes from the rule.
            plan = PointsEventPlan(member=member, source=source, points_diff=rule.points_amount,
                                   credits_diff=cents(rule.credits_amount), applied_at=applied_at,
                                   title=rule.name, rule=rule, internal_note=internal_note,
                                   external_note=external_note, custom_action_name=name, skip_email=skip_email)
        self._check_balance(plan, overlay)
        return plan

    def _check_balance(self, plan: PointsEventPlan, overlay: dict[int, tuple[int, Decimal]] | None) -> None:
        member = plan.member
        points, credits = (overlay or {}).get(member.id, (member.points_tally, member.credits_tally))
        if self.ctx.settings().api.allow_negative_balance:
            return
        if points + plan.points_diff < 0:
            raise InsufficientPoints(f"customer {member.id} has {points} points; cannot deduct {-plan.points_diff}",
                                     balance=points)
        if credits + plan.credits_diff < 0:
            raise InsufficientBalance(f"customer {member.id} has {credits} credits; cannot deduct "
                                      f"{-plan.credits_diff}", balance=str(credits))

    def create_points_event(self, fields: dict[str, Any]) -> PointsEvent:
        return self._apply_api_plan(self.plan_points_event(fields))

    def _apply_api_plan(self, plan: PointsEventPlan) -> PointsEvent:
        """An API event for a rule-based source is the customer completing that action: announce it first."""
        if plan.rule is not None:
            self.announce(plan.member, plan.rule, _action_details(plan.rule.trigger, plan.custom_action_name))
        return self.apply_plan(plan)

    def create_points_events_batch(self, items: Any) -> list[PointsEvent]:
        """``POST /points_events/batch``: up to 10 events, all validated before any is applied."""
        if not isinstance(items, list):
            raise ValidationFailed("points_events must be a list", field="points_events")
        if not items:
            raise ValidationFailed("points_events must contain at least one event", field="points_events")
        if len(items) > 10:
            raise ValidationFailed(f"points_events can hold at most 10 events, got {len(items)}", field="points_events")
        overlay: dict[int, tuple[int, Decimal]] = {}
        once: set[tuple[int, int]] = set()
        plans: list[PointsEventPlan] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValidationFailed(f"points_events[{i}] must be an object", field=f"points_events[{i}]")
            try:
                plan = self.plan_points_event(item, overlay=overlay)
            except ValidationFailed as exc:
                exc.field = f"points_events[{i}].{exc.field}" if exc.field else f"points_events[{i}]"
                exc.message = f"points_events[{i}]: {exc.message}"
                exc.args = (exc.message,)
                raise
            except NotFound as exc:
                exc.message = f"points_events[{i}]: {exc.message}"
                exc.args = (exc.message,)
                raise
            if plan.rule is not None and plan.rule.once_per_customer:
                # Two once-per-customer events for one member in one batch: the second would earn again.
                pair = (plan.member.id, plan.rule.id)
                if pair in once:
                    raise ValidationFailed(f"points_events[{i}]: customer {plan.member.id} already completes "
                                           f"{plan.rule.name!r} earlier in this batch, and it earns once",
                                           field=f"points_events[{i}].source")
                once.add(pair)
            pts, cr = overlay.get(plan.member.id, (plan.member.points_tally, plan.member.credits_tally))
            overlay[plan.member.id] = (pts + plan.points_diff, cr + plan.credits_diff)
            plans.append(plan)
        return [self._apply_api_plan(plan) for plan in plans]

    # -- applying ------------------------------------------------------------------------------------------
    def apply_plan(self, plan: PointsEventPlan) -> PointsEvent:
        now = self.ctx.now()
        member = plan.member
        event = PointsEvent(
            id=self.ctx.ids.next("points_event"), customer_id=member.id, source=plan.source,
            points_diff=plan.points_diff, credits_diff=plan.credits_diff, title=plan.title,
            applied_at=plan.applied_at, created_at=now, internal_note=plan.internal_note,
            external_note=plan.external_note, order_id=plan.order_id,
            earning_rule_id=plan.rule.id if plan.rule else None, points_purchase_id=plan.points_purchase_id,
            custom_action_name=plan.custom_action_name, skip_email=plan.skip_email,
        )
        self.points_events[event.id] = event
        self.by_member.setdefault(member.id, []).append(event)
        member.points_tally += event.points_diff
        member.credits_tally += event.credits_diff
        if event.points_diff > 0 and event.source not in NON_EARNING_SOURCES:
            member.lifetime_points += event.points_diff
        member.last_activity_at = now
        member.remote_updated_at = now
        if plan.rule is not None and plan.rule.once_per_customer:
            if member.completed_rule_ids is None:
                member.completed_rule_ids = set()
            member.completed_rule_ids.add(plan.rule.id)
        if plan.order_id is not None:
            self.order_points.setdefault(plan.order_id, []).append(event.id)
        for recorded in self._recorded:
            recorded(member, event)
        self.ctx.bus.publish(PointsEventCreated(
            shop=self.ctx.domain, at=now, customer_id=member.id, points_event_id=event.id, source=event.source,
            points_diff=event.points_diff, credits_diff=event.credits_diff,
        ))
        for changed in self._changed:
            changed(member)
        return event

    def announce(self, member: Member, rule: EarningRule, details: dict[str, Any] | None = None) -> None:
        """Publish ``ActionCompleted``: the customer did what ``rule`` rewards, and Rivo accepted it."""
        self.ctx.bus.publish(ActionCompleted(shop=self.ctx.domain, at=self.ctx.now(), customer_id=member.id,
                                             trigger=rule.trigger, rule_id=rule.id,
                                             action_id=self.ctx.ids.next("action"), details=dict(details or {})))

    def earn(self, member: Member, trigger: str, *, points: int | None = None, name: str | None = None,
             order_id: int | None = None, title: str | None = None,
             details: dict[str, Any] | None = None) -> PointsEvent | None:
        """Earn from the rule for ``trigger`` if the member may: announce the action, then add the points.
        Returns None — and publishes nothing — when the rule is missing or disabled, the program inactive or
        the customer excluded (the seed: workflows do not trigger unless the rule is enabled)."""
        rule = self.program.find_rule(trigger, name)
        if rule is None or self.earning_block(member, rule, trigger) is not None:
            return None
        self.announce(member, rule, {**_action_details(trigger, name), **(details or {})})
        amount = rule.points_amount if points is None else points
        if amount <= 0 and rule.credits_amount <= 0:
            if rule.once_per_customer:
                member.completed_rule_ids = (member.completed_rule_ids or set()) | {rule.id}
            return None
        plan = PointsEventPlan(member=member, source=trigger, points_diff=amount,
                               credits_diff=cents(rule.credits_amount), applied_at=self.ctx.now(),
                               title=title or rule.name, rule=rule, order_id=order_id, custom_action_name=name)
        return self.apply_plan(plan)

    def order_points_for(self, rule: EarningRule, subtotal: Decimal) -> int:
        """``points_amount`` per ``currency_base_amount`` spent, rounded down (e.g. 1 point per $1)."""
        base = rule.currency_base_amount or Decimal(1)
        if rule.points_type == "multiplier":
            return int((subtotal * rule.points_amount).to_integral_value(rounding=ROUND_FLOOR))
        return int((subtotal / base).to_integral_value(rounding=ROUND_FLOOR)) * rule.points_amount

    def reverse_order_points(self, order_id: int, fraction: Decimal, source: str) -> PointsEvent | None:
        """Take back ``fraction`` of what an order earned. This may take the balance below zero when the points
        were already spent — the one way a balance goes negative on a shop that forbids negative balances."""
        earned = sum(self.points_events[i].points_diff for i in self.order_points.get(order_id, ())
                     if self.points_events[i].source in ("order_placed", "product_purchased"))
        reversed_already = -sum(self.points_events[i].points_diff for i in self.order_points.get(order_id, ())
                                if self.points_events[i].source in ("order_refund", "order_cancelled"))
        amount = min(int((Decimal(earned) * fraction).to_integral_value(rounding=ROUND_FLOOR)),
                     earned - reversed_already)
        if amount <= 0:
            return None
        member_id = self.points_events[self.order_points[order_id][0]].customer_id
        member = self.members.members.get(member_id)
        if member is None:
            return None
        plan = PointsEventPlan(member=member, source=source, points_diff=-amount, credits_diff=Decimal("0.00"),
                               applied_at=self.ctx.now(), title=SOURCE_TITLES[source], order_id=order_id)
        event = self.apply_plan(plan)
        member.lifetime_points = max(0, member.lifetime_points - amount)
        self._notify_changed(member)
        return event

    # -- API: list -----------------------------------------------------------------------------------------
    def list_points_events(self, customer_identifier: Any = None) -> list[PointsEvent]:
        if customer_identifier is not None:
            member = self.members.find_member(customer_identifier)
            return list(self.by_member.get(member.id, ()))
        return list(self.points_events.values())


NON_EARNING_SOURCES = frozenset({"points_purchase", "order_refund", "order_cancelled", "points_expired"})


def _action_details(trigger: str, name: str | None) -> dict[str, Any]:
    if trigger == "custom_action" and name:
        return {"custom_action_name": name}
    if trigger == "visit_url" and name:
        return {"url": name}
    return {}


def _bad_instant() -> datetime:
    raise ValueError("not a string")
