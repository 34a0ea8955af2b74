"""The Simulator: shops (tenants), seeding, reset, keys, and one seed replaying the same world."""

from __future__ import annotations

import gc
import time
import weakref
from datetime import UTC, datetime
from typing import Any

import pytest

from rivosim.domain import seeding
from rivosim.engine import Simulator
from rivosim.kernel.clock import VirtualClock, WallClock
from rivosim.kernel.errors import AlreadyExists, InvalidConfig, NotFound

START = datetime(2026, 1, 1, tzinfo=UTC)


def keys(sim: Simulator, domain: str) -> dict[str, Any]:
    return sim.shop(domain).credentials_dict()


# -- shops -----------------------------------------------------------------------------------------------------------
def test_create_shop_without_a_domain_names_one() -> None:
    sim = Simulator(seed=1)
    a, b = sim.create_shop(), sim.create_shop()
    assert (a.domain, b.domain) == ("rivosim-shop-1.myshopify.com", "rivosim-shop-2.myshopify.com")
    assert sim.shop(a.domain) is a
    assert a.credentials.rivo_api_key != b.credentials.rivo_api_key


def test_a_generated_name_skips_domains_already_taken() -> None:
    sim = Simulator(seed=1)
    sim.create_shop({"domain": "rivosim-shop-1.myshopify.com"})
    assert sim.create_shop().domain == "rivosim-shop-2.myshopify.com"


def test_create_shop_with_a_domain_and_config() -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop({"domain": "acme.myshopify.com", "plan": "plus", "timezone": "Europe/Paris"})
    assert shop.domain == "acme.myshopify.com" and shop.plan == "plus"
    assert shop.config["timezone"] == "Europe/Paris"
    assert "domain" not in shop.config
    assert shop.created_at == START
    assert shop.has_api_access()


@pytest.mark.parametrize(("plan", "access"), [("free", False), ("starter", False), ("plus", True), ("scale", True)])
def test_api_access_needs_plus_or_higher(plan: str, access: bool) -> None:
    assert Simulator().create_shop({"plan": plan}).has_api_access() is access


def test_a_duplicate_domain_is_refused_and_changes_nothing() -> None:
    sim = Simulator(seed=1)
    first = sim.create_shop({"domain": "acme.myshopify.com"})
    with pytest.raises(AlreadyExists) as info:
        sim.create_shop({"domain": "acme.myshopify.com", "plan": "free"})
    assert info.value.field == "domain"
    assert list(sim.shops) == ["acme.myshopify.com"] and sim.shop("acme.myshopify.com") is first
    assert first.plan == "scale"


def test_an_invalid_config_creates_no_shop() -> None:
    sim = Simulator(seed=1)
    with pytest.raises(InvalidConfig) as info:
        sim.create_shop({"plan": "gold"})
    assert info.value.field == "plan"
    assert sim.shops == {}


def test_unknown_shops_are_not_found_with_a_list_of_known_ones() -> None:
    sim = Simulator(seed=1)
    sim.create_shop({"domain": "acme.myshopify.com"})
    with pytest.raises(NotFound) as info:
        sim.shop("nope.myshopify.com")
    assert "acme.myshopify.com" in info.value.message


def test_delete_shop_forgets_its_keys() -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop()
    key, token = shop.credentials.rivo_api_key, shop.credentials.shopify_access_token
    assert sim.shop_for_rivo_key(key) is shop and sim.shop_for_shopify_token(token) is shop
    sim.delete_shop(shop.domain)
    assert sim.shops == {}
    assert sim.shop_for_rivo_key(key) is None and sim.shop_for_shopify_token(token) is None
    with pytest.raises(NotFound):
        sim.delete_shop(shop.domain)


def test_patch_shop_goes_through_the_shop() -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop()
    assert sim.patch_shop(shop.domain, {"plan": "plus"}) is shop and shop.plan == "plus"


# -- keys ------------------------------------------------------------------------------------------------------------
def test_regenerate_api_key_invalidates_the_old_key() -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop()
    old = shop.credentials.rivo_api_key
    new = sim.regenerate_api_key(shop.domain)
    assert new != old and shop.credentials.rivo_api_key == new
    assert sim.shop_for_rivo_key(old) is None
    assert sim.shop_for_rivo_key(new) is shop
    assert shop.check_rivo_key(new) and not shop.check_rivo_key(old)


def test_credentials_have_the_documented_shapes() -> None:
    creds = Simulator(seed=1).create_shop().credentials_dict()
    assert len(creds["rivo_api_key"]) == 40
    assert len(creds["webhook_secret"]) == 64
    assert creds["shopify_access_token"].startswith("shpat_")
    assert creds["shopify_api_secret"].startswith("shpss_")


# -- seeding ---------------------------------------------------------------------------------------------------------
def test_seeding_creates_visible_members_with_unique_emails_in_the_base_tier() -> None:
    sim = Simulator(seed=4)
    shop = sim.create_shop({"customers": 300})
    assert len(shop.shopify.customers) == 300 == len(shop.rivo.members)
    emails = [c.email for c in shop.shopify.customers.values()]
    assert len({e.casefold() for e in emails if e}) == 300
    assert len(shop.rivo.ordered_members()) == 300
    bronze = next(t.id for t in shop.rivo.list_tiers() if t.name == "Bronze")
    for member in shop.rivo.members.values():
        assert shop.rivo.find_member(member.id) is member
        assert shop.rivo.find_member(member.email) is member
        assert member.vip_tier_id == bronze
        assert member.created_at < sim.now()
        assert member.dob is not None
    assert "customers" not in shop.config


def test_small_seeds_get_an_order_history_that_keeps_the_ledger_consistent() -> None:
    shop = Simulator(seed=4).create_shop(customers=50)
    assert shop.shopify.orders
    assert all(o.financial_status == "paid" for o in shop.shopify.orders.values())
    for member in shop.rivo.members.values():
        ledger = shop.rivo.ledger.get(member.id, [])
        assert member.points_tally == sum(e.points_diff for e in ledger)


def test_the_customers_keyword_and_the_config_key_agree() -> None:
    a = Simulator(seed=4).create_shop({"domain": "a.myshopify.com"}, customers=25)
    b = Simulator(seed=4).create_shop({"domain": "a.myshopify.com", "customers": 25})
    assert [c.email for c in a.shopify.customers.values()] == [c.email for c in b.shopify.customers.values()]
    c = Simulator(seed=4).create_shop({"domain": "a.myshopify.com", "customers": 99}, customers=25)
    assert len(c.shopify.customers) == 25 and "customers" not in c.config


@pytest.mark.parametrize("count", [-1, True, "10", 2.5, 2_000_001])
def test_invalid_customer_counts_are_refused(count: Any) -> None:
    sim = Simulator(seed=4)
    with pytest.raises(InvalidConfig) as info:
        sim.create_shop({"customers": count})
    assert info.value.field == "customers"
    assert sim.shops == {}


def test_seeding_is_deterministic_per_seed() -> None:
    def people(seed: int) -> list[tuple[int, str | None, str | None]]:
        shop = Simulator(seed=seed).create_shop(customers=40)
        return [(c.id, c.email, c.first_name) for c in shop.shopify.customers.values()]

    assert people(9) == people(9)
    assert people(9) != people(10)


def test_seeded_emails_stay_unique_past_the_short_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    # One name and one email domain: every email differs only by (id % 100000), which repeats after 100k.
    monkeypatch.setattr(seeding, "name_pools", lambda: (("Ann",), ("Lee",)))
    monkeypatch.setattr(seeding, "_EMAIL_DOMAINS", ("example.com",))
    shop = Simulator(seed=1).create_shop(customers=100_001)
    assert len(shop.shopify._by_email) == 100_001 == len(shop.rivo.members_by_email)


def test_seeding_50k_customers_is_quick() -> None:
    # A loose sanity bound only; real figures live in benchmarks/.
    started = time.perf_counter()
    shop = Simulator(seed=2).create_shop(customers=50_000)
    assert time.perf_counter() - started < 10
    assert len(shop.rivo.members) == 50_000
    assert len({c.email for c in shop.shopify.customers.values()}) == 50_000


def test_seeding_with_vip_unavailable_gives_no_tier() -> None:
    shop = Simulator(seed=2).create_shop({"plan": "plus", "customers": 20})
    assert all(m.vip_tier_id is None for m in shop.rivo.members.values())


# -- determinism and reset -------------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_world() -> None:
    def world(seed: int) -> list[Any]:
        sim = Simulator(seed=seed)
        out: list[Any] = []
        for name in ("a", "b"):
            shop = sim.create_shop({"domain": f"{name}.myshopify.com"})
            c = shop.shopify.create_customer(email=f"x@{name}.example.com")
            o = shop.shopify.create_order(customer_id=c.id, line_items=[{"price": "10"}], paid=True)
            out.append((shop.credentials_dict(), shop.id, c.id, o.id, [e.id for e in shop.rivo.ledger[c.id]]))
        return out

    assert world(3) == world(3)
    assert world(3) != world(4)


def test_shops_do_not_disturb_each_others_ids() -> None:
    alone = Simulator(seed=3).create_shop({"domain": "a.myshopify.com"})
    sim = Simulator(seed=3)
    busy = sim.create_shop({"domain": "b.myshopify.com", "customers": 100})
    for i in range(10):
        busy.shopify.create_customer(email=f"{i}@example.com")
    crowded = sim.create_shop({"domain": "a.myshopify.com"})
    assert crowded.credentials_dict() == alone.credentials_dict()
    assert crowded.shopify.create_customer(email="z@example.com").id == \
        alone.shopify.create_customer(email="z@example.com").id


def test_reset_restores_a_fresh_world_with_the_same_keys() -> None:
    sim = Simulator(seed=12)
    first = sim.create_shop()
    first_keys = first.credentials_dict()
    first.shopify.create_customer(email="a@example.com")
    sim.advance("P3D")
    sim.journal.record(at=sim.now(), shop=None, api="control", route="control.x", method="GET", path="/",
                       query="", status=200, duration_ms=1.0)
    sim.bugs.append({"x": 1})
    hooks: list[str] = []
    sim.on_reset.append(lambda: hooks.append("reset"))
    sim.reset()
    assert sim.shops == {} and len(sim.journal) == 0 and sim.bugs == []
    assert sim.now() == START
    assert sim.shop_for_rivo_key(first_keys["rivo_api_key"]) is None
    again = sim.create_shop()
    assert again.credentials_dict() == first_keys
    assert again is not first and again.shopify.customers == {}
    assert hooks == ["reset"]
    sim.reset()
    assert hooks == ["reset", "reset"]  # hooks stay registered across resets


def test_reset_with_a_new_seed_changes_the_keys() -> None:
    sim = Simulator(seed=12)
    before = sim.create_shop().credentials_dict()
    sim.reset(seed=13)
    assert sim.seed == 13
    assert sim.create_shop().credentials_dict() != before


def test_reset_of_a_given_clock_starts_a_fresh_one_of_the_same_kind() -> None:
    clock = VirtualClock(datetime(2030, 5, 1, tzinfo=UTC))
    sim = Simulator(seed=1, clock=clock)
    assert sim.now() == datetime(2030, 5, 1, tzinfo=UTC)
    sim.reset()
    assert isinstance(sim.clock, VirtualClock) and sim.now() == START


# -- clock plumbing --------------------------------------------------------------------------------------------------
def test_advance_and_run_until_idle_drive_the_clock() -> None:
    sim = Simulator(seed=1)
    seen: list[datetime] = []
    sim.clock.call_after("PT10M", lambda: seen.append(sim.now()))
    sim.clock.call_after("P2D", lambda: seen.append(sim.now()))
    assert sim.advance("PT1H") == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert sim.run_until_idle() == datetime(2026, 1, 3, tzinfo=UTC)
    assert seen == [datetime(2026, 1, 1, 0, 10, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)]


def test_tick_runs_what_is_due() -> None:
    sim = Simulator(seed=1)
    seen: list[str] = []
    sim.clock.call_at(sim.now(), lambda: seen.append("x"))
    sim.tick()
    assert seen == ["x"]


def test_clock_kinds() -> None:
    assert isinstance(Simulator(clock="wall").clock, WallClock)
    assert isinstance(Simulator().clock, VirtualClock)
    with pytest.raises(ValueError):
        Simulator(clock="sundial")


def test_record_bug_keeps_what_went_wrong() -> None:
    sim = Simulator(seed=1)
    sim.record_bug(KeyError("x"), "rivo.customers.get")
    assert sim.bugs == [{"at": START.isoformat(), "where": "rivo.customers.get", "error": "KeyError: 'x'"}]


def test_a_deleted_shop_leaves_nothing_behind_that_holds_it() -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop({"domain": "gone.myshopify.com"}, customers=5)
    clock = weakref.ref(shop.clock)
    assert any(t.action == "rivo.daily" for t in shop.clock.pending())  # its daily tick on its own clock …
    ref = weakref.ref(shop)
    del shop
    sim.delete_shop("gone.myshopify.com")
    gc.collect()
    assert ref() is None  # … no longer holds it once the shop is deleted
    assert clock() is None and sim.timeline.get("gone.myshopify.com") is None  # its clock went with it
