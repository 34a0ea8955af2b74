"""Seeding a million customers (time and RSS), next to a plain-dict loop doing the same work, and O(1) lookups.

Each side runs in a fresh subprocess (``python -m benchmarks.seeding rivosim|baseline N``) so RSS growth is
clean; the child prints one JSON line. The rivosim child then times ``GET customer`` by id and by email and a
list page through ``create_app(sim).test_client()`` on the big shop and on a 1,000-customer shop.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ._common import PYTHON, ROOT, Figure, child_env, rss_kb

__all__ = ["measure_baseline", "measure_rivosim", "run"]

CONFIG: dict[str, Any] = {"rate_limits": {"rivo": {"enabled": False}}}
SMALL = 1000
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
_ZERO = Decimal("0")
_ZERO_2 = Decimal("0.00")


def _pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from rivosim.domain.seeding import name_pools

    return name_pools()


def build_plain(count: int, firsts: tuple[str, ...], lasts: tuple[str, ...], rng: random.Random,
                now: datetime) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]], dict[str, int],
                                        dict[str, int], list[int]]:
    """The baseline: the same draws, fields and indexes as ``seed_customers``, as plain dicts in one loop."""
    customers: dict[int, dict[str, Any]] = {}
    members: dict[int, dict[str, Any]] = {}
    customers_by_email: dict[str, int] = {}
    members_by_email: dict[str, int] = {}
    created: list[int] = []
    randrange, choice = rng.randrange, rng.choice
    n_first, n_last = len(firsts), len(lasts)
    cid = 7_000_000_000_000
    for _ in range(count):
        first = firsts[randrange(n_first)]
        last = lasts[randrange(n_last)]
        cid += 1
        email = f"{first.lower()}.{last.lower()}{cid % 100_000}@{choice(_EMAIL_DOMAINS)}"
        if email in customers_by_email:  # as seeding does: past 100k the short suffix repeats
            email = f"{first.lower()}.{last.lower()}{cid}@{email.partition('@')[2]}"
        joined = now - timedelta(seconds=randrange(1, 730 * 86400))
        month = randrange(1, 13)
        day = randrange(1, 29 if month == 2 else (31 if month in (4, 6, 9, 11) else 32))
        accepts = randrange(3) > 0
        customers[cid] = {
            "id": cid, "email": email, "first_name": first, "last_name": last, "created_at": joined,
            "updated_at": joined, "phone": None, "tags": [], "accepts_marketing": accepts, "accepts_sms": False,
            "verified_email": True, "state": "enabled", "note": None, "orders_count": 0, "total_spent": _ZERO_2,
            "last_order_id": None, "last_order_name": None,
        }
        customers_by_email[email] = cid
        members[cid] = {
            "id": cid, "email": email, "first_name": first, "last_name": last, "created_at": joined,
            "visible_at": joined, "accepts_marketing": accepts, "verified_email": True, "orders_count": 0,
            "total_spent": _ZERO, "shopify_tags": (), "loyalty_status": "member",
            "loyalty_status_last_changed_at": joined, "points_tally": 0, "credits_tally": _ZERO,
            "lifetime_points": 0, "dob": f"{month:02d}-{day:02d}", "dob_last_updated_at": None,
            "vip_tier_id": 884_311, "vip_tier_started_at": joined, "tier_override_until": None,
            "tier_override_earned_id": None, "tiers_reached": None,
            "completed_rule_ids": None, "remote_updated_at": joined, "last_activity_at": None,
        }
        members_by_email[email] = cid
        created.append(cid)
    return customers, members, customers_by_email, members_by_email, created


def measure_baseline(count: int) -> dict[str, Any]:
    firsts, lasts = _pools()
    rng = random.Random(1)
    now = datetime.now(UTC)
    before = rss_kb()
    t0 = time.perf_counter()
    built = build_plain(count, firsts, lasts, rng, now)
    seconds = time.perf_counter() - t0
    after = rss_kb()
    assert len(built[0]) == count and len(built[3]) <= count
    return {"count": count, "seconds": seconds, "rss_bytes": (after - before) * 1024}


def _timed(n: int, fn: Callable[[int], None]) -> float:
    """Seconds for ``fn(i)`` over ``i in range(n)``, after a short warm-up."""
    for i in range(min(200, n)):
        fn(i)
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return time.perf_counter() - t0


def measure_rivosim(count: int, lookups: int, pages: int) -> dict[str, Any]:
    from rivosim.engine import Simulator
    from rivosim.http.app import create_app

    _pools()  # the pools are read once per process; building them is not seeding
    before = rss_kb()
    t0 = time.perf_counter()
    sim = Simulator(seed=1)
    big = sim.create_shop({**CONFIG, "domain": "big.myshopify.com"}, customers=count)
    seconds = time.perf_counter() - t0
    after = rss_kb()
    out: dict[str, Any] = {"count": count, "seconds": seconds, "rss_bytes": (after - before) * 1024}
    if not lookups:
        return out

    small = sim.create_shop({**CONFIG, "domain": "small.myshopify.com"}, customers=SMALL)
    client = create_app(sim).test_client()
    for label, shop in (("big", big), ("small", small)):
        headers = {"Authorization": shop.credentials.rivo_api_key}
        rng = random.Random(42)
        ids = list(shop.rivo.members)
        picks = [ids[rng.randrange(len(ids))] for _ in range(lookups)]
        emails = [shop.rivo.members[cid].email for cid in picks]

        def get(path: str, headers: dict[str, str] = headers) -> None:
            resp = client.get(path, headers=headers)
            if resp.status_code != 200:
                raise RuntimeError(f"GET {path} answered {resp.status_code}: {resp.get_data()[:300]!r}")

        out[f"{label}_by_id"] = _timed(lookups, lambda i, p=picks: get(f"/merchant_api/v1/customers/{p[i]}"))
        out[f"{label}_by_email"] = _timed(lookups, lambda i, e=emails: get(f"/merchant_api/v1/customers/{e[i]}"))
        # Page 400 of a million; on the 1,000-customer shop page 400 would be empty, so its last full page (40):
        # both pages serialise 25 customers, which is what "cost O(page size)" compares.
        page = min(400, count // 25) if label == "big" else SMALL // 25
        list_path = f"/merchant_api/v1/customers?pagination[page]={page}&pagination[per_page]=25"
        t0 = time.perf_counter()
        get(list_path)
        out[f"{label}_list_first"] = time.perf_counter() - t0
        out[f"{label}_list"] = _timed(pages, lambda _i, p=list_path: get(p))
        resp = client.get(list_path, headers=headers)
        out[f"{label}_list_items"] = len(resp.get_json()["data"])
    out["lookups"] = lookups
    out["pages"] = pages
    return out


# -- parent side -----------------------------------------------------------------------------------------------
def _child(args: list[str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run([PYTHON, "-m", "benchmarks.seeding", *args], capture_output=True, text=True,
                          timeout=timeout, env=child_env(), cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"seeding child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    count = 1_000_000
    lookups, pages = (2_000, 200) if quick else (10_000, 1_000)
    say(f"  seeding {count:,} customers in a fresh process (then {lookups:,} lookups each way) ...")
    riv = _child(["rivosim", str(count), "--lookups", str(lookups), "--pages", str(pages)], timeout=240)
    say(f"  rivosim: {riv['seconds']:.2f} s, RSS +{riv['rss_bytes'] / 1e6:,.0f} MB")
    base = _child(["baseline", str(count)], timeout=120)
    say(f"  plain dicts: {base['seconds']:.2f} s, RSS +{base['rss_bytes'] / 1e6:,.0f} MB")
    ratio = riv["seconds"] / base["seconds"]
    per_riv, per_base = riv["rss_bytes"] / count, base["rss_bytes"] / count
    figures = [
        Figure(f"seed {count:,} customers: time", f"{riv['seconds']:.2f} s", f"{base['seconds']:.2f} s (dicts)",
               f"{ratio:.2f}x", "≤ 3x", ratio <= 3.0),
        Figure(f"seed {count:,} customers: RSS per customer", f"{per_riv:,.0f} B", f"{per_base:,.0f} B (dicts)",
               f"{per_riv / per_base:.2f}x", "< 3 KB", per_riv < 3 * 1024),
    ]
    n = riv["lookups"]
    for key, label in (("by_id", "GET customer by id"), ("by_email", "GET customer by email")):
        big, small = riv[f"big_{key}"], riv[f"small_{key}"]
        r = big / small
        say(f"  {label}: 1M shop {big / n * 1e6:.0f} us, 1k shop {small / n * 1e6:.0f} us")
        figures.append(Figure(f"{label} x{n:,}: 1M vs 1k shop", f"{big:.2f} s", f"{small:.2f} s", f"{r:.2f}x",
                              "≈ 1 (≤ 1.5x)", r <= 1.5))
    big, small = riv["big_list"], riv["small_list"]
    r = big / small
    figures.append(Figure(f"list page 400 x{riv['pages']:,}: 1M vs 1k (p.40)", f"{big:.2f} s", f"{small:.2f} s",
                          f"{r:.2f}x", "≈ 1 (≤ 1.5x)", r <= 1.5,
                          f"{riv['big_list_items']} vs {riv['small_list_items']} items/page; first call on 1M "
                          f"(builds the ordered index) {riv['big_list_first'] * 1000:.0f} ms"))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one side of the seeding benchmark (prints one JSON line)")
    parser.add_argument("side", choices=("rivosim", "baseline"))
    parser.add_argument("count", type=int)
    parser.add_argument("--lookups", type=int, default=0)
    parser.add_argument("--pages", type=int, default=0)
    args = parser.parse_args(argv)
    if args.side == "rivosim":
        result = measure_rivosim(args.count, args.lookups, args.pages)
    else:
        result = measure_baseline(args.count)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
