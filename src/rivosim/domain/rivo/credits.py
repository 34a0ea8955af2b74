"""Store-credit expiry: each grant of store credit expires ``months`` after it was given, spending uses the oldest
grant first (FIFO), and the member is warned 30 days and 3 days before, as for points.

Rivo lists the ``notification/credits_expiry_warning`` and ``notification/credits_expiry_last_chance`` topics
(observed in its webhook topic list) and shows ``credits_expire_at`` on customers, but documents no settings for
it: the per-grant model, the schedule and the ``credits_expired`` ledger source mirror points expiry (help
6778445) and are inferred (docs/fidelity.md). Off by default (``program.credits_expiry.enabled``).

Owned by the lifecycle (``Lifecycle.credits``), which hands it every ledger event as it is written.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from rivosim.domain.context import ShopContext
from rivosim.domain.events import CreditsExpiryWarned
from rivosim.domain.rivo.ledger import Ledger, PointsEventPlan
from rivosim.domain.rivo.lots import Lots
from rivosim.domain.rivo.members import Members
from rivosim.domain.rivo.models import Member, PointsEvent
from rivosim.kernel.clock import add_months

__all__ = ["CreditsExpiry"]

ZERO = Decimal("0.00")


class CreditsExpiry:
    """Store-credit lots (``Lots``) and what their warnings and expiries do."""

    closed = False  # set with the lifecycle's when the shop is deleted

    def __init__(self, ctx: ShopContext, members: Members, ledger: Ledger) -> None:
        self.ctx = ctx
        self.members = members
        self.ledger = ledger
        self.lots = Lots(ctx, "rivo.warn_credit_lot", "rivo.expire_credit_lot")
        ctx.handle("rivo.warn_credit_lot", self._warn_lot)
        ctx.handle("rivo.expire_credit_lot", self._expire_lot)

    def _applies(self) -> bool:
        return not self.closed and self.ctx.settings().program.credits_expiry.enabled and self.ledger.program_active()

    def note_points_event(self, member: Member, event: PointsEvent) -> None:
        """A ledger event was written: a grant opens a lot (and its timers), a negative amount uses the oldest."""
        cfg = self.ctx.settings().program.credits_expiry
        if not cfg.enabled or event.source == "credits_expired" or event.credits_diff == 0:
            return
        if event.credits_diff > 0:
            self.lots.open(member.id, event.id, event.credits_diff, add_months(event.created_at, cfg.months))
        else:
            self.lots.use(member.id, -event.credits_diff)

    def _warn_lot(self, member_id: int, event_id: int, kind: str) -> None:
        member = self.members.members.get(member_id)
        lot = self.lots.live(event_id)
        if member is None or lot is None or not self._applies() or self.members.is_excluded(member):
            return
        self.ctx.bus.publish(CreditsExpiryWarned(
            shop=self.ctx.domain, at=self.ctx.now(), customer_id=member_id, kind=kind,
            credits=min(lot[1], max(member.credits_tally, ZERO)), expires_at=lot[2]))

    def _expire_lot(self, member_id: int, event_id: int) -> None:
        member = self.members.members.get(member_id)
        remaining = self.lots.close(member_id, event_id)
        if member is None or remaining is None or not self._applies():
            return
        credits = min(remaining, max(member.credits_tally, ZERO))
        if credits <= 0:
            return
        self.ledger.apply_plan(PointsEventPlan(member=member, source="credits_expired", points_diff=0,
                                               credits_diff=-credits, applied_at=self.ctx.now(),
                                               title="Store credit expired"))

    def expire_at(self, member: Member) -> datetime | None:
        """When the member's next store credit expires (None when none will)."""
        if not self.ctx.settings().program.credits_expiry.enabled or member.credits_tally <= 0:
            return None
        return self.lots.next_expiry(member.id)
