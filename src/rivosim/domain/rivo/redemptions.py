"""Redemptions: spending points (or credits) on a reward, producing a discount code and a negative ledger
event with source ``points_purchase``. ``POST /points_redemptions`` is not idempotent, as on the real API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import RedemptionCreated
from rivosim.domain.numbers import parse_int
from rivosim.domain.rivo.ledger import Ledger, PointsEventPlan, cents, credits_amount
from rivosim.domain.rivo.members import Members
from rivosim.domain.rivo.models import Redemption
from rivosim.domain.rivo.program import Program
from rivosim.kernel.clock import add_months
from rivosim.kernel.errors import (
    CustomerExcluded,
    InsufficientBalance,
    InsufficientPoints,
    ProgramInactive,
    ValidationFailed,
)

__all__ = ["Redemptions"]


class Redemptions:
    """The shop's redemptions. Collaborators: the program (the reward redeemed), the members (who redeems) and
    the ledger (the negative points event)."""

    def __init__(self, ctx: ShopContext, program: Program, members: Members, ledger: Ledger) -> None:
        self.ctx = ctx
        self.program = program
        self.members = members
        self.ledger = ledger
        self.redemptions: dict[int, Redemption] = {}

    def redeem_reward(self, fields: dict[str, Any]) -> Redemption:
        allowed = {"customer_identifier", "reward_id", "points_amount", "credits_amount"}
        for key in fields:
            if key not in allowed:
                raise ValidationFailed(f"unknown parameter {key}; accepted: {', '.join(sorted(allowed))}", field=key)
        if fields.get("customer_identifier") in (None, ""):
            raise ValidationFailed("customer_identifier is required", field="customer_identifier")
        if fields.get("reward_id") in (None, ""):
            raise ValidationFailed("reward_id is required", field="reward_id")
        reward_id = parse_int(fields["reward_id"], "reward_id")
        member = self.members.find_member(fields["customer_identifier"])
        reward = self.program.get_reward(reward_id)
        if not reward.enabled:
            raise ValidationFailed(f"reward {reward.id} ({reward.name!r}) is disabled", field="reward_id")
        if not self.ledger.program_active():
            raise ProgramInactive("the loyalty program is not active: rewards cannot be redeemed")
        if self.members.is_excluded(member):
            raise CustomerExcluded(f"customer {member.id} is tagged 'Rivo Excluded' and cannot earn or redeem")
        points = 0
        credits = Decimal("0.00")
        value = reward.reward_value
        if reward.source == "credits":
            raw = fields.get("credits_amount")
            credits = credits_amount(raw, "credits_amount") if raw not in (None, "") else reward.reward_value
            if credits <= 0:
                raise ValidationFailed("credits_amount must be greater than 0", field="credits_amount")
            value = credits
        elif reward.points_type == "incremental":
            if fields.get("points_amount") in (None, ""):
                raise ValidationFailed("points_amount is required for an incremental reward", field="points_amount")
            points = parse_int(fields["points_amount"], "points_amount")
            step = reward.increment_points_value or 1
            low = reward.min_points_to_redeem_value or step
            high = reward.max_points_to_spend_value
            if points < low or (high is not None and points > high) or points % step:
                limit = f" and at most {high}" if high is not None else ""
                raise ValidationFailed(f"points_amount must be a multiple of {step}, at least {low}{limit}",
                                       field="points_amount")
            value = cents(reward.reward_value * points / step)
        else:
            points = reward.points_amount
        allow_negative = self.ctx.settings().api.allow_negative_balance
        if points > member.points_tally and not allow_negative:
            raise InsufficientPoints(f"customer {member.id} has {member.points_tally} points; {reward.name!r} needs "
                                     f"{points}", balance=member.points_tally, required=points)
        # Only what the reward spends is checked: a points reward spends no credit, whatever the credit balance.
        if credits > 0 and credits > member.credits_tally and not allow_negative:
            raise InsufficientBalance(f"customer {member.id} has {member.credits_tally} credits; "
                                      f"cannot spend {credits}",
                                      balance=str(member.credits_tally))
        # Everything checked: apply.
        now = self.ctx.now()
        redemption = Redemption(
            id=self.ctx.ids.next("points_redemption"), customer_id=member.id, reward_id=reward.id,
            name=_display_name(reward.reward_type, value, reward.name), code=None if reward.source == "credits"
            else "REDEEM-" + self.ctx.ids.hex(12), points_amount=points, credits_amount=credits,
            applied_at=now, source=reward.source,
            expires_at=add_months(now, reward.expiry_months) if reward.expiry_months else None,
        )
        self.redemptions[redemption.id] = redemption
        reward.redeemed_count += 1
        self.ctx.bus.publish(RedemptionCreated(shop=self.ctx.domain, at=now, customer_id=member.id,
                                               redemption_id=redemption.id, reward_id=reward.id))
        event = self.ledger.apply_plan(PointsEventPlan(
            member=member, source="points_purchase", points_diff=-points, credits_diff=-credits, applied_at=now,
            title=f"Redeemed {redemption.name}", points_purchase_id=redemption.id,
        ))
        redemption.points_event_id = event.id
        return redemption

    def list_redemptions(self, customer_identifier: Any = None) -> list[Redemption]:
        if customer_identifier is not None:
            member = self.members.find_member(customer_identifier)
            return [r for r in self.redemptions.values() if r.customer_id == member.id]
        return list(self.redemptions.values())

    def redemption_for_code(self, code: str) -> Redemption | None:
        """The redemption that issued discount ``code`` (case-insensitive), used or not; None if Rivo did not."""
        wanted = code.strip().casefold()
        for redemption in self.redemptions.values():
            if redemption.code and redemption.code.casefold() == wanted:
                return redemption
        return None

    def use_code(self, code: str) -> Redemption | None:
        """Mark a discount code used (an order applied it); returns the redemption it belonged to."""
        for redemption in self.redemptions.values():
            if redemption.code and redemption.code.casefold() == code.casefold() and redemption.used_at is None:
                redemption.used_at = self.ctx.now()
                return redemption
        return None


def _display_name(reward_type: str, value: Decimal, fallback: str) -> str:
    if reward_type == "fixed_amount":
        return f"${value.normalize():f} off coupon"
    if reward_type == "percentage":
        return f"{value.normalize():f}% off coupon"
    return fallback
