"""Read-after-write lag (the ``read_after_write_lag`` fault action; the seed's "points may take a few minutes to
reflect"): for the rule's ``seconds`` after a lagged write, the Rivo API's reads of the customers it touched —
the customer object with its tallies and tier, and the points_events and points_redemptions lists — still show
the state from before the write. The write itself answers with the fresh result, and later writes see the truth
(only reads lag, as with a stale read replica).

Before a lagged write runs, the customers it will touch are copied: named by the request for the Rivo write
routes, otherwise (any other write, e.g. a Shopify order) every member of the shop is copied and those that
changed are kept. After a successful write the copies go to ``sim.lag`` with the ledger's id watermarks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rivosim.faults.read_lag import LagEntry
from rivosim.kernel.errors import SimError
from rivosim.kernel.journal import parse_body

if TYPE_CHECKING:
    from datetime import datetime

    from werkzeug.wrappers import Request

    from rivosim.domain.rivo.models import Member
    from rivosim.domain.shop import Shop
    from rivosim.engine import Simulator

__all__ = ["GENERIC_LIMIT", "Pending", "after_write", "before_write", "hide_newer", "stale_member", "stale_members"]

KINDS = ("points_event", "points_redemption")
GENERIC_LIMIT = 50_000  # a write on a route that names no customer copies at most this many members
_SETS = ("tiers_reached", "completed_rule_ids")


class Pending:
    """Copies taken before a lagged write."""

    __slots__ = ("copies", "generic", "seconds", "shop", "watermarks")

    def __init__(self, shop: Shop, copies: dict[int, Member], watermarks: dict[str, int | None], seconds: float,
                 generic: bool) -> None:
        self.shop = shop
        self.copies = copies
        self.watermarks = watermarks
        self.seconds = seconds
        self.generic = generic


def _freeze(member: Member) -> Member:
    frozen = copy.copy(member)
    for name in _SETS:
        value = getattr(frozen, name, None)
        if isinstance(value, set):
            setattr(frozen, name, set(value))
    return frozen


def _same(a: Member, b: Member) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in type(a).__slots__)  # type: ignore[attr-defined]


def _subjects(shop: Shop, route: str | None, req: Request) -> list[Any] | None:
    """Identifiers of the customers a Rivo write names, or None when the route names none."""
    if route in ("rivo.customers.update", "rivo.customers.vip_tier.update"):
        return [(req.view_args or {}).get("identifier")]
    if route in ("rivo.points_events.create", "rivo.points_redemptions.create", "rivo.points_events.batch"):
        body = parse_body(req.get_data(cache=True), req.environ.get("CONTENT_TYPE"))
        if not isinstance(body, dict):
            return []
        if route == "rivo.points_events.batch":
            items = body.get("points_events")
            return [i.get("customer_identifier") for i in items if isinstance(i, dict)] if isinstance(items, list) \
                else []
        return [body.get("customer_identifier")]
    if route == "rivo.referrals.complete":
        referral_id = (req.view_args or {}).get("referral_id", "")
        referral = shop.rivo.referrals.get(int(referral_id)) if str(referral_id).isdigit() else None
        return [] if referral is None else [referral.advocate_customer_id]
    return None


def before_write(shop: Shop, route: str | None, req: Request, seconds: float) -> Pending | None:
    """Copy the customers a lagged write will touch (None when the shop is too big to copy blindly)."""
    members = shop.rivo.members
    named = _subjects(shop, route, req)
    if named is None:
        if len(members) > GENERIC_LIMIT:
            return None
        copies = {cid: _freeze(m) for cid, m in members.items()}
    else:
        copies = {}
        for identifier in named:
            if identifier is None or isinstance(identifier, list | dict):
                continue
            try:
                member = shop.rivo.find_member(identifier)
            except (SimError, ValueError, TypeError):
                continue
            copies[member.id] = _freeze(member)
    return Pending(shop, copies, {kind: shop.ids.peek(kind) for kind in KINDS}, seconds, named is None)


def after_write(sim: Simulator, pending: Pending, at: datetime, *, applied: bool) -> int:
    """Keep the copies of a write that was applied; returns how many customers now lag."""
    if not applied:
        return 0
    shop = pending.shop
    if sim.shops.get(shop.domain) is not shop:
        return 0
    until = at + timedelta(seconds=pending.seconds)
    kept = 0
    for cid, before in pending.copies.items():
        now = shop.rivo.members.get(cid)
        if now is None or (pending.generic and _same(before, now)):
            continue
        sim.lag.add(shop.domain, cid, LagEntry(until, before, dict(pending.watermarks)))
        kept += 1
    return kept


# -- the read side (the Rivo views) ------------------------------------------------------------------------------
def stale_member(view: dict[int, LagEntry] | None, member: Member) -> Member:
    if view is None:
        return member
    entry = view.get(member.id)
    return member if entry is None else entry.member  # type: ignore[no-any-return]


def stale_members(view: dict[int, LagEntry] | None, members: Sequence[Member]) -> Sequence[Member]:
    if view is None:
        return members
    return [stale_member(view, m) for m in members]


def hide_newer(view: dict[int, LagEntry] | None, items: list[Any], kind: str,
               customer_of: Callable[[Any], int] = lambda item: item.customer_id) -> list[Any]:
    """``items`` without the ``kind`` records a lagging customer got after the lagged write."""
    if view is None:
        return items
    out = []
    for item in items:
        entry = view.get(customer_of(item))
        if entry is not None:
            mark = entry.watermarks.get(kind)
            if mark is None or item.id > mark:
                continue
        out.append(item)
    return out
