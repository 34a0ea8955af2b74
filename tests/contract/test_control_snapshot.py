"""The snapshot routes of the control API: ``GET /_rivosim/snapshot`` (whole, ``?shop=``, ``?journal=1``),
``POST /_rivosim/snapshot`` (restore; refusals in the control API's error shape, nothing changed) and
``GET /_rivosim/snapshot/schema.json``, all behind the control token when one is set."""

from __future__ import annotations

import json

import orjson
import pytest

from rivosim import Simulator, create_app
from rivosim.snapshot import VERSION
from tests.snapshots import walk as _walk


def test_a_file_whose_keys_a_tool_sorted_means_the_same(world: tuple[Simulator, object]) -> None:
    """Shared objects carry an explicit ``$id`` (not a position), so a file whose keys a tool reordered (``jq -S``,
    Flask's sorting JSON) still restores the same objects, shared as they were."""
    sim, _ = world
    doc = sim.snapshot(journal=True)
    reordered = json.dumps(doc, sort_keys=True).encode()
    assert reordered != orjson.dumps(doc)
    target = Simulator()
    target.restore(reordered)
    for domain, shop in sim.shops.items():
        twin = target.shops[domain]
        assert twin.credentials == shop.credentials
        assert sorted(twin.rivo.members) == sorted(shop.rivo.members)
        assert target.shop_for_rivo_key(shop.credentials.rivo_api_key) is twin
        assert twin.ctx.rng is twin.rng  # one stream, still shared
    assert target.clock.export_state() == sim.clock.export_state()


@pytest.fixture
def world() -> tuple[Simulator, object]:
    sim = Simulator(seed=4)
    sim.create_shop({"domain": "a.myshopify.com", "plan": "plus"}, customers=5)
    sim.create_shop({"domain": "b.myshopify.com"}, customers=3)
    return sim, create_app(sim).test_client()


def test_save_then_restore_over_http(world: tuple[Simulator, object]) -> None:
    sim, client = world
    saved = client.get("/_rivosim/snapshot")
    assert saved.status_code == 200 and saved.mimetype == "application/json"
    doc = saved.get_json()
    assert (doc["format"], doc["version"], doc["scope"], doc["journal"]) == \
        ("rivosim-snapshot", VERSION, "simulator", None)
    client.post("/_rivosim/clock/advance", json={"duration": "P10D"})
    client.delete("/_rivosim/shops/b.myshopify.com")
    answer = client.post("/_rivosim/snapshot", data=saved.data, content_type="application/json")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"restored": "simulator", "now": "2026-01-01T00:00:00+00:00",
                                 "shops": ["a.myshopify.com", "b.myshopify.com"]}
    assert sim.now().isoformat() == "2026-01-01T00:00:00+00:00"


def test_journal_on_request(world: tuple[Simulator, object]) -> None:
    _, client = world
    client.get("/_rivosim/shops")
    doc = client.get("/_rivosim/snapshot", query_string={"journal": "1"}).get_json()
    assert doc["journal"] is not None
    bad = client.get("/_rivosim/snapshot", query_string={"journal": "maybe"})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "journal"


def test_one_shop(world: tuple[Simulator, object]) -> None:
    sim, client = world
    doc = client.get("/_rivosim/snapshot", query_string={"shop": "b.myshopify.com"}).get_json()
    assert (doc["scope"], doc["shop"]) == ("shop", "b.myshopify.com")
    client.delete("/_rivosim/shops/b.myshopify.com")
    answer = client.post("/_rivosim/snapshot", json=doc)
    assert answer.status_code == 200 and answer.get_json()["restored"] == "shop"
    assert sorted(sim.shops) == ["a.myshopify.com", "b.myshopify.com"]
    missing = client.get("/_rivosim/snapshot", query_string={"shop": "nope.myshopify.com"})
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"", 400, "snapshot"),
    (b"{\"format\": \"rivosim-snapshot\", \"versi", 400, "snapshot"),
    (b"{\"format\": \"rivosim-snapshot\", \"version\": 99}", 422, "version"),
    (b"{\"format\": \"other\", \"version\": 1}", 422, "format"),
])
def test_refusals_are_the_control_api_s_errors_and_change_nothing(world: tuple[Simulator, object], body: bytes,
                                                                  status: int, field: str) -> None:
    sim, client = world
    before = orjson.dumps(sim.snapshot())
    answer = client.post("/_rivosim/snapshot", data=body, content_type="application/json")
    assert answer.status_code == status
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_snapshot" and error["field"] == field
    assert "nothing changed" in error["message"]
    assert orjson.dumps(sim.snapshot()) == before


def test_a_wrong_type_deep_inside_names_its_path(world: tuple[Simulator, object]) -> None:
    sim, client = world
    doc = client.get("/_rivosim/snapshot").get_json()
    credentials = next(n for n in _walk(doc["state"]) if str(n.get("$obj", "")).endswith(":Credentials"))
    credentials["attrs"]["rivo_api_key"] = 42
    before = orjson.dumps(sim.snapshot())
    answer = client.post("/_rivosim/snapshot", json=doc)
    assert answer.status_code == 422
    assert "rivo_api_key" in answer.get_json()["error"]["field"]
    assert orjson.dumps(sim.snapshot()) == before


def test_the_schema_is_served(world: tuple[Simulator, object]) -> None:
    _, client = world
    schema = client.get("/_rivosim/snapshot/schema.json")
    assert schema.status_code == 200
    assert schema.get_json()["properties"]["format"] == {"const": "rivosim-snapshot"}


@pytest.mark.parametrize(("method", "path"), [("GET", "/_rivosim/snapshot"), ("POST", "/_rivosim/snapshot"),
                                              ("GET", "/_rivosim/snapshot/schema.json"),
                                              ("GET", "/_rivosim/snapshot?shop=a.myshopify.com")])
def test_the_routes_need_the_control_token(method: str, path: str) -> None:
    sim = Simulator()
    sim.create_shop({"domain": "a.myshopify.com"})
    client = create_app(sim, control_token="s3cret").test_client()
    before = orjson.dumps(sim.snapshot())
    refused = client.open(path, method=method, data=orjson.dumps(sim.snapshot()))
    assert refused.status_code == 401
    assert set(refused.get_json()["error"]) >= {"code", "message"}
    assert orjson.dumps(sim.snapshot()) == before
    allowed = client.open(path, method=method, data=orjson.dumps(sim.snapshot()),
                          headers={"Authorization": "Bearer s3cret"})
    assert allowed.status_code == 200, allowed.get_json()
