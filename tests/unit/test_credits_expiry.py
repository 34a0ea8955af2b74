"""Store-credit expiry: grants expire one by one, oldest spent first, warned 30 and 3 days before; the customer
shows the next expiry in the REST API (a timestamp) and in webhook payloads (a human date)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rivosim.domain.shop import Shop
from rivosim.engine import Simulator
from rivosim.http.app import create_app


def make(credits_expiry: dict[str, Any] | None = None, **program: Any) -> tuple[Simulator, Shop]:
    sim = Simulator(seed=3)
    doc = {"domain": "credit.myshopify.com", "api": {"new_customer_visibility_delay": 0},
           "program": {"credits_expiry": credits_expiry or {"enabled": True, "months": 2}, **program}}
    return sim, sim.create_shop(doc)


def credit(shop: Shop, cid: int, amount: str) -> None:
    shop.rivo.create_points_event({"customer_identifier": cid, "source": "manual", "points_amount": 0,
                                   "credits_amount": amount})


def notifications(sim: Simulator, shop: Shop) -> list[tuple[str, datetime, Any]]:
    return [(t.topic, t.at, t.payload["credits_amount"]) for t in sim.triggers.log(shop.domain).items
            if t.topic.startswith("notification/credits")]


def test_grants_expire_one_by_one_oldest_spent_first_with_warnings() -> None:
    sim, shop = make()
    cid = shop.shopify.create_customer(email="c@example.com").id
    credit(shop, cid, "20")  # 2026-01-01, expires 2026-03-01
    sim.advance("P20D")
    credit(shop, cid, "10.50")  # 2026-01-21, expires 2026-03-21
    credit(shop, cid, "-25")  # all of the first grant, 5 of the second
    member = shop.rivo.members[cid]
    assert shop.rivo.lifecycle.credits.expire_at(member) == datetime(2026, 3, 21, tzinfo=UTC)
    sim.advance("P3M")
    assert notifications(sim, shop) == [
        ("notification/credits_expiry_warning", datetime(2026, 2, 19, tzinfo=UTC), "5.50"),
        ("notification/credits_expiry_last_chance", datetime(2026, 3, 18, tzinfo=UTC), "5.50"),
    ]
    expired = [e for e in shop.rivo.ledger[cid] if e.source == "credits_expired"]
    assert [(e.credits_diff, e.points_diff, e.created_at) for e in expired] == [
        (Decimal("-5.50"), 0, datetime(2026, 3, 21, tzinfo=UTC))]
    assert member.credits_tally == 0 == sum(e.credits_diff for e in shop.rivo.ledger[cid])
    assert member.points_tally == sum(e.points_diff for e in shop.rivo.ledger[cid])  # points untouched
    assert shop.rivo.lifecycle.credits.expire_at(member) is None


def test_a_grant_spent_before_its_warning_is_never_mentioned() -> None:
    sim, shop = make()
    cid = shop.shopify.create_customer(email="s@example.com").id
    credit(shop, cid, "8")
    sim.advance("P10D")
    credit(shop, cid, "-8")
    sim.advance("P1Y")
    assert notifications(sim, shop) == []
    assert [e.source for e in shop.rivo.ledger[cid] if e.credits_diff] == ["manual", "manual"]


def test_off_by_default_nothing_expires_and_no_date_is_shown() -> None:
    sim = Simulator(seed=3)
    shop = sim.create_shop({"domain": "plain.myshopify.com", "api": {"new_customer_visibility_delay": 0}})
    cid = shop.shopify.create_customer(email="o@example.com").id
    credit(shop, cid, "12")
    sim.advance("P3Y")
    member = shop.rivo.members[cid]
    assert member.credits_tally == Decimal("12") and notifications(sim, shop) == []
    assert shop.rivo.lifecycle.credits.expire_at(member) is None


def test_credit_expiry_does_not_count_as_activity_for_points_inactivity() -> None:
    # Points expire after 3 months without activity; the credit grant on day 0 expires after 2 months. The
    # credit's expiry is the shop's doing, not the customer's: the points still expire 3 months after day 0.
    sim, shop = make({"enabled": True, "months": 2},
                     expiry={"enabled": True, "mode": "inactivity", "months": 3})
    cid = shop.shopify.create_customer(email="i@example.com").id
    credit(shop, cid, "4")
    sim.advance("P4M")
    expired = [(e.source, e.created_at) for e in shop.rivo.ledger[cid] if e.source.endswith("_expired")]
    assert expired == [("credits_expired", datetime(2026, 3, 1, tzinfo=UTC)),
                       ("points_expired", datetime(2026, 4, 1, tzinfo=UTC))]


def test_the_customer_shows_the_next_expiry_in_rest_and_webhooks() -> None:
    sim, shop = make()
    client = create_app(sim).test_client()
    headers = {"Authorization": shop.credentials.rivo_api_key}
    hook = client.post("/merchant_api/v1/webhooks", headers=headers,
                       json={"topic": "notification/credits_expiry_warning", "url": "http://127.0.0.1:9/hook"})
    assert hook.status_code == 201, hook.get_json()
    cid = shop.shopify.create_customer(email="r@example.com").id
    credit(shop, cid, "3")
    answer = client.get(f"/merchant_api/v1/customers/{cid}", headers=headers).get_json()
    assert answer["data"]["attributes"]["credits_expire_at"] == "2026-03-01T00:00:00.000Z"
    sim.advance("P1M")
    payload = next(t.payload for t in sim.triggers.log(shop.domain).items
                   if t.topic == "notification/credits_expiry_warning")
    body = json.loads(json.dumps(payload, default=str))
    assert body["credits_expire_at"] == "March 01, 2026"
    assert body["customer"]["credits_expire_at"] == "March 01, 2026"
    assert body["expires_at"] == "2026-03-01T00:00:00.000Z"


def test_bad_settings_are_refused_with_the_field_named() -> None:
    sim = Simulator(seed=3)
    client = create_app(sim).test_client()
    answer = client.post("/_rivosim/shops", json={"domain": "bad.myshopify.com",
                                                   "program": {"credits_expiry": {"enabled": True, "months": 0}}})
    assert answer.status_code == 422
    assert "credits_expiry" in json.dumps(answer.get_json())
    assert "bad.myshopify.com" not in sim.shops
