"""The control API reads the inspector renders (``/_rivosim/shops/<domain>/customers``, ``…/history``,
``…/webhooks``, ``…/rate_limits``) and the inspector's pages themselves: what they show, and refusals in the
control API's shape (a page's refusal is an HTML page with the same status)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from rivosim.http.control.ui_charts import balance_chart, deliveries_timeline
from tests.contract.conftest import ShopHandle, assert_control_error


def test_customers_are_searched_by_email_or_id(shop: ShopHandle, member: dict[str, Any]) -> None:
    other = shop.add_customer(email="grace@example.com", first_name="Grace")
    found = shop.control("GET", "/customers", query_string={"q": "LOVELACE"}).get_json()
    assert found["total"] == 1 and [c["id"] for c in found["customers"]] == [member["id"]]
    assert found["customers"][0]["points_tally"] == 100 and found["customers"][0]["member"] is True
    by_id = shop.control("GET", "/customers", query_string={"q": str(other["id"])}).get_json()
    assert [c["email"] for c in by_id["customers"]] == ["grace@example.com"]
    newest_first = shop.control("GET", "/customers", query_string={"limit": "1"}).get_json()
    assert newest_first["total"] == 2 and [c["id"] for c in newest_first["customers"]] == [other["id"]]
    assert_control_error(shop.control("GET", "/customers", query_string={"limit": "0"}), 422, field="limit")


def test_a_customers_history_is_its_ledger_with_the_running_balance(shop: ShopHandle,
                                                                    member: dict[str, Any]) -> None:
    shop.give(member["id"], 250)
    shop.give(member["id"], -50)
    history = shop.control("GET", f"/customers/{member['id']}/history").get_json()
    assert [e["points_diff"] for e in history["ledger"]] == [100, 250, -50]
    assert [e["balance_after"] for e in history["ledger"]] == [100, 350, 300]
    assert [p["points"] for p in history["balance"]] == [0, 100, 350, 300, 300]  # from joining to now
    assert history["points_tally"] == 300 == shop.points(member["id"])
    assert history["tiers"] == [] and history["redemptions"] == [] and history["referrals"] == []


def test_history_refusals(shop: ShopHandle) -> None:
    hidden = shop.add_customer(visible=False, email="later@example.com")
    history = shop.control("GET", f"/customers/{hidden['id']}/history").get_json()
    assert history["visible_to_rivo_api"] is False  # the simulator's view, before the Rivo API shows it
    assert_control_error(shop.control("GET", "/customers/12345/history"), 404)
    assert_control_error(shop.control("GET", "/customers/abc/history"), 422, field="id")
    assert_control_error(shop.client.get("/_rivosim/shops/nope.myshopify.com/customers/1/history"), 404)


def test_subscriptions_and_rate_limits(shop: ShopHandle) -> None:
    resp = shop.api.post("/webhooks", json={"event_type": "customer/joined", "url": "https://hooks.example.com/r"})
    assert resp.status_code == 201
    subs = shop.control("GET", "/webhooks").get_json()
    assert [s["event_type"] for s in subs["rivo"]] == ["customer/joined"] and subs["shopify"] == []
    limits = shop.control("GET", "/rate_limits").get_json()
    assert limits["rate_limits"]["rivo"]["enabled"] is False
    assert set(limits["tokens_left"]) == {"rivo", "shopify_rest", "shopify_graphql"}


@pytest.mark.parametrize("path", ["/", "/shops/{d}", "/shops/{d}?q=ada", "/shops/{d}/customers/{c}", "/webhooks",
                                  "/webhooks?shop={d}&status=failed", "/journal", "/journal?api=rivo&status=200",
                                  "/faults", "/shops/{d}/syncs"])
def test_every_page_renders(client: FlaskClient, shop: ShopHandle, member: dict[str, Any], path: str) -> None:
    resp = client.get("/_rivosim/ui" + path.format(d=shop.domain, c=member["id"]))
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert "<title>" in resp.get_data(as_text=True)


def test_a_page_refusal_is_an_html_page_that_says_why(client: FlaskClient, shop: ShopHandle) -> None:
    resp = client.get("/_rivosim/ui/shops/nope.myshopify.com")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "nope.myshopify.com" in resp.get_data(as_text=True)
    assert client.get("/_rivosim/ui/webhooks?status=lost").status_code == 422
    assert client.get("/_rivosim/ui/journal?status=abc").status_code == 422
    assert client.get(f"/_rivosim/ui/shops/{shop.domain}/customers/1").status_code == 404


def test_secrets_are_masked_until_revealed(client: FlaskClient, shop: ShopHandle) -> None:
    page = client.get("/_rivosim/ui/").get_data(as_text=True)
    masked = "•" * 8 + shop.key[-4:]
    assert f">{masked}</code>" in page  # shown masked; the full value only in the click-to-reveal attribute
    assert f'data-secret="{shop.key}"' in page


def test_the_pictures_are_svg_drawn_from_the_api_data() -> None:
    assert "No ledger entries" in balance_chart([])
    one = balance_chart([{"at": "2026-01-01T00:00:00+00:00", "points": 0}])
    assert one.startswith("<svg") and "<polyline" in one
    assert "No deliveries" in deliveries_timeline([])
    delivery = {"id": "msg_1", "topic": "customer/<joined>", "status": "pending",
                "created_at": "2026-01-01T00:00:00+00:00", "next_attempt_at": "2026-01-01T00:01:00+00:00",
                "attempts": [{"number": 1, "at": "2026-01-01T00:00:00+00:00", "status_code": None,
                              "error": "ConnectionError"}]}
    svg = deliveries_timeline([delivery])
    assert "customer/&lt;joined&gt;" in svg  # text is escaped
    assert svg.count("<circle") == 2 and "next attempt due" in svg and "no response: ConnectionError" in svg
