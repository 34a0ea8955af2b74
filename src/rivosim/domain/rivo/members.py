"""Members: Rivo's mirror of Shopify customers — lookup by Shopify id or email, visibility delay, updates,
keeping the mirror current from Shopify's events, purchases (for tiers) and referral codes. A resource of its own
(``Members``), composed by ``RivoBackend`` as ``member_book``; the ledger, tiers and lifecycle are handed it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.events import CustomerCreated, CustomerDeleted, CustomerJoinedProgram, CustomerUpdated
from rivosim.domain.rivo.models import Member
from rivosim.kernel.errors import NotFound, ValidationFailed

__all__ = ["EXCLUDED_TAG", "DaysListener", "Members"]

EXCLUDED_TAG = "rivo excluded"  # help 8088909: a customer tagged "Rivo Excluded" neither earns nor redeems
_DOB_RE = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def validate_dob(value: Any) -> str:
    """``MM-DD`` as rivo-api.md documents it; 02-29 is allowed (celebrated on 28 Feb in other years)."""
    if not isinstance(value, str) or not _DOB_RE.match(value):
        raise ValidationFailed("dob must be a date in MM-DD form, e.g. 07-13", field="dob")
    month, day = int(value[:2]), int(value[3:])
    if day > _DAYS[month]:
        raise ValidationFailed(f"dob {value} is not a day of the year", field="dob")
    return value


# Told when a member's birthday or join date enters or leaves the book: ``listener(member, old_dob, remove)``.
DaysListener = Callable[[Member, "str | None", bool], None]


class Members:
    """The shop's members, their purchases and referral codes. Collaborators: none but the shop context; whoever
    indexes members by day (the lifecycle) registers with :meth:`on_days_changed`."""

    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx
        # Referral codes are a reversible encoding of the customer id (no per-member storage or index):
        # base-36 of (id XOR a per-shop mask), so a million seeded members cost nothing extra.
        self._code_mask = ctx.rng.getrandbits(44)
        self.members: dict[int, Member] = {}
        self.members_by_email: dict[str, int] = {}
        self.purchases: dict[int, list[tuple[object, Decimal, int]]] = {}
        # Members not yet visible to the API (Shopify -> Rivo propagation delay), pruned as time passes.
        self.hidden_until: dict[int, object] = {}
        self._ordered: list[Member] = []
        self._ordered_dirty = False
        self._days_listeners: list[DaysListener] = []

    def on_days_changed(self, listener: DaysListener) -> None:
        """Call ``listener(member, old_dob, remove)`` when a member joins, changes birthday or leaves."""
        self._days_listeners.append(listener)

    def _days_changed(self, member: Member, old_dob: str | None = None, remove: bool = False) -> None:
        for listener in self._days_listeners:
            listener(member, old_dob, remove)

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

    def set_dob(self, member: Member, dob: str | None) -> None:
        old = member.dob
        member.dob = dob
        member.dob_last_updated_at = self.ctx.now()
        self._days_changed(member, old)

    # -- lookups -----------------------------------------------------------------------------------------
    def find_member(self, identifier: Any, *, visible_only: bool = True) -> Member:
        """``customer_identifier``: a Shopify customer id or an email (case-insensitive)."""
        member: Member | None = None
        if isinstance(identifier, int) and not isinstance(identifier, bool):
            member = self.members.get(identifier)
        elif isinstance(identifier, str):
            text = identifier.strip()
            if text.isascii() and text.isdigit():
                # ASCII only ("²" is a digit to isdigit() but not to int()); no real id has 30 digits.
                member = self.members.get(int(text)) if len(text) <= 30 else None
            elif "@" in text:
                cid = self.members_by_email.get(text.casefold())
                member = self.members.get(cid) if cid is not None else None
            else:
                raise NotFound(f"customer {identifier!r} not found: customer_identifier is a Shopify customer id "
                               "(digits) or an email address", resource="customer")
        else:
            raise ValidationFailed("customer_identifier must be a Shopify customer id or an email",
                                   field="customer_identifier")
        if member is None:
            raise NotFound(f"customer {identifier} not found", resource="customer")
        if visible_only and self.ctx.now() < member.visible_at:
            wait = (member.visible_at - self.ctx.now()).total_seconds()
            # rivo-api.md §1.4: Rivo learns of new Shopify customers by webhook, up to ~30 s later.
            raise NotFound(f"customer {identifier} not found", resource="customer",
                           hint=f"created on Shopify at {member.created_at.isoformat()}; Rivo sees it in "
                                f"{wait:.0f} s")
        return member

    def iter_members(self, *, visible_only: bool = True) -> Iterator[Member]:
        now = self.ctx.now()
        for member in self.members.values():
            if not visible_only or member.visible_at <= now:
                yield member

    def is_excluded(self, member: Member) -> bool:
        return any(tag.casefold() == EXCLUDED_TAG for tag in member.shopify_tags)

    # -- creation from Shopify ---------------------------------------------------------------------------
    def on_customer_created(self, event: CustomerCreated, *, visibility_delay: timedelta | None = None) -> Member:
        delay = visibility_delay if visibility_delay is not None else timedelta(0)
        member = Member(
            id=event.customer_id, email=event.email, first_name=event.first_name, last_name=event.last_name,
            created_at=event.at, visible_at=event.at + delay, accepts_marketing=event.accepts_marketing,
            verified_email=event.verified_email, shopify_tags=event.tags,
            loyalty_status="member" if event.joins_program else "guest",
            loyalty_status_last_changed_at=event.at,
            dob=event.dob, dob_last_updated_at=event.at if event.dob else None, remote_updated_at=event.at,
        )
        self._index(member)
        self._days_changed(member)
        if delay:
            self.hidden_until[member.id] = member.visible_at
        if event.joins_program:
            self.ctx.bus.publish(CustomerJoinedProgram(shop=self.ctx.domain, at=event.at, customer_id=member.id))
        return member

    def _index(self, member: Member) -> None:
        self.members[member.id] = member
        if member.email:
            self.members_by_email[member.email.casefold()] = member.id

    def on_customer_updated(self, event: CustomerUpdated) -> None:
        member = self.members.get(event.customer_id)
        if member is None:
            return
        changes = event.changes
        if "email" in changes:
            if member.email:
                self.members_by_email.pop(member.email.casefold(), None)
            member.email = changes["email"]
            if member.email:
                self.members_by_email[member.email.casefold()] = member.id
        for key in ("first_name", "last_name", "accepts_marketing", "verified_email"):
            if key in changes:
                setattr(member, key, changes[key])
        if "tags" in changes:
            member.shopify_tags = tuple(changes["tags"])
        member.remote_updated_at = event.at

    def on_customer_deleted(self, event: CustomerDeleted) -> None:
        member = self.members.pop(event.customer_id, None)
        if member is not None:
            self._ordered_dirty = True
            self._days_changed(member, remove=True)
            self.hidden_until.pop(member.id, None)
            if member.email:
                self.members_by_email.pop(member.email.casefold(), None)

    def note_purchase(self, customer_id: int, at: datetime, amount: Decimal, order_id: int) -> None:
        member = self.members.get(customer_id)
        if member is None:
            return
        member.orders_count += 1
        member.total_spent += amount
        member.remote_updated_at = at
        self.purchases.setdefault(customer_id, []).append((at, amount, order_id))

    def note_refund(self, customer_id: int, at: datetime, amount: Decimal, order_id: int) -> None:
        member = self.members.get(customer_id)
        if member is None:
            return
        member.total_spent = max(Decimal("0.00"), member.total_spent - amount)
        member.remote_updated_at = at
        self.purchases.setdefault(customer_id, []).append((at, -amount, order_id))

    # -- REST: update ------------------------------------------------------------------------------------
    def update_member(self, identifier: Any, fields: dict[str, Any]) -> Member:
        """``PUT /customers/{id}``: ``dob`` (MM-DD), ``loyalty_status`` (member/guest), names,
        ``accepts_marketing``. Validates everything before changing anything."""
        member = self.find_member(identifier)
        staged: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "dob":
                staged[key] = validate_dob(value) if value not in (None, "") else None
            elif key == "loyalty_status":
                if value not in ("member", "guest"):
                    raise ValidationFailed("loyalty_status must be member or guest", field=key)
                staged[key] = value
            elif key in ("first_name", "last_name"):
                if value is not None and (not isinstance(value, str) or len(value) > 255):
                    raise ValidationFailed(f"{key} must be a string of at most 255 characters", field=key)
                staged[key] = value
            elif key == "accepts_marketing":
                if isinstance(value, str) and value in ("true", "false"):
                    value = value == "true"
                if not isinstance(value, bool):
                    raise ValidationFailed("accepts_marketing must be true or false", field=key)
                staged[key] = value
            else:
                raise ValidationFailed(f"{key} cannot be updated; updatable: dob, loyalty_status, first_name, "
                                       "last_name, accepts_marketing", field=key)
        now = self.ctx.now()
        joined = staged.get("loyalty_status") == "member" and member.loyalty_status != "member"
        for key, value in staged.items():
            if key == "loyalty_status" and value != member.loyalty_status:
                member.loyalty_status_last_changed_at = now
            if key == "dob":
                self.set_dob(member, value)
                continue
            setattr(member, key, value)
        member.remote_updated_at = now
        if joined:
            self.ctx.bus.publish(CustomerJoinedProgram(shop=self.ctx.domain, at=now, customer_id=member.id))
        return member


_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(value: int) -> str:
    out = []
    while value:
        value, rem = divmod(value, 36)
        out.append(_DIGITS[rem])
    return "".join(reversed(out)) or "0"
