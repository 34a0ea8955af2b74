"""The per-shop clock routes of the control API, as a client sees them (their answers feed the OpenAPI shapes)."""

from __future__ import annotations

from flask.testing import FlaskClient

from .conftest import ShopHandle


def test_a_shops_clock_answers_and_advances_alone(client: FlaskClient, shop: ShopHandle) -> None:
    other = client.post("/_rivosim/shops", json={"domain": "other.myshopify.com"}).get_json()["domain"]
    got = shop.control("GET", "/clock").get_json()
    assert got["shop"] == shop.domain and got["kind"] == "virtual" and got["start"] == got["now"]
    moved = shop.control("POST", "/clock/advance", json={"duration": "P2D"}).get_json()
    assert moved["stopped_on_delivery"] is False and moved["now"] > got["now"]
    assert client.get(f"/_rivosim/shops/{other}/clock").get_json()["now"] == got["now"]
    reset = shop.control("POST", "/reset", json={}).get_json()
    assert reset["reset"] == shop.domain and reset["clock"]["now"] == got["now"]
    assert reset["credentials"]["domain"] == shop.domain and reset["seed"] is None
