"""What the composed Rivo resources (redemptions, referrals, storefront actions) need from the program's core:
the members and their ledger, still one mixed-in object (``RivoBackend``) because every part of it writes both —
finding a member, the exclusion and program-active checks, a birthday, adding points. Typed as a protocol so each
resource names exactly what it calls."""

from __future__ import annotations

from typing import Any, Protocol

from rivosim.domain.rivo.ledger import PointsEventPlan
from rivosim.domain.rivo.models import EarningRule, Member, PointsEvent

__all__ = ["MemberLedger"]


class MemberLedger(Protocol):
    members: dict[int, Member]
    members_by_email: dict[str, int]

    def find_member(self, identifier: Any, *, visible_only: bool = True) -> Member: ...

    def set_dob(self, member: Member, dob: str | None) -> None: ...

    def member_id_for_code(self, code: str) -> int | None: ...

    def is_excluded(self, member: Member) -> bool: ...

    def program_active(self) -> bool: ...

    def earning_block(self, member: Member, rule: EarningRule | None, trigger: str) -> str | None: ...

    def apply_plan(self, plan: PointsEventPlan) -> PointsEvent: ...

    def earn(self, member: Member, trigger: str, *, points: int | None = None, name: str | None = None,
             order_id: int | None = None, title: str | None = None,
             details: dict[str, Any] | None = None) -> PointsEvent | None: ...
