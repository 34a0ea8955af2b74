"""Store, theme and tagging syncs (domain/syncs.py): queued runs that finish in the background on the simulator
clock, and the storefront they repair, derived from the published theme, its app embed and the shop metafield."""

from __future__ import annotations

from typing import Any

import pytest

from rivosim.domain.shop import Shop
from rivosim.domain.syncs import CHUNK
from rivosim.domain.writeback import SHOP_METAFIELD
from rivosim.engine import Simulator
from rivosim.kernel.errors import ValidationFailed


def make(config: dict[str, Any] | None = None, customers: int | None = None) -> tuple[Simulator, Shop]:
    sim = Simulator(seed=11)
    return sim, sim.create_shop({"domain": "sync.myshopify.com", **(config or {})}, customers=customers)


def reasons(shop: Shop) -> list[str]:
    return [r["code"] for r in shop.syncs.storefront()["reasons"]]


def test_a_new_shop_shows_the_widget() -> None:
    _, shop = make()
    front = shop.syncs.storefront()
    assert front["widget_displayed"] is True and front["reasons"] == [] and front["app_embed"] == "enabled"
    assert front["theme"]["name"] == "Dawn" and front["shop_metafield"] is not None


@pytest.mark.parametrize(("embed", "code"), [("disabled", "app_embed_disabled"), ("missing", "app_embed_missing")])
def test_without_an_enabled_embed_the_widget_is_hidden(embed: str, code: str) -> None:
    _, shop = make({"shopify": {"app_embed": embed}})
    assert reasons(shop) == [code]
    assert "App embeds" in shop.syncs.storefront()["reasons"][0]["message"]


def test_a_sync_runs_in_the_background_syncing_then_synced() -> None:
    sim, shop = make()
    run = shop.syncs.request("store")
    assert (run.status, run.message, run.finished_at) == ("syncing", "Syncing…", None)
    assert shop.syncs.request("store") is run  # a second click while it runs changes nothing
    sim.advance(4)
    assert run.status == "syncing"
    sim.advance(1)
    assert (run.status, run.message) == ("synced", "Successfully synced")
    assert run.finished_at is not None and (run.finished_at - run.requested_at).total_seconds() == 5
    assert shop.syncs.request("store") is not run
    assert shop.syncs.status()["store"]["id"] != run.id


def test_unknown_sync_families_are_refused() -> None:
    _, shop = make()
    with pytest.raises(ValidationFailed):
        shop.syncs.request("everything")


def test_publishing_another_theme_breaks_the_widget_until_theme_sync_then_store_sync() -> None:
    sim, shop = make()
    sense = shop.shopify.create_theme("Sense", app_embed="enabled")
    shop.shopify.publish_theme(sense.id)
    assert reasons(shop) == ["theme_sync_needed"]
    shop.syncs.request("store")  # the wrong order first: the store sync alone does not help
    sim.run_until_idle()
    assert reasons(shop) == ["theme_sync_needed"]
    shop.syncs.request("theme")
    sim.run_until_idle()
    assert reasons(shop) == ["store_sync_needed"]
    assert shop.syncs.latest("theme").result == {"theme_id": sense.id, "theme_name": "Sense", "app_embed": "enabled"}
    shop.syncs.request("store")
    sim.run_until_idle()
    assert shop.syncs.storefront()["widget_displayed"] is True


def test_changing_the_embed_breaks_the_widget_until_both_syncs() -> None:
    sim, shop = make({"shopify": {"app_embed": "disabled"}})
    theme = shop.shopify.main_theme()
    assert theme is not None
    shop.shopify.set_app_embed(theme.id, "enabled")
    assert reasons(shop) == ["theme_sync_needed"]
    for family in ("theme", "store"):
        shop.syncs.request(family)
        sim.run_until_idle()
    assert reasons(shop) == []


def test_a_missing_shop_metafield_needs_a_store_sync() -> None:
    sim, shop = make()
    mf = shop.shopify.find_metafield("shop", shop.shopify.shop_id, *SHOP_METAFIELD)
    assert mf is not None
    shop.shopify.delete_metafield(mf.id)
    assert reasons(shop) == ["shop_metafield_missing"]
    shop.syncs.request("store")
    sim.run_until_idle()
    assert reasons(shop) == []


def test_settings_changed_since_the_store_sync_is_a_warning_until_synced() -> None:
    sim, shop = make()
    shop.patch({"program": {"points_name": "Stars"}})
    front = shop.syncs.storefront()
    assert front["widget_displayed"] is True and [w["code"] for w in front["warnings"]] == ["settings_not_synced"]
    shop.syncs.request("store")
    sim.run_until_idle()
    assert shop.syncs.storefront()["warnings"] == []


def test_an_inactive_program_or_an_uninstalled_app_hides_the_widget() -> None:
    sim, shop = make({"program": {"active": False}})
    assert "program_inactive" in reasons(shop)
    shop.shopify.uninstall_app()
    assert "app_not_installed" in reasons(shop)
    run = shop.syncs.request("store")
    sim.run_until_idle()
    assert run.status == "failed" and "not installed" in (run.error or "")


def test_the_tagging_sync_works_through_customers_in_chunks() -> None:
    count = CHUNK * 2 + 10
    sim, shop = make({"shopify": {"vip_tier_tags": True}}, customers=count)
    run = shop.syncs.request("tagging")
    sim.advance(1)  # started: the first chunk is done
    assert run.status == "syncing" and run.processed == CHUNK and run.total == count
    sim.advance(2)  # every chunk is done; the last one takes its second too, so it still shows "Syncing…"
    assert run.status == "syncing" and run.processed == count
    sim.advance(1)
    assert run.status == "synced" and run.processed == count
    assert run.result["customers"] == count and run.result["customer_tags_changed"] == count
    assert all("Rivo VIP Tier: Bronze" in c.tags for c in shop.shopify.customers.values())
