"""Customer wire shapes cached per member state, so a page of customers costs a lookup per customer instead of a
``wire.customer`` call (~50 µs each) and its JSON encoding.

The cache sits *around* ``wire.customer``: it never changes what the function returns, only when it runs. An entry
is the customer's encoded envelope together with a **version**: the values of every field of the member (mutable
containers copied) and of everything else the shape reads — the shop's identity, whether VIP is available, every
tier, every reward, the member's points expiry. A hit needs the whole version to be equal, so any change to the
member or to what its shape depends on recomputes it: the cache cannot serve stale data. If ``wire.customer``
starts reading something new, :func:`_shop_version` must name it; with ``RIVOSIM_CHECK_CACHES=1`` (the test suite
sets it) every hit is recomputed and compared, so a missed dependency fails loudly as a marked 500.
"""

from __future__ import annotations

import os
import re
from dataclasses import fields, is_dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from rivosim.http.errors import dumps
from rivosim.wire import rivo as wire

if TYPE_CHECKING:
    from collections.abc import Callable

    from rivosim.domain.rivo.models import Member
    from rivosim.domain.shop import Shop

__all__ = ["CustomerShapes"]

MAX_ENTRIES = 20_000  # per shop; past it the cache starts over (any client can page through a million members)
_CONTAINER = re.compile(r"\b(set|frozenset|list|dict)\[")
_READERS: dict[type, Callable[[Any], Any]] = {}


def _frozen(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, set | frozenset):
        return frozenset(value)
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in value.items())
    return value


def _reader(cls: type) -> Callable[[Any], Any]:
    names = [f.name for f in fields(cls)]
    # Fields whose annotation names a container are copied too; scalars, dates and Decimals are immutable.
    containers = [f.name for f in fields(cls) if _CONTAINER.search(str(f.type))]
    get_all = attrgetter(*names, "__class__")  # at least two names: attrgetter then always returns a tuple
    if not containers:
        return get_all
    get_containers = attrgetter(*containers, "__class__")

    def read(obj: Any) -> Any:
        # The container references in ``get_all`` stay equal to themselves when changed in place; their copies
        # do not.
        return get_all(obj), tuple(map(_frozen, get_containers(obj)))

    return read


def _values(obj: Any) -> Any:
    """Every field of a domain record, containers copied (a later in-place change must not change this value)."""
    read = _READERS.get(type(obj))
    if read is None:
        read = _READERS[type(obj)] = _reader(type(obj)) if is_dataclass(obj) else _any_reader
    return read(obj)


def _any_reader(obj: Any) -> Any:
    """Not a dataclass: every attribute, each copied."""
    names = getattr(type(obj), "__slots__", None) or sorted(vars(obj))
    return tuple(_frozen(getattr(obj, name, None)) for name in names)


def _shop_version(shop: Shop) -> tuple[Any, ...]:
    """What ``wire.customer`` reads besides the member and the member's points expiry (kept in step with it)."""
    rivo = shop.rivo
    return (shop.id, shop.domain, rivo.vip_available(), tuple(_values(t) for t in rivo.list_tiers()),
            tuple(_values(r) for r in rivo.list_rewards()))


class _ShopShapes:
    __slots__ = ("entries", "shop")

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.entries: dict[int, tuple[tuple[Any, ...], tuple[Any, ...], bytes]] = {}


class CustomerShapes:
    """One app's cache of encoded customer envelopes (``{"type": "customer", "id", "attributes"}``)."""

    def __init__(self, *, check: bool | None = None) -> None:
        self._shops: dict[str, _ShopShapes] = {}
        self.check = os.environ.get("RIVOSIM_CHECK_CACHES", "") not in ("", "0") if check is None else check
        self.hits = self.misses = 0

    def encoder(self, shop: Shop) -> Callable[[Member], bytes]:
        """A function from a member of ``shop`` to its encoded envelope, for one request (the shop-wide part of
        the version is taken now: nothing changes the shop while a request holds the simulator)."""
        cache = self._shops.get(shop.domain)
        if cache is None or cache.shop is not shop:  # a new shop of that name (reset, delete and re-create)
            cache = self._shops[shop.domain] = _ShopShapes(shop)
        entries = cache.entries
        shop_version = _shop_version(shop)
        expires = shop.rivo.lifecycle.points_expire_at
        check = self.check

        def encode(member: Member) -> bytes:
            version = (_values(member), expires(member))
            entry = entries.get(member.id)
            if entry is not None and entry[0] == version and entry[1] == shop_version:
                self.hits += 1
                if check:
                    fresh = dumps(wire.envelope("customer", member.id, wire.customer(member, shop)))
                    if fresh != entry[2]:
                        raise AssertionError(f"stale cached shape for customer {member.id}: the cache's version "
                                             "misses something wire.customer reads (see http/rivo/shapes.py)")
                return entry[2]
            self.misses += 1
            encoded = dumps(wire.envelope("customer", member.id, wire.customer(member, shop)))
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[member.id] = (version, shop_version, encoded)
            return encoded

        return encode
