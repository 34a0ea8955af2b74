"""What happens to members as time passes, driven by the simulator clock:

- a daily tick at the shop's local midnight: birthdays (a 29 February birthday is celebrated on 28 February in
  other years), anniversaries of joining, calendar-year tier resets, rolling-year tier decay;
- points expiry (help 6778445): ``per_event`` — each earning expires N months later, spending consumes the
  oldest first (FIFO) — or ``inactivity`` — the whole balance expires after N months without activity;
  warnings 30 days and 3 days before; expiry writes a negative ledger event (source ``points_expired``).

Day indexes (birthday and join date → member ids) keep a simulated year at O(members), not O(members x days).

A resource of its own (``Lifecycle``), composed by ``RivoBackend`` as ``lifecycle``: it is handed the program,
members, ledger and tiers, and listens to the members (``Members.on_days_changed``: the day indexes) and the ledger
(``Ledger.on_recorded``: expiry lots; it hands each event's instant to tiers for the rolling window).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import PointsExpired, PointsExpiryWarned
from rivosim.domain.rivo.credits import CreditsExpiry
from rivosim.domain.rivo.ledger import Ledger, PointsEventPlan
from rivosim.domain.rivo.lots import WARNINGS, Lots
from rivosim.domain.rivo.members import Members
from rivosim.domain.rivo.models import Member, PointsEvent
from rivosim.domain.rivo.program import Program
from rivosim.domain.rivo.tiers import Tiers
from rivosim.domain.settings import ExpirySettings
from rivosim.kernel.clock import add_months

__all__ = ["Lifecycle"]



def _day_key(day: date) -> str:
    return f"{day.month:02d}-{day.day:02d}"


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class Lifecycle:
    """The daily tick, birthdays and anniversaries, points expiry. Collaborators: the program
    (the rules that fire), the members, the ledger (earning, expiring) and tiers (period boundaries).
    Building it starts the daily tick."""

    _closed = False  # set when the shop is deleted: timers still in the clock's heap then do nothing

    @property
    def closed(self) -> bool:
        return self._closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self._closed = self.credits.closed = value

    def __init__(self, ctx: ShopContext, program: Program, members: Members, ledger: Ledger, tiers: Tiers) -> None:
        self.ctx = ctx
        self.program = program
        self.members = members
        self.ledger = ledger
        self.tiers = tiers
        self._dob_index: dict[str, set[int]] | None = None
        self._join_index: dict[str, set[int]] | None = None
        self._celebrated: dict[tuple[int, str], int] = {}
        self.lots = Lots(ctx, "rivo.warn_lot", "rivo.expire_lot")  # per-event points expiry
        self._inactivity_gen: dict[int, int] = {}
        self.credits = CreditsExpiry(ctx, members, ledger)  # store credit's own lots and warnings
        ctx.handle("rivo.daily", self._daily)
        ctx.handle("rivo.warn_lot", self._warn_lot)
        ctx.handle("rivo.expire_lot", self._expire_lot)
        ctx.handle("rivo.warn_inactive", self._warn_inactive)
        ctx.handle("rivo.expire_inactive", self._expire_inactive)
        self._schedule_daily()

    # -- the daily tick ----------------------------------------------------------------------------------
    def local_today(self) -> date:
        return self.ctx.now().astimezone(self.tiers.shop_tz()).date()

    def _schedule_daily(self) -> None:
        tz = self.tiers.shop_tz()
        tomorrow = self.ctx.now().astimezone(tz).date() + timedelta(days=1)
        due = datetime.combine(tomorrow, time(0), tzinfo=tz).astimezone(self.ctx.now().tzinfo)
        self.ctx.keep_time(due, "rivo.daily", ())

    def _daily(self) -> None:
        if self.closed:
            return  # the shop was deleted: its clock stops here
        today = self.local_today()
        try:
            if self.tiers.vip_settings().period == "calendar_year" and today.month == 1 and today.day == 1:
                self.tiers.on_period_boundary()
            # Only look members up when the rule can earn at all (a year of idle days stays O(days)).
            if self._rule_can_fire("customer_birthday"):
                self._celebrate(today, "customer_birthday", self._dob_members(today))
            if self._rule_can_fire("customer_anniversary"):
                self._celebrate(today, "customer_anniversary", self._anniversary_members(today))
        finally:
            self._schedule_daily()

    def _rule_can_fire(self, trigger: str) -> bool:
        rule = self.program.find_rule(trigger)
        return rule is not None and rule.enabled and self.ledger.program_active()

    def _celebrate(self, today: date, trigger: str, member_ids: list[int]) -> None:
        for cid in member_ids:
            member = self.members.members.get(cid)
            if member is None or self._celebrated.get((cid, trigger)) == today.year:
                continue
            self._celebrated[(cid, trigger)] = today.year
            details: dict[str, Any] = {"date": today.isoformat()}
            if trigger == "customer_anniversary":
                details["years"] = today.year - member.created_at.astimezone(self.tiers.shop_tz()).year
            else:
                details["dob"] = member.dob
            self.ledger.earn(member, trigger, details=details)

    # -- day indexes -------------------------------------------------------------------------------------
    def _ensure_day_indexes(self) -> None:
        if self._dob_index is not None and self._join_index is not None:
            return
        tz = self.tiers.shop_tz()
        dob: dict[str, set[int]] = {}
        join: dict[str, set[int]] = {}
        for member in self.members.members.values():
            if member.dob:
                dob.setdefault(member.dob, set()).add(member.id)
            join.setdefault(_day_key(member.created_at.astimezone(tz).date()), set()).add(member.id)
        self._dob_index, self._join_index = dob, join

    def index_member_days(self, member: Member, old_dob: str | None = None, remove: bool = False) -> None:
        """The members' ``on_days_changed`` listener: keep the day indexes in step when a member joins, changes
        birthday or leaves."""
        if self._dob_index is None or self._join_index is None:
            return  # built lazily, from scratch, on first use
        if old_dob:
            self._dob_index.get(old_dob, set()).discard(member.id)
        join_key = _day_key(member.created_at.astimezone(self.tiers.shop_tz()).date())
        if remove:
            if member.dob:
                self._dob_index.get(member.dob, set()).discard(member.id)
            self._join_index.get(join_key, set()).discard(member.id)
            return
        if member.dob:
            self._dob_index.setdefault(member.dob, set()).add(member.id)
        self._join_index.setdefault(join_key, set()).add(member.id)

    def _keys_for(self, today: date) -> list[str]:
        keys = [_day_key(today)]
        if today.month == 2 and today.day == 28 and not _is_leap(today.year):
            keys.append("02-29")  # leap-day birthdays and join dates are kept on 28 February
        return keys

    def _dob_members(self, today: date) -> list[int]:
        self._ensure_day_indexes()
        assert self._dob_index is not None
        return sorted({cid for key in self._keys_for(today) for cid in self._dob_index.get(key, ())})

    def _anniversary_members(self, today: date) -> list[int]:
        self._ensure_day_indexes()
        assert self._join_index is not None
        tz = self.tiers.shop_tz()
        ids = {cid for key in self._keys_for(today) for cid in self._join_index.get(key, ())}
        members = self.members.members
        return sorted(cid for cid in ids
                      if (m := members.get(cid)) is not None and m.created_at.astimezone(tz).year < today.year)

    # -- points expiry -----------------------------------------------------------------------------------
    def _expiry(self) -> ExpirySettings:
        return self.ctx.settings().program.expiry

    def note_points_event(self, member: Member, event: PointsEvent) -> None:
        """The ledger's ``on_recorded`` listener: the rolling window, then expiry lots, FIFO use and activity."""
        self.tiers.note_progress(member, event.applied_at)
        self.credits.note_points_event(member, event)
        cfg = self._expiry()
        if not cfg.enabled or event.source in ("points_expired", "credits_expired"):
            return
        if cfg.mode == "per_event":
            if event.points_diff > 0:
                event.expires_at = add_months(event.created_at, cfg.months)
                self.lots.open(member.id, event.id, event.points_diff, event.expires_at)
            elif event.points_diff < 0:
                self.lots.use(member.id, -event.points_diff)
        else:
            if event.source == "points_purchase" and cfg.exclude_redemptions_from_activity:
                return
            generation = self._inactivity_gen.get(member.id, 0) + 1
            self._inactivity_gen[member.id] = generation
            expires_at = add_months(event.created_at, cfg.months)
            for kind, before in WARNINGS:
                self.ctx.keep_time(expires_at - before, "rivo.warn_inactive",
                                   (member.id, generation, kind, expires_at.isoformat()))
            self.ctx.keep_time(expires_at, "rivo.expire_inactive", (member.id, generation))

    def _expiry_applies(self, mode: str) -> bool:
        cfg = self._expiry()
        return not self.closed and cfg.enabled and cfg.mode == mode and self.ledger.program_active()

    def _warn_lot(self, member_id: int, event_id: int, kind: str) -> None:
        member = self.members.members.get(member_id)
        lot = self.lots.live(event_id)  # None: used up (or expired) already
        if (member is None or lot is None or not self._expiry_applies("per_event")
                or self.members.is_excluded(member)):
            return
        self.ctx.bus.publish(PointsExpiryWarned(shop=self.ctx.domain, at=self.ctx.now(), customer_id=member_id,
                                                kind=kind, points=min(lot[1], max(member.points_tally, 0)),
                                                expires_at=lot[2]))

    def _expire_lot(self, member_id: int, event_id: int) -> None:
        member = self.members.members.get(member_id)
        remaining = self.lots.close(member_id, event_id)  # None: used up already
        if member is None or remaining is None or remaining <= 0 or not self._expiry_applies("per_event"):
            return
        self._expire(member, min(remaining, max(member.points_tally, 0)), "per_event")

    def _warn_inactive(self, member_id: int, generation: int, kind: str, expires_at_iso: str) -> None:
        expires_at = datetime.fromisoformat(expires_at_iso)
        member = self.members.members.get(member_id)
        if (member is None or self._inactivity_gen.get(member_id) != generation or member.points_tally <= 0
                or not self._expiry_applies("inactivity") or self.members.is_excluded(member)):
            return
        self.ctx.bus.publish(PointsExpiryWarned(shop=self.ctx.domain, at=self.ctx.now(), customer_id=member_id,
                                                kind=kind, points=member.points_tally, expires_at=expires_at))

    def _expire_inactive(self, member_id: int, generation: int) -> None:
        member = self.members.members.get(member_id)
        if member is None or self._inactivity_gen.get(member_id) != generation or not self._expiry_applies(
                "inactivity"):
            return
        self._expire(member, max(member.points_tally, 0), "inactivity")

    def _expire(self, member: Member, points: int, mode: str) -> None:
        if points <= 0:
            return
        now = self.ctx.now()
        self.ctx.bus.publish(PointsExpired(shop=self.ctx.domain, at=now, customer_id=member.id, points=points,
                                           mode=mode))
        self.ledger.apply_plan(PointsEventPlan(member=member, source="points_expired", points_diff=-points,
                                        credits_diff=Decimal("0.00"), applied_at=now, title="Points expired"))

    def points_expire_at(self, member: Member) -> datetime | None:
        """When the member's next points expire (None when nothing will)."""
        cfg = self._expiry()
        if not cfg.enabled or member.points_tally <= 0:
            return None
        if cfg.mode == "per_event":
            return self.lots.next_expiry(member.id)
        last = member.last_activity_at
        return add_months(last, cfg.months) if last else None


def add_months_date(day: date, months: int) -> date:
    moved = add_months(datetime.combine(day, time(0)), months)
    return moved.date()
