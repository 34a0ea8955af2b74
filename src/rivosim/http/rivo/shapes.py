"""Customer wire shapes cached per member state, so a page of customers costs a lookup per customer instead of a
``wire.customer`` call (~50 µs each) and its JSON encoding.

The cache sits *around* ``wire.customer``: it never changes what the function returns, only when it runs. An entry
is the customer's encoded envelope together with a **version**: the values of every field of the member (mutable
containers copied) and of everything else the shape reads — the shop's identity, whether VIP is available, every
tier, every reward, the member's points and store-credit expiry. A hit needs the whole version to be equal, so any
change to the member or to what its shape depends on recomputes it: the cache cannot serve stale data. If
``wire.customer`` starts reading something new, :func:`_shop_version` must name it; with ``RIVOSIM_CHECK_CACHES=1``
(the test suite sets it) every hit is recomputed and compared, so a missed dependency fails loudly as a marked 500.

Whole pages are cached on top (:meth:`CustomerShapes.page`): a page's bytes, per request URL, stamped with the
shop's ``RivoBackend.revision`` (every domain event of the shop, every backend mutator call) and the journal's
``last_write`` (every request other than GET/HEAD/OPTIONS, whatever API or shop it names, after its view ran), and
with the virtual clock's time. Any change over HTTP, through the backend or by a timer (which changes state only
through the ledger, tiers and lifecycle, each publishing its event) moves the stamp, and the shop's pages are
dropped. A page is not cached while read-after-write lag holds something back or a new customer is still hidden
(both change with time alone). ``RIVOSIM_CHECK_CACHES=1`` rebuilds every page hit and compares it too.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import fields, is_dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from rivosim.http.errors import dumps
from rivosim.wire import rivo as wire

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from rivosim.domain.rivo.models import Member
    from rivosim.domain.shop import Shop
    from rivosim.kernel.journal import Journal

__all__ = ["CustomerShapes", "page_stamp"]

MAX_ENTRIES = 20_000  # per shop; past it the cache starts over (any client can page through a million members)
MAX_PAGE_BYTES = 4 * 1024 * 1024  # per shop: whole pages kept for the current stamp, at most this many bytes
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


_MEMBER_READERS: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {}


def _member_readers(cls: type) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """``(every field, the container fields)`` of a member class. A hit compares every field with what was stored
    (the container fields there are the live objects, so this catches a replaced container) and the live
    containers with deep copies taken when the entry was stored (catching a change in place) — by value, without
    copying anything on a hit."""
    readers = _MEMBER_READERS.get(cls)
    if readers is None:
        names = [f.name for f in fields(cls)]
        containers = [f.name for f in fields(cls) if _CONTAINER.search(str(f.type))]
        readers = _MEMBER_READERS[cls] = (attrgetter(*names, "__class__"), attrgetter(*containers, "__class__"))
    return readers


def _shop_version(shop: Shop) -> tuple[Any, ...]:
    """What ``wire.customer`` reads besides the member and the member's expiry dates (kept in step with it)."""
    rivo = shop.rivo
    return (shop.id, shop.domain, rivo.vip_available(), tuple(_values(t) for t in rivo.list_tiers()),
            tuple(_values(r) for r in rivo.list_rewards()))


def page_stamp(journal: Journal, shop: Shop, lag: object) -> tuple[Any, ...] | None:
    """What a cached page of ``shop``'s customers is valid for (module docstring), or None when a page must not be
    cached now: read-after-write lag holds something back (``lag``), or a new customer is still hidden."""
    if lag is not None or shop.rivo.member_book.hidden_until:
        return None
    clock = shop.clock
    return (shop.rivo.revision, journal.last_write, clock.now() if clock.kind == "virtual" else None)


class _Page:
    """A cached page: its body, the shop-wide shape version it was made under, and its members with the values
    (every field; deep copies of the containers) their shapes were made of."""

    __slots__ = ("body", "containers", "fields", "members", "read_all", "read_containers", "shop_version")

    def __init__(self, body: bytes, shop_version: Any, members: list[Member], read_all: Any, read_containers: Any,
                 fields: list[Any], containers: list[Any]) -> None:
        self.body, self.shop_version, self.members = body, shop_version, members
        self.read_all, self.read_containers = read_all, read_containers
        self.fields, self.containers = fields, containers


def _still_valid(cache: _ShopShapes, shop: Shop, page: _Page) -> bool:
    """The page's members and what their shapes embed are as they were: a change made in Python, even in place,
    moves no stamp. Compared by value as the encoder does, a whole page at a time."""
    if page.shop_version is not cache.shop_version or _shop_version(shop) != page.shop_version:
        return False
    if not page.members:
        return True
    return (list(map(page.read_all, page.members)) == page.fields
            and list(map(page.read_containers, page.members)) == page.containers)


class _ShopShapes:
    __slots__ = ("entries", "page_bytes", "page_stamp", "pages", "rivo", "shop", "shop_version")

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rivo = shop.rivo
        self.entries: dict[int, tuple[tuple[Any, ...], tuple[Any, ...], bytes]] = {}
        self.shop_version: tuple[Any, ...] | None = None
        # request URL -> the page
        self.pages: dict[str, _Page] = {}
        self.page_stamp: tuple[Any, ...] | None = None
        self.page_bytes = 0


class CustomerShapes:
    """One app's cache of encoded customer envelopes (``{"type": "customer", "id", "attributes"}``)."""

    def __init__(self, *, check: bool | None = None) -> None:
        self._shops: dict[str, _ShopShapes] = {}
        self.check = os.environ.get("RIVOSIM_CHECK_CACHES", "") not in ("", "0") if check is None else check
        self.hits = self.misses = self.page_hits = 0

    def _cache(self, shop: Shop) -> _ShopShapes:
        cache = self._shops.get(shop.domain)
        if cache is None or cache.shop is not shop or cache.rivo is not shop.rivo:  # a new shop of that name
            cache = self._shops[shop.domain] = _ShopShapes(shop)
        return cache

    def page(self, shop: Shop, url: str, stamp: tuple[Any, ...] | None,
             build: Callable[[Callable[[Member], bytes]], bytes]) -> bytes:
        """The body of the page at ``url``: what ``build`` makes with an encoder of this cache, or the body stored
        for ``url`` while ``stamp`` is the one it was stored with, the shop-wide part of the shapes is unchanged and
        every member on the page still matches its shape's version (module docstring). ``stamp`` None: build,
        store nothing (something lags)."""
        if stamp is None:
            return build(self.encoder(shop))
        cache = self._cache(shop)
        if cache.page_stamp != stamp:
            cache.pages.clear()
            cache.page_bytes = 0
            cache.page_stamp = stamp
        stored = cache.pages.get(url)
        if stored is not None and _still_valid(cache, shop, stored):
            self.page_hits += 1
            if self.check and build(self.encoder(shop)) != stored.body:
                raise AssertionError(f"stale cached page {url}: something changed what the Rivo API shows without "
                                     "moving the page stamp (see http/rivo/shapes.py)")
            return stored.body
        on_page: list[tuple[Member, Any]] = []
        body = build(self.encoder(shop, on_page))
        members = [member for member, _ in on_page]
        if len({type(m) for m in members}) > 1:
            return body
        if cache.page_bytes + len(body) > MAX_PAGE_BYTES:
            cache.pages.clear()
            cache.page_bytes = 0
        read_all, read_containers = _member_readers(type(members[0])) if members else (None, None)
        cache.pages[url] = _Page(body, cache.shop_version, members, read_all, read_containers,
                                 [entry[1] for _, entry in on_page], [entry[2] for _, entry in on_page])
        cache.page_bytes += len(body)
        return body

    def encoder(self, shop: Shop, on_page: list[tuple[Member, Any]] | None = None) -> Callable[[Member], bytes]:
        """A function from a member of ``shop`` to its encoded envelope, for one request (the shop-wide part of
        the version is taken now: nothing changes the shop while a request holds the simulator); ``on_page``
        collects each member encoded with its shape's entry."""
        cache = self._cache(shop)
        entries = cache.entries
        shop_version = _shop_version(shop)
        # One comparison a request instead of one per customer: while the shop-wide part is unchanged, entries keep
        # pointing at the very tuple stored here, and an identity check is enough.
        if shop_version == cache.shop_version:
            shop_version = cache.shop_version
        else:
            cache.shop_version = shop_version
        lifecycle = shop.rivo.lifecycle

        def expires(member: Member) -> tuple[datetime | None, datetime | None]:  # both expiry dates a shape shows
            return lifecycle.points_expire_at(member), lifecycle.credits.expire_at(member)
        check = self.check
        readers = _MEMBER_READERS

        def encode(member: Member) -> bytes:
            read_all, read_containers = readers.get(type(member)) or _member_readers(type(member))
            now_all, expiry = read_all(member), expires(member)
            entry = entries.get(member.id)
            if (entry is not None and entry[0] is shop_version and entry[1] == now_all and entry[3] == expiry
                    and read_containers(member) == entry[2]):
                self.hits += 1
                if check:
                    fresh = dumps(wire.envelope("customer", member.id, wire.customer(member, shop)))
                    if fresh != entry[4]:
                        raise AssertionError(f"stale cached shape for customer {member.id}: the cache's version "
                                             "misses something wire.customer reads (see http/rivo/shapes.py)")
                if on_page is not None:
                    on_page.append((member, entry))
                return entry[4]  # type: ignore[no-any-return]
            self.misses += 1
            encoded = dumps(wire.envelope("customer", member.id, wire.customer(member, shop)))
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entry = entries[member.id] = (shop_version, now_all, copy.deepcopy(read_containers(member)), expiry,
                                          encoded)
            if on_page is not None:
                on_page.append((member, entry))
            return encoded

        return encode
