"""The sync guide's situations (shared/seeds/004), played end to end through the control API and Shopify's
Admin API: a broken widget fixed by Sync Theme then Sync Store; VIP tags missing until the tagging Sync Store
backfills them; a second manual integration sync within the hour refused; a domain mismatch failing syncs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from rivosim import Simulator

from .conftest import assert_control_error
from .shopify_support import ShopifyShop

pytest_plugins = ["tests.contract.shopify_fixtures"]  # the Shopify fixtures


class Dashboard:
    """The merchant's side: Rivo's dashboard buttons and the Shopify admin, through the control API."""

    def __init__(self, client: FlaskClient, sim: Simulator, domain: str) -> None:
        self.client, self.sim, self.base = client, sim, f"/_rivosim/shops/{domain}"

    def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        resp = self.client.open(self.base + path, method=method, **kwargs)
        assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
        return resp.get_json()

    def sync(self, family: str) -> dict[str, Any]:
        queued = self.call("POST", f"/syncs/{family}", 202)
        assert queued["status"] == "syncing" and queued["message"] == "Syncing…"
        self.sim.run_until_idle()
        done = self.call("GET", f"/syncs/{family}")
        assert done["id"] == queued["id"] and done["status"] == "synced" and done["message"] == "Successfully synced"
        assert done["finished_at"] > done["requested_at"]
        return done  # type: ignore[no-any-return]

    def storefront(self) -> dict[str, Any]:
        return self.call("GET", "/storefront")  # type: ignore[no-any-return]


def test_new_theme_breaks_the_widget_until_sync_theme_then_sync_store(
        make_shopify: Callable[..., ShopifyShop], client: FlaskClient, sim: Simulator) -> None:
    shop = make_shopify()
    desk = Dashboard(client, sim, shop.domain)
    assert desk.storefront()["widget_displayed"] is True
    # The merchant installs a new theme (with the app embed set up) and publishes it through the admin.
    theme = desk.call("POST", "/themes", 201, json={"name": "Refresh", "app_embed": "enabled"})
    shop.admin.ok("PUT", f"themes/{theme['id']}.json", json={"theme": {"role": "main"}})
    broken = desk.storefront()
    assert broken["widget_displayed"] is False and broken["theme"]["name"] == "Refresh"
    assert [r["code"] for r in broken["reasons"]] == ["theme_sync_needed"]
    assert "run Sync Theme, then Sync Store" in broken["reasons"][0]["message"]
    theme_sync = desk.sync("theme")
    assert theme_sync["result"]["theme_name"] == "Refresh" and theme_sync["result"]["app_embed"] == "enabled"
    assert [r["code"] for r in desk.storefront()["reasons"]] == ["store_sync_needed"]
    desk.sync("store")
    fixed = desk.storefront()
    assert fixed["widget_displayed"] is True and fixed["reasons"] == []
    assert fixed["last_theme_sync"]["theme_name"] == "Refresh"


def test_enabling_the_app_embed_needs_both_syncs_before_the_widget_shows(
        make_shopify: Callable[..., ShopifyShop], client: FlaskClient, sim: Simulator) -> None:
    shop = make_shopify(shopify={"app_embed": "disabled"})
    desk = Dashboard(client, sim, shop.domain)
    assert [r["code"] for r in desk.storefront()["reasons"]] == ["app_embed_disabled"]
    theme = desk.call("GET", "/themes")["themes"][0]
    assert theme["app_embed"] == "disabled"
    desk.call("PUT", f"/themes/{theme['id']}/app_embed", json={"state": "enabled"})
    assert [r["code"] for r in desk.storefront()["reasons"]] == ["theme_sync_needed"]
    desk.sync("theme")
    desk.sync("store")
    assert desk.storefront()["widget_displayed"] is True
    assert_control_error(client.put(f"/_rivosim/shops/{shop.domain}/themes/{theme['id']}/app_embed",
                                    json={"state": "on"}), 422, field="state")
    assert_control_error(client.post(f"/_rivosim/shops/{shop.domain}/syncs/everything"), 404)


def test_vip_tags_missing_until_the_tagging_sync_store_backfills_them(
        make_shopify: Callable[..., ShopifyShop], client: FlaskClient, sim: Simulator) -> None:
    shop = make_shopify()
    admin, desk = shop.admin, Dashboard(client, sim, shop.domain)
    gold = admin.create_customer(email="gold@example.com")
    silver = admin.create_customer(email="silver@example.com", tags="Wholesale")
    sim.advance(30)
    shop.handle.give(gold["id"], 1200)
    shop.handle.give(silver["id"], 450)
    # The merchant enables VIP tier tags: existing members are not tagged...
    shop.handle.patch({"shopify": {"vip_tier_tags": True}})

    def tags(customer: dict[str, Any]) -> str:
        return admin.ok("GET", f"customers/{customer['id']}.json")["customer"]["tags"]  # type: ignore[no-any-return]

    assert tags(gold) == "" and tags(silver) == "Wholesale"
    # ...but a tier unlocked from now on is.
    newcomer = admin.create_customer(email="new@example.com")
    sim.advance(30)
    shop.handle.give(newcomer["id"], 450)
    assert tags(newcomer) == "Rivo VIP Tier: Silver"
    # Settings > Shopify Metafields & Tags > Sync Store backfills the rest.
    done = desk.sync("tagging")
    assert done["result"]["customer_tags_changed"] == 2 and done["progress"]["total"] == 3
    assert tags(gold) == "Rivo VIP Tier: Gold" and tags(silver) == "Rivo VIP Tier: Silver, Wholesale"
    # A tier structure change (a renamed tier) is picked up by the same backfill.
    tiers = shop.handle.tiers()
    renamed = [{"name": "Bronze", "threshold": 0}, {"name": "Argent", "threshold": 500},
               {"name": "Gold", "threshold": 1250}]
    assert [t["name"] for t in tiers] == ["Bronze", "Silver", "Gold"]
    shop.handle.patch({"program": {"vip": {"tiers": renamed}}})
    desk.sync("tagging")
    assert tags(silver) == "Rivo VIP Tier: Argent, Wholesale"


def test_a_second_manual_sync_within_the_hour_is_refused(make_shopify: Callable[..., ShopifyShop],
                                                         client: FlaskClient, sim: Simulator) -> None:
    shop = make_shopify(integrations=[{"name": "klaviyo"}, {"name": "postscript"}], customers=3)
    desk = Dashboard(client, sim, shop.domain)
    queued = desk.call("POST", "/integrations/klaviyo/sync", 202)
    assert queued["status"] == "queued" and queued["message"] == "Syncing has been queued"
    sim.advance(15 * 60)
    resp = client.post(f"/_rivosim/shops/{shop.domain}/integrations/klaviyo/sync")
    err = assert_control_error(resp, 429, code="sync_too_soon")
    assert "once per hour" in err["message"] and "in 45 minutes" in err["message"]
    assert err["details"]["allowed_at"] == "2026-01-01T01:00:00+00:00"
    assert resp.headers["Retry-After"] == "2700.0"
    # Postscript is independent; the first Klaviyo sync finished in the background.
    assert desk.call("POST", "/integrations/postscript/sync", 202)["status"] == "queued"
    klaviyo = desk.call("GET", "/integrations/klaviyo")
    assert klaviyo["manual_sync"]["latest"]["status"] == "synced" and klaviyo["profile_count"] == 3
    assert klaviyo["manual_sync"]["next_allowed_at"] == "2026-01-01T01:00:00+00:00"
    sim.advance(45 * 60)
    assert desk.call("POST", "/integrations/klaviyo/sync", 202)["status"] == "queued"
    overview = desk.call("GET", "/syncs")
    assert {i["name"] for i in overview["integrations"]} == {"klaviyo", "postscript"}


def test_the_marketing_platform_holds_the_right_points_balance(make_shopify: Callable[..., ShopifyShop],
                                                               client: FlaskClient, sim: Simulator) -> None:
    shop = make_shopify(integrations=[{"name": "klaviyo"}])
    desk = Dashboard(client, sim, shop.domain)
    c = shop.admin.create_customer(email="fan@example.com")
    sim.advance(30)
    shop.admin.create_order(customer={"id": c["id"]}, financial_status="paid",
                            line_items=[{"title": "Boots", "price": "80.00"}])
    sim.advance(10)
    profile = desk.call("GET", "/integrations/klaviyo", query_string={"email": "fan@example.com"})
    assert profile["profiles"]["fan@example.com"]["properties"]["Rivo Points Balance"] == 180
    assert [e["name"] for e in profile["events"]] == ["Points earned", "Points earned"]


def test_a_domain_mismatch_shows_data_not_syncing(make_shopify: Callable[..., ShopifyShop], client: FlaskClient,
                                                  sim: Simulator) -> None:
    shop = make_shopify(integrations=[{"name": "postscript", "connected_domain": "www.brand-store.com"}])
    desk = Dashboard(client, sim, shop.domain)
    desk.call("POST", "/integrations/postscript/sync", 202)
    sim.run_until_idle()
    state = desk.call("GET", "/integrations/postscript")
    run = state["manual_sync"]["latest"]
    assert run["status"] == "failed" and run["error"].startswith("Data Not Syncing: Postscript is connected with the "
                                                                 "store domain www.brand-store.com")
    assert state["status"] == "failing" and state["error"] == run["error"] and state["profiles"] == {}
    # Reconnecting from the exact myshopify domain fixes the automatic updates at once.
    desk.call("PUT", "/integrations/postscript", json={})
    c = shop.admin.create_customer(email="sms@example.com")
    sim.advance(30)
    assert desk.call("GET", "/integrations/postscript")["profiles"]["sms@example.com"]["properties"][
        "Rivo-Points-Balance"] == 100
    assert c["id"]
    desk.call("DELETE", "/integrations/postscript")
    assert_control_error(client.get(f"/_rivosim/shops/{shop.domain}/integrations/postscript"), 404)


def test_writeback_state_shows_refused_writes(make_shopify: Callable[..., ShopifyShop], client: FlaskClient,
                                              sim: Simulator) -> None:
    shop = make_shopify(shopify={"vip_tier_tags": True})
    desk = Dashboard(client, sim, shop.domain)
    full = [f"t{i:03d}" for i in range(250)]
    c = shop.admin.create_customer(email="full@example.com")
    sim.advance(30)
    shop.admin.ok("PUT", f"customers/{c['id']}.json", json={"customer": {"tags": ", ".join(full)}})
    shop.handle.give(c["id"], 450)  # Silver: Shopify refuses a 251st tag; the points still count
    state = desk.call("GET", "/writeback")
    assert state["errors"][-1]["customer_id"] == c["id"] and state["errors"][-1]["what"] == "vip_tier_tag"
    assert state["shop_metafield_current"] is True
    assert shop.handle.points(c["id"]) == 550
