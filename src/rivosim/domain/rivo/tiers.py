"""VIP tiers: a member's tier follows the entry method (points earned, amount spent, orders placed) over the
program period (lifetime, calendar year, rolling year), re-evaluated after every ledger or purchase change.

Manual override rule: a tier set through the API holds until the next period boundary — the next 1 January in
the shop's zone for a calendar year, one year after it was set (to the microsecond) for a rolling year, never
for a lifetime program — or until the member earns a tier above it, whichever comes first. When it ends the
member is re-evaluated at once and falls back to the tier earned by then.

A resource of its own (``Tiers``), composed by ``RivoBackend`` as ``tier_book``: it is handed the program, the
members and the ledger, and listens to the ledger (``Ledger.on_changed``) to re-evaluate after each change. It
owns the rolling window's timers too (``note_progress``: the lifecycle calls it for each ledger event).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rivosim.domain.context import ShopContext
from rivosim.domain.events import TierChanged
from rivosim.domain.numbers import int_text
from rivosim.domain.rivo.ledger import NON_EARNING_SOURCES, Ledger
from rivosim.domain.rivo.members import Members
from rivosim.domain.rivo.models import Member, VipTier
from rivosim.domain.rivo.program import Program
from rivosim.domain.settings import VipSettings
from rivosim.kernel.clock import add_months, rolling_year_exits
from rivosim.kernel.errors import CustomerExcluded, ValidationFailed

__all__ = ["Tiers"]


class Tiers:
    """Each member's VIP tier and manual overrides. Collaborators: the program (the tiers), the members (their
    purchases, exclusion) and the ledger (points earned in the period; whether the program is active)."""

    def __init__(self, ctx: ShopContext, program: Program, members: Members, ledger: Ledger) -> None:
        self.ctx = ctx
        self.program = program
        self.members = members
        self.ledger = ledger
        self.deferred = False
        self.closed = False  # set when the shop is deleted: window timers still in the clock's heap do nothing
        ctx.handle("rivo.reevaluate_tier", self._reevaluate)

    def vip_settings(self) -> VipSettings:
        return self.ctx.settings().program.vip

    def shop_tz(self) -> ZoneInfo:
        return ZoneInfo(self.ctx.settings().timezone)

    def _year_start(self, year: int) -> datetime:
        """1 January 00:00 in the shop's time zone, as a UTC instant (calendar years are the shop's)."""
        return datetime(year, 1, 1, tzinfo=self.shop_tz()).astimezone(UTC)

    def period_start(self, at: datetime) -> datetime | None:
        """Start of the current tier period (None for lifetime), respecting the program start date."""
        vip = self.vip_settings()
        start: datetime | None = None
        if vip.period == "calendar_year":
            start = self._year_start(at.astimezone(self.shop_tz()).year)
        elif vip.period == "rolling_year":
            # The window is (at - 12 months, at]: what happened exactly a year ago has just left it.
            start = add_months(at, -12) + timedelta(microseconds=1)
        if vip.start_date:
            program_start = datetime.combine(date.fromisoformat(vip.start_date), datetime.min.time(), UTC)
            start = program_start if start is None or program_start > start else start
        return start

    def next_period_boundary(self, at: datetime) -> datetime | None:
        if self.vip_settings().period == "calendar_year":
            return self._year_start(at.astimezone(self.shop_tz()).year + 1)
        if self.vip_settings().period == "rolling_year":
            return add_months(at, 12)
        return None

    def tier_progress(self, member: Member, at: datetime | None = None) -> Decimal:
        """The member's progress in the entry method's unit over the current period."""
        at = at or self.ctx.now()
        method = self.vip_settings().entry_method
        start = self.period_start(at)
        if method == "points_earned":
            if start is None:
                return Decimal(member.lifetime_points)
            earned = sum(e.points_diff for e in self.ledger.by_member.get(member.id, ())
                         if e.applied_at >= start and e.applied_at <= at
                         and ((e.points_diff > 0 and e.source not in NON_EARNING_SOURCES)
                              or e.source in ("order_refund", "order_cancelled")))
            return Decimal(max(0, earned))
        purchases = [p for p in self.members.purchases.get(member.id, ()) if start is None or p[0] >= start]
        if method == "amount_spent":
            return max(Decimal(0), sum((p[1] for p in purchases), Decimal(0)))
        return Decimal(sum(1 for p in purchases if p[1] > 0))

    def earned_tier(self, member: Member, at: datetime | None = None) -> VipTier | None:
        progress = self.tier_progress(member, at)
        tier = None
        for candidate in self.program.tier_order:
            if progress >= candidate.threshold:
                tier = candidate
        return tier

    def next_tier(self, member: Member) -> VipTier | None:
        current = self.program.tiers.get(member.vip_tier_id) if member.vip_tier_id else None
        for candidate in self.program.tier_order:
            if current is None or candidate.threshold > current.threshold:
                return candidate
        return None

    def after_ledger_change(self, member: Member) -> None:
        """The ledger's ``on_changed`` listener: re-evaluate now, unless a business event holds it back."""
        if not self.deferred:
            self.evaluate_tier(member)

    @contextmanager
    def deferred_tiers(self) -> Iterator[None]:
        """Hold tier re-evaluation until the block ends (one business event, one tier decision at its end)."""
        previous = self.deferred
        self.deferred = True
        try:
            yield
        finally:
            self.deferred = previous

    def evaluate_tier(self, member: Member) -> TierChanged | None:
        """Move the member to the tier they have earned, honouring a manual override while it holds."""
        if member.vip_tier_id is not None and member.vip_tier_id not in self.program.tiers:
            # The tier was removed from the program: nobody holds it any more (nor an override to it).
            member.vip_tier_id = None
            member.tier_override_until = None
            member.tier_override_earned_id = None
        if not self.program.vip_available() or not self.program.tier_order:
            return None
        if not self.ledger.program_active() or self.members.is_excluded(member):
            # An inactive program fires nothing; a "Rivo Excluded" customer takes no part in the program.
            return None
        now = self.ctx.now()
        earned = self.earned_tier(member, now)
        current = self.program.tiers.get(member.vip_tier_id) if member.vip_tier_id else None
        if self._override_holds(member, now):
            # The override yields only to a tier *earned* above it: above the tier set by hand and above the
            # tier the member had already earned when it was set (else a manual downgrade would be undone by
            # the very next ledger change).
            floor = self.program.tiers.get(member.tier_override_earned_id) if member.tier_override_earned_id else None
            bar = max((t.threshold for t in (current, floor) if t is not None), default=None)
            if earned is None or bar is None or earned.threshold <= bar:
                return None
            member.tier_override_until = None
            member.tier_override_earned_id = None
        return self._move(member, earned, manual=False)

    def _override_holds(self, member: Member, now: datetime) -> bool:
        until = member.tier_override_until
        return until is not None and now < until

    def _move(self, member: Member, tier: VipTier | None, *, manual: bool, internal_note: str | None = None,
              external_note: str | None = None) -> TierChanged | None:
        current = self.program.tiers.get(member.vip_tier_id) if member.vip_tier_id else None
        if (tier.id if tier else None) == (current.id if current else None):
            return None
        now = self.ctx.now()
        up = tier is not None and (current is None or tier.threshold > current.threshold)
        if member.tiers_reached is None:
            member.tiers_reached = set()
        first_time = tier is not None and tier.id not in member.tiers_reached
        if tier is not None:
            member.tiers_reached.add(tier.id)
        member.vip_tier_id = tier.id if tier else None
        member.vip_tier_started_at = now
        member.remote_updated_at = now
        if current is None and tier is not None and tier.threshold == 0 and not manual:
            # Placement in the entry tier (threshold 0) when a member first takes part is not "reaching" a
            # tier: no upgrade or unlock fires (seeded members are placed the same way).
            return None
        event = TierChanged(shop=self.ctx.domain, at=now, customer_id=member.id,
                            from_tier_id=current.id if current else None, to_tier_id=tier.id if tier else None,
                            direction="upgraded" if up else "downgraded", first_time=first_time and up,
                            manual=manual, change_id=self.ctx.ids.next("tier_change"),
                            internal_note=internal_note, external_note=external_note)
        self.ctx.bus.publish(event)
        return event

    def set_member_tier(self, identifier: Any, tier_id: Any, *, internal_note: Any = None,
                        external_note: Any = None) -> Member:
        """``POST /customers/{id}/vip_tier``: set the tier by hand (see the override rule above)."""
        member = self.members.find_member(identifier)
        if isinstance(tier_id, str) and (parsed := int_text(tier_id)) is not None:
            tier_id = parsed
        if isinstance(tier_id, bool) or not isinstance(tier_id, int):
            raise ValidationFailed("vip_tier_id is required and must be an integer", field="vip_tier_id")
        tier = self.program.get_tier(tier_id)
        if self.members.is_excluded(member):
            raise CustomerExcluded(f"customer {member.id} is tagged 'Rivo Excluded' and takes no part in the "
                                   "VIP program")
        for name, value in (("internal_note", internal_note), ("external_note", external_note)):
            if value is not None and not isinstance(value, str):
                raise ValidationFailed(f"{name} must be a string", field=name)
        if not self.program.vip_available():
            raise ValidationFailed("the VIP program is not available: it is disabled or the plan is below Scale",
                                   field="vip_tier_id")
        now = self.ctx.now()
        boundary = self.next_period_boundary(now)
        # Lifetime programs have no boundary: the override holds until a higher tier is earned.
        member.tier_override_until = boundary or (now + timedelta(days=365 * 1000))
        earned = self.earned_tier(member, now)
        member.tier_override_earned_id = earned.id if earned is not None else None
        self._move(member, tier, manual=True, internal_note=internal_note, external_note=external_note)
        # Rolling year: the override ends a year from now; re-evaluate then, like any progress leaving the window.
        self.note_progress(member, now)
        return member

    def note_progress(self, member: Member, at: datetime) -> None:
        """In a rolling-year program, what happened at ``at`` leaves the window (now - 12 months, now] at exactly
        ``at`` + 12 months (a manual override set at ``at`` ends then too): re-evaluate the member at that instant,
        so a reader then already sees the new tier (a downgrade fires if they fell below their tier)."""
        if self.vip_settings().period == "rolling_year":
            for leaves in rolling_year_exits(at):
                self.ctx.keep_time(leaves, "rivo.reevaluate_tier", (member.id,))

    def _reevaluate(self, member_id: int) -> None:
        if self.closed:
            return
        member = self.members.members.get(member_id)
        if member is not None:
            self.evaluate_tier(member)

    def on_period_boundary(self) -> None:
        """Re-evaluate everyone at a period boundary (overrides that ended fall back to the earned tier)."""
        for member in list(self.members.members.values()):
            self.evaluate_tier(member)
