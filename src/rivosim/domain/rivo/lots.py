"""Expiry lots: what is left of each grant — of points (per-event points expiry) or of store credit — until it
expires, the oldest used first (FIFO), with the timers that warn 30 and 3 days before and expire it. One ``Lots``
per currency, owned by the lifecycle (points) and by ``CreditsExpiry`` (credit); the owner registers the two timer
actions and decides what a warning or an expiry does."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any

from rivosim.domain.context import ShopContext

__all__ = ["WARNINGS", "Lots"]

WARNINGS = (("warning", timedelta(days=30)), ("last_chance", timedelta(days=3)))


class Lots:
    """Per member, ``[points event id, amount left, expires at]`` oldest first; timers name a lot by its event id
    (``warn_action(member_id, event_id, kind)``, ``expire_action(member_id, event_id)``)."""

    def __init__(self, ctx: ShopContext, warn_action: str, expire_action: str) -> None:
        self.ctx = ctx
        self.warn_action = warn_action
        self.expire_action = expire_action
        self.by_member: dict[int, deque[list[Any]]] = {}
        self._of_event: dict[int, list[Any]] = {}  # points event id -> its lot while it has something left

    def open(self, member_id: int, event_id: int, amount: Any, expires_at: datetime) -> None:
        """A grant of ``amount`` that expires at ``expires_at``: its lot, its two warnings and its expiry."""
        lot = [event_id, amount, expires_at]
        self.by_member.setdefault(member_id, deque()).append(lot)
        self._of_event[event_id] = lot
        for kind, before in WARNINGS:
            self.ctx.keep_time(expires_at - before, self.warn_action, (member_id, event_id, kind))
        self.ctx.keep_time(expires_at, self.expire_action, (member_id, event_id))

    def use(self, member_id: int, amount: Any) -> None:
        """Spend ``amount`` from the member's oldest lots first."""
        lots = self.by_member.get(member_id)
        while lots and amount > 0:
            lot = lots[0]
            used = min(lot[1], amount)
            lot[1] -= used
            amount -= used
            if lot[1] <= 0:
                lots.popleft()
                self._of_event.pop(lot[0], None)

    def live(self, event_id: int) -> list[Any] | None:
        """The lot of ``event_id`` while something is left of it (None once spent or expired)."""
        lot = self._of_event.get(event_id)
        return lot if lot is not None and lot[1] > 0 else None

    def close(self, member_id: int, event_id: int) -> Any | None:
        """Expire the lot of ``event_id``: what was left of it (None when it was spent already)."""
        lot = self._of_event.pop(event_id, None)
        if lot is None:
            return None
        remaining, lot[1] = lot[1], lot[1] * 0  # zero of the lot's own type (int or Decimal)
        lots = self.by_member.get(member_id)
        if lots and lot in lots:
            lots.remove(lot)
        return remaining

    def next_expiry(self, member_id: int) -> datetime | None:
        """When the member's next lot expires (None when none has anything left)."""
        lots = self.by_member.get(member_id)
        return min((lot[2] for lot in lots if lot[1] > 0), default=None) if lots else None
