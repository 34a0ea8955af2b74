"""The shop configuration as the domain reads it: parsed once from the document into frozen, typed settings, parsed
again on every PATCH, while the document stays what the control API returns."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import rivosim
from rivosim.domain.config import resolve_config
from rivosim.domain.settings import ShopSettings
from rivosim.engine import Simulator
from rivosim.http.app import create_app
from rivosim.kernel.errors import InvalidConfig


def test_the_settings_are_typed_and_frozen() -> None:
    shop = Simulator(seed=1).create_shop({"timezone": "Europe/Paris", "program": {"vip": {"period": "calendar_year"}}})
    settings = shop.settings
    assert isinstance(settings, ShopSettings)
    assert settings.timezone == "Europe/Paris" and settings.program.vip.period == "calendar_year"
    assert settings.shopify.access_scopes == tuple(shop.config["shopify"]["access_scopes"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.timezone = "UTC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.program.earning_rules[0]["points_amount"] = 5  # type: ignore[index]


def test_a_patch_reparses_and_a_refused_patch_keeps_both() -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop({"domain": "s.myshopify.com"})
    before = shop.settings
    sim.patch_shop("s.myshopify.com", {"api": {"accept_bearer": True}, "shopify": {"order_tags": False}})
    assert shop.settings.api.accept_bearer is True and shop.settings.shopify.order_tags is False
    assert shop.settings.program == before.program  # untouched siblings read the same
    current = shop.settings
    with pytest.raises(InvalidConfig):
        sim.patch_shop("s.myshopify.com", {"program": {"rewards": [{"name": "x", "reward_type": "percentage",
                                                                     "reward_value": 150}]}})
    assert shop.settings is current and shop.config["shopify"]["order_tags"] is False


def test_the_control_api_returns_the_document_not_the_settings() -> None:
    sim = Simulator(seed=1)
    client = create_app(sim).test_client()
    assert client.post("/_rivosim/shops", json={"domain": "d.myshopify.com", "currency": "EUR"}).status_code == 201
    got = client.get("/_rivosim/shops/d.myshopify.com").get_json()["config"]
    assert got == {"domain": "d.myshopify.com", **resolve_config({"currency": "EUR"})}
    patched = client.patch("/_rivosim/shops/d.myshopify.com", json={"program": {"points_name": "Stars"}})
    assert patched.status_code == 200
    got = client.get("/_rivosim/shops/d.myshopify.com").get_json()["config"]
    assert got == {"domain": "d.myshopify.com",
                   **resolve_config({"currency": "EUR", "program": {"points_name": "Stars"}})}
    assert sim.shop("d.myshopify.com").settings.program.points_name == "Stars"


def test_the_public_validate_config_still_checks_fault_rules() -> None:
    with pytest.raises(InvalidConfig) as refused:
        rivosim.validate_config({"faults": [{"match": {}, "action": {"type": "nonsense"}}]})
    assert refused.value.field is not None and refused.value.field.startswith("faults[0]")
    with pytest.raises(InvalidConfig):
        Simulator().create_shop({"faults": [{"action": {"type": "status", "status": 99}}]})


def test_no_module_reads_a_shops_configuration_document_by_key() -> None:
    """The domain, wire, webhooks and http read ``shop.settings``; ``config[...]`` on a shop is a KeyError waiting
    for a typo. (Flask's own ``app.config`` and JSON documents read back from the control API are not a shop's.)"""
    package = Path(rivosim.__file__).parent
    pattern = re.compile(r"(shop\(\)|shop_?|\bs|found|ctx)\.config(\(\))?\[")
    offenders = [f"{path.relative_to(package)}:{number}" for path in sorted(package.rglob("*.py"))
                 for number, line in enumerate(path.read_text("utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
