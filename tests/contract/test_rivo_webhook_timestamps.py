"""How Rivo webhook payloads write their timestamps: ``occurred_at`` in whole seconds by default, as live
captures show (``2026-09-16T13:42:34Z`` next to ``applied_at`` ``…34.230Z``), milliseconds when the shop says
``webhooks.occurred_at_precision: milliseconds``; REST answers keep milliseconds everywhere (docs/fidelity.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ISO_MS_RE, ShopHandle

WHOLE_SECONDS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def triggers(client: Any, shop: ShopHandle, topic: str) -> list[dict[str, Any]]:
    resp = client.get(f"/_rivosim/shops/{shop.domain}/triggers", query_string={"topic": topic})
    assert resp.status_code == 200, resp.get_json()
    return [t["payload"] for t in resp.get_json()["triggers"]]


def activity_off_the_second(client: Any, shop: ShopHandle) -> dict[str, Any]:
    """A member who joins and then gets a manual adjustment 0.25 s after a whole second."""
    assert client.post("/_rivosim/clock/advance", json={"seconds": 0.25}).status_code == 200
    member = shop.add_customer(email="stamp@example.com")
    resp = shop.api.post("/points_events", json={"customer_identifier": str(member["id"]), "source": "manual",
                                                 "points_amount": 5, "credits_amount": 0})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["data"]["attributes"]  # type: ignore[no-any-return]


def test_occurred_at_is_whole_seconds_in_payloads_by_default(client: Any, shop: ShopHandle) -> None:
    rest = activity_off_the_second(client, shop)
    assert ISO_MS_RE.match(rest["occurred_at"]) and rest["occurred_at"].endswith(".250Z")
    manual = triggers(client, shop, "points_event/created")[-1]
    assert manual["occurred_at"] == rest["occurred_at"][:19] + "Z"
    assert WHOLE_SECONDS_RE.match(manual["occurred_at"])
    assert manual["applied_at"] == rest["applied_at"] and manual["applied_at"].endswith(".250Z")
    (joined,) = triggers(client, shop, "customer/joined")
    assert WHOLE_SECONDS_RE.match(joined["occurred_at"])


def test_milliseconds_on_request(client: Any, make_shop: Callable[..., ShopHandle]) -> None:
    shop = make_shop({"webhooks": {"occurred_at_precision": "milliseconds"}})
    rest = activity_off_the_second(client, shop)
    manual = triggers(client, shop, "points_event/created")[-1]
    assert manual["occurred_at"] == rest["occurred_at"] and manual["occurred_at"].endswith(".250Z")


@pytest.mark.parametrize("value", ["microseconds", 3, None])
def test_an_unknown_precision_is_refused(client: Any, value: Any) -> None:
    resp = client.post("/_rivosim/shops", json={"webhooks": {"occurred_at_precision": value}})
    assert resp.status_code == 422
    assert "webhooks.occurred_at_precision" in resp.get_data(as_text=True)
