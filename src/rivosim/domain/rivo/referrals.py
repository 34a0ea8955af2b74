"""Referrals: a friend claims an advocate's link (``POST /referrals``), their first paid order completes it
(or ``POST /referrals/{id}/complete``), and the advocate is rewarded. Fraud checks block with a reason.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import ReferralClaimed, ReferralCompleted
from rivosim.domain.rivo.ledger import Ledger, PointsEventPlan
from rivosim.domain.rivo.members import Members
from rivosim.domain.rivo.models import Referral
from rivosim.domain.rivo.program import Program
from rivosim.domain.settings import ReferralSettings
from rivosim.kernel.errors import Conflict, CustomerExcluded, NotFound, ValidationFailed

__all__ = ["Referrals"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Referrals:
    """The shop's referrals. Collaborators: the program (the referral_complete rule), the members (advocates,
    friends) and the ledger (the advocate's reward)."""

    def __init__(self, ctx: ShopContext, program: Program, members: Members, ledger: Ledger) -> None:
        self.ctx = ctx
        self.program = program
        self.members = members
        self.ledger = ledger
        self.referrals: dict[int, Referral] = {}

    def _referral_settings(self) -> ReferralSettings:
        return self.ctx.settings().program.referrals

    def create_referral(self, fields: dict[str, Any]) -> Referral:
        allowed = {"email", "referral_code", "remote_ip"}
        for key in fields:
            if key not in allowed:
                raise ValidationFailed(f"unknown parameter {key}; accepted: email, referral_code, remote_ip", field=key)
        for key in ("email", "referral_code", "remote_ip"):
            if not isinstance(fields.get(key), str) or not fields[key].strip():
                raise ValidationFailed(f"{key} is required", field=key)
        email = fields["email"].strip()
        if not _EMAIL_RE.match(email):
            raise ValidationFailed(f"email {email!r} is invalid", field="email")
        try:
            ip = str(ipaddress.ip_address(fields["remote_ip"].strip()))
        except ValueError as exc:
            raise ValidationFailed("remote_ip must be an IPv4 or IPv6 address", field="remote_ip") from exc
        advocate_id = self.members.member_id_for_code(fields["referral_code"])
        if advocate_id is None or advocate_id not in self.members.members:
            raise NotFound(f"no advocate with referral_code {fields['referral_code']!r}", resource="referral_code")
        settings = self._referral_settings()
        if not settings.enabled or not self.ledger.program_active():
            raise ValidationFailed("the referral program is not active", field="referral_code")
        advocate = self.members.members[advocate_id]
        if self.members.is_excluded(advocate):
            raise CustomerExcluded("the advocate is tagged 'Rivo Excluded' and cannot refer friends",
                                   field="referral_code")
        now = self.ctx.now()
        for existing in self.referrals.values():
            if existing.referred_email.casefold() == email.casefold() and existing.status != "blocked":
                raise Conflict(f"{email} has already claimed a referral", field="email")
        block = None
        if advocate.email and advocate.email.casefold() == email.casefold():
            block = "self_referral"
        elif settings.new_customers_only and self.members.members_by_email.get(email.casefold()) is not None \
                and self.members.members[self.members.members_by_email[email.casefold()]].orders_count > 0:
            block = "existing_customer"
        else:
            week_ago = now - timedelta(days=7)
            same_ip = sum(1 for r in self.referrals.values() if r.signup_ip == ip and r.created_at >= week_ago)
            if same_ip >= settings.weekly_ip_threshold:
                block = "ip_threshold_exceeded"
        referral = Referral(
            id=self.ctx.ids.next("referral"), advocate_customer_id=advocate.id, referred_email=email, signup_ip=ip,
            created_at=now, status="blocked" if block else "pending", status_last_changed_at=now, claimed_at=now,
            block_reason=block,
            referred_discount_code=None if block else "REF-" + self.ctx.ids.alnum(10),
            referred_customer_id=self.members.members_by_email.get(email.casefold()),
        )
        self.referrals[referral.id] = referral
        if not block:
            self.ctx.bus.publish(ReferralClaimed(shop=self.ctx.domain, at=now, referral_id=referral.id,
                                                 advocate_customer_id=advocate.id))
        return referral

    def get_referral(self, referral_id: int) -> Referral:
        referral = self.referrals.get(referral_id)
        if referral is None:
            raise NotFound(f"referral {referral_id} not found", resource="referral", id=referral_id)
        return referral

    def complete_referral(self, referral_id: int, order_id: int | None = None) -> Referral:
        referral = self.get_referral(referral_id)
        if referral.status != "pending":
            raise Conflict(f"referral {referral_id} is {referral.status}; only a pending referral can be completed"
                           + (f" (blocked: {referral.block_reason})" if referral.block_reason else ""),
                           field="status")
        now = self.ctx.now()
        referral.status = "completed"
        referral.status_last_changed_at = now
        referral.completed_at = now
        referral.referred_order_id = order_id
        if referral.referred_customer_id is None:
            referral.referred_customer_id = self.members.members_by_email.get(referral.referred_email.casefold())
        advocate = self.members.members.get(referral.advocate_customer_id)
        if advocate is not None:
            settings = self._referral_settings()
            rule = self.program.find_rule("referral_complete")
            points = rule.points_amount if rule is not None else settings.advocate_points
            event = None
            if rule is not None:
                event = self.ledger.earn(advocate, "referral_complete", points=points, title="Referral completed")
            elif self.ledger.earning_block(advocate, None, "referral_complete") == "no_rule" and points > 0:
                # No referral_complete earning rule: the referral settings' advocate reward applies.
                event = self.ledger.apply_plan(PointsEventPlan(
                    member=advocate, source="referral_complete", points_diff=points, credits_diff=Decimal("0.00"),
                    applied_at=now, title="Referral completed"))
            referral.advocate_reward_status = "rewarded" if event is not None else "not_rewarded"
        self.ctx.bus.publish(ReferralCompleted(shop=self.ctx.domain, at=now, referral_id=referral.id,
                                               advocate_customer_id=referral.advocate_customer_id,
                                               referred_customer_id=referral.referred_customer_id))
        return referral

    def complete_referral_for_order(self, customer_id: int, email: str | None, order_id: int) -> Referral | None:
        """A referred friend's first paid order completes their pending referral."""
        if not email:
            return None
        member = self.members.members.get(customer_id)
        if member is None or member.orders_count != 1:
            return None
        for referral in self.referrals.values():
            if referral.status == "pending" and referral.referred_email.casefold() == email.casefold():
                referral.referred_customer_id = customer_id
                return self.complete_referral(referral.id, order_id=order_id)
        return None

    def referral_for_code(self, code: str) -> Referral | None:
        """The referral whose friend discount ``code`` is (case-insensitive); None if it is no referral code."""
        wanted = code.strip().casefold()
        for referral in self.referrals.values():
            if referral.referred_discount_code and referral.referred_discount_code.casefold() == wanted:
                return referral
        return None

    def list_referrals(self, customer_identifier: Any = None) -> list[Referral]:
        if customer_identifier is not None:
            member = self.members.find_member(customer_identifier)
            email = (member.email or "").casefold()
            return [r for r in self.referrals.values()
                    if r.advocate_customer_id == member.id or r.referred_email.casefold() == email]
        return list(self.referrals.values())
