"""Faker-seeded demo customers, drawn with the shop's own seeded stream so one seed gives the same people.

Names come from faker's en_US pools (read once); drawing from them with the shop's ``random.Random`` is what
lets a million customers seed in seconds. Small seeds also get an order history.
"""

from __future__ import annotations

import gc
from datetime import timedelta
from functools import cache
from typing import Any

from rivosim.domain.rivo.models import Member
from rivosim.domain.shop import Shop
from rivosim.domain.shopify.models import ShopifyCustomer

__all__ = ["HISTORY_LIMIT", "name_pools", "seed_customers"]

HISTORY_LIMIT = 200  # up to this many seeded customers also get orders
FREEZE_FROM = 100_000  # seeds this big are frozen out of the cyclic collector's sight afterwards
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
_PRODUCTS = (("Classic Tee", 25), ("Hoodie", 60), ("Cap", 20), ("Sneakers", 95), ("Socks", 8), ("Tote Bag", 30))


@cache
def name_pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    # Imported on first use: faker costs 50-80 ms of start-up, and a server without seeded shops never needs it.
    from faker.providers.person.en_US import Provider as PersonProvider

    firsts = tuple(sorted(set(PersonProvider.first_names_female) | set(PersonProvider.first_names_male)))
    lasts = tuple(sorted(PersonProvider.last_names))
    return firsts, lasts


def seed_customers(shop: Shop, count: int, *, with_history: bool | None = None) -> list[int]:
    """Create ``count`` customers who are members of the program, visible to the API at once.

    Joined over the two years before now (so anniversaries come round); each has a birthday. This bypasses
    the event bus for speed (no sign-up points, no webhooks): seeded customers are history, not news.
    """
    if count <= 0:
        return []
    rng = shop.rng
    firsts, lasts = name_pools()
    now = shop.clock.now()
    rivo = shop.rivo
    shopify = shop.shopify
    ids = shop.ids
    created: list[int] = []
    choice = rng.choice
    by_email = shopify._by_email
    randrange = rng.randrange
    n_first, n_last = len(firsts), len(lasts)
    # Every member starts in the tier whose threshold is 0 (if there is one), without evaluating each.
    base = rivo.tier_order[0] if rivo.vip_available() and rivo.tier_order and rivo.tier_order[0].threshold == 0 \
        else None
    base_id = base.id if base else None
    # Millions of small objects that live as long as the shop: the cyclic collector would walk them again and
    # again while they are made (and after), finding nothing to free. Off while seeding; a big seed is frozen
    # afterwards (moved out of the collector's sight; a small one is not worth pinning: a test suite makes and
    # drops many small shops, and frozen cycles are never collected).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _seed_members(count, shopify, rivo, ids, created, firsts, lasts, n_first, n_last, randrange, choice, by_email,
                      now, base_id)
    finally:
        if collecting:
            gc.enable()
        if count >= FREEZE_FROM:
            gc.freeze()
    for cid in created[:HISTORY_LIMIT] if (with_history if with_history is not None else count <= HISTORY_LIMIT) \
            else ():
        _seed_orders(shop, cid)
    for cid in created[:HISTORY_LIMIT]:
        rivo.evaluate_tier(rivo.members[cid])
    return created


def _seed_members(count: int, shopify: Any, rivo: Any, ids: Any, created: list[int], firsts: tuple[str, ...],
                  lasts: tuple[str, ...], n_first: int, n_last: int, randrange: Any, choice: Any,
                  by_email: dict[str, int], now: Any, base_id: int | None) -> None:
    for _ in range(count):
        first = firsts[randrange(n_first)]
        last = lasts[randrange(n_last)]
        cid = ids.next("shopify_customer")
        email = f"{first.lower()}.{last.lower()}{cid % 100_000}@{choice(_EMAIL_DOMAINS)}"
        if email in by_email:
            # Past 100k customers the short suffix repeats; the full id keeps every email unique.
            email = f"{first.lower()}.{last.lower()}{cid}@{email.partition('@')[2]}"
        joined = now - timedelta(seconds=randrange(1, 730 * 86400))
        month = randrange(1, 13)
        day = randrange(1, 29 if month == 2 else (31 if month in (4, 6, 9, 11) else 32))
        accepts = randrange(3) > 0
        shopify.customers[cid] = ShopifyCustomer(cid, email, first, last, joined, joined,
                                                 accepts_marketing=accepts)
        by_email[email] = cid
        rivo.members[cid] = Member(cid, email, first, last, joined, joined, accepts_marketing=accepts,
                                   loyalty_status_last_changed_at=joined, dob=f"{month:02d}-{day:02d}",
                                   remote_updated_at=joined, vip_tier_id=base_id, vip_tier_started_at=joined)
        rivo.members_by_email[email] = cid
        created.append(cid)


def _seed_orders(shop: Shop, customer_id: int) -> None:
    rng = shop.rng
    for _ in range(rng.randrange(0, 4)):
        lines = []
        for _ in range(rng.randrange(1, 3)):
            title, price = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
            lines.append({"title": title, "price": price, "quantity": rng.randrange(1, 3),
                          "product_id": 1000 + _PRODUCTS.index((title, price))})
        shop.shopify.create_order(customer_id=customer_id, line_items=lines, paid=True)
