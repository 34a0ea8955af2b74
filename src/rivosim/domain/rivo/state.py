"""The state every part of ``RivoBackend`` shares: stores and indexes for one shop's program."""

from __future__ import annotations

import itertools
from decimal import Decimal

from rivosim.domain.context import ShopContext
from rivosim.domain.rivo.models import (
    Member,
    PointsEvent,
)
from rivosim.domain.rivo.program import Program


class RivoState:
    closed = False  # set when the shop is deleted: timers still in the clock's heap then do nothing
    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx
        # Referral codes are a reversible encoding of the customer id (no per-member storage or index):
        # base-36 of (id XOR a per-shop mask), so a million seeded members cost nothing extra.
        self._code_mask = ctx.rng.getrandbits(44)
        # The rules, rewards and tiers: a composed resource every part reads (built here, first, so every part
        # may use it while the backend is assembled).
        self.program = Program(ctx)
        self.members: dict[int, Member] = {}
        self.members_by_email: dict[str, int] = {}
        self.points_events: dict[int, PointsEvent] = {}
        self.ledger: dict[int, list[PointsEvent]] = {}
        self.purchases: dict[int, list[tuple[object, Decimal, int]]] = {}
        self.order_points: dict[int, list[int]] = {}
        # Members not yet visible to the API (Shopify -> Rivo propagation delay), pruned as time passes.
        self.hidden_until: dict[int, object] = {}
        self._ordered: list[Member] = []
        self._ordered_dirty = False

    def ordered_members(self) -> list[Member]:
        """Members by ascending id (= creation order: ids only grow), kept incrementally so a page of a
        million-member list costs O(page); hidden (not yet visible) members are left out."""
        members = self.members
        if self._ordered_dirty or len(self._ordered) > len(members):
            self._ordered = list(members.values())
            self._ordered_dirty = False
        elif len(self._ordered) < len(members):
            missing = len(members) - len(self._ordered)
            tail = list(itertools.islice(reversed(members.values()), missing))
            tail.reverse()
            self._ordered.extend(tail)
        if self.hidden_until:
            now = self.ctx.now()
            for cid, until in list(self.hidden_until.items()):
                if until <= now:  # type: ignore[operator]
                    del self.hidden_until[cid]
            if self.hidden_until:
                return [m for m in self._ordered if m.id not in self.hidden_until]
        return self._ordered

    def referral_code(self, customer_id: int) -> str:
        return _base36(customer_id ^ self._code_mask)

    def member_id_for_code(self, code: str) -> int | None:
        try:
            return int(code.strip(), 36) ^ self._code_mask
        except ValueError:
            return None


_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(value: int) -> str:
    out = []
    while value:
        value, rem = divmod(value, 36)
        out.append(_DIGITS[rem])
    return "".join(reversed(out)) or "0"
