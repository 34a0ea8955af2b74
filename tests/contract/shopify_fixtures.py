"""Fixtures for the Shopify Admin API contract tests, loaded by each test module through ``pytest_plugins``:
shops made through the control API (Shopify's limits off unless the document turns them on), their Admin API
client, and a recording webhook sender."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from rivosim import Simulator

from .conftest import ShopHandle
from .shopify_support import NO_SHOPIFY_LIMIT, AdminApi, RecordingSender, ShopifyShop


@pytest.fixture
def make_shopify(make_shop: Callable[..., ShopHandle], client: FlaskClient) -> Callable[..., ShopifyShop]:
    """``make_shopify(doc)``: a shop and an Admin API client with its token (both Shopify limits off unless the
    document sets them)."""

    def make(doc: dict[str, Any] | None = None, **fields: Any) -> ShopifyShop:
        merged: dict[str, Any] = {"rate_limits": dict(NO_SHOPIFY_LIMIT["rate_limits"])}
        for key, value in {**(doc or {}), **fields}.items():
            if key == "rate_limits":
                merged["rate_limits"].update(value)
            else:
                merged[key] = value
        handle = make_shop(merged)
        return ShopifyShop(handle, AdminApi(client, handle.created["shopify_access_token"]), handle.created)

    return make


@pytest.fixture
def shopify(make_shopify: Callable[..., ShopifyShop]) -> ShopifyShop:
    return make_shopify()


@pytest.fixture
def admin(shopify: ShopifyShop) -> AdminApi:
    return shopify.admin


@pytest.fixture
def receiver(sim: Simulator) -> RecordingSender:
    sender = RecordingSender()
    sim.use_sender(sender)
    return sender
