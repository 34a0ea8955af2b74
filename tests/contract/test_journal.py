"""The request journal over HTTP and from Python: what each entry records (time, shop, api, route, method, path,
status, the fault or limit applied, latency, duration), the filters, the cap, and unmatched requests that
explain themselves (nearest routes and why each did not match)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from rivosim import Simulator, create_app

from .conftest import ShopHandle, assert_control_error, assert_rivo_error


def entries(client: FlaskClient, **query: str) -> list[dict[str, Any]]:
    resp = client.get("/_rivosim/journal", query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["entries"]  # type: ignore[no-any-return]


def test_an_entry_records_the_request(shop: ShopHandle, member: dict[str, Any], client: FlaskClient,
                                      sim: Simulator) -> None:
    shop.api.post("/points_events", json={"customer_identifier": member["id"], "source": "manual",
                                           "points_amount": 3, "credits_amount": 0})
    entry = entries(client, route="rivo.points_events.create")[-1]
    assert entry["shop"] == shop.domain and entry["api"] == "rivo" and entry["method"] == "POST"
    assert entry["path"] == "/merchant_api/v1/points_events" and entry["status"] == 201
    assert entry["at"] == sim.now().isoformat()
    assert entry["request_json"]["points_amount"] == 3
    assert entry["duration_ms"] > 0
    assert entry["fault"] is None and entry["faults"] == [] and entry["limit"] is None
    assert entry["latency_ms"] == 0 and entry["action"] is None


def test_faults_and_limits_are_recorded(make_shop: Callable[..., ShopHandle], client: FlaskClient) -> None:
    shop = make_shop({"rate_limits": {"rivo": {"enabled": True, "rate": 1, "burst": 1}}})
    client.post("/_rivosim/faults", json={"id": "slow", "match": {"route": "rivo.rewards.list"},
                                          "action": {"type": "latency", "ms": 40}})
    assert shop.api.get("/rewards").status_code == 200
    assert shop.api.get("/rewards").status_code == 429
    ok, refused = entries(client, route="rivo.rewards.list")
    assert ok["faults"] == ["slow"] and ok["fault"] == "latency 40.0 ms (slow)" and ok["latency_ms"] == 40
    assert ok["action"] is None and ok["limit"] is None
    assert refused["limit"].startswith("rivo 1/s burst 1") and refused["faults"] == []
    assert [e["seq"] for e in entries(client, faulted="true")] == [ok["seq"], refused["seq"]]


def test_filters(shop: ShopHandle, member: dict[str, Any], client: FlaskClient, sim: Simulator) -> None:
    shop.api.get("/customers")
    first = entries(client, route="rivo.customers.list")[-1]
    sim.advance(10)
    shop.api.get(f"/customers/{member['id']}")
    shop.api.get("/rewards")
    assert [e["route"] for e in entries(client, route="rivo.customers.*")] == ["rivo.customers.list",
                                                                               "rivo.customers.get"]
    assert {e["api"] for e in entries(client, api="control")} == {"control"}
    assert [e["route"] for e in entries(client, since=first["at"], api="rivo")] == ["rivo.customers.get",
                                                                                   "rivo.rewards.list"]
    assert [e["route"] for e in entries(client, method="get", shop=shop.domain, limit="1")] == ["rivo.rewards.list"]
    body = client.get("/_rivosim/journal").get_json()
    assert body["cap"] == sim.journal.cap and body["dropped"] == 0
    for name, value in (("since", "yesterday"), ("limit", "0"), ("faulted", "maybe"), ("api", "stripe")):
        assert_control_error(client.get("/_rivosim/journal", query_string={name: value}), 422, field=name)


def test_python_api(shop: ShopHandle, member: dict[str, Any], sim: Simulator) -> None:
    shop.give(member["id"], 25)
    sim.journal.assert_called("rivo.points_events.create", times=1, shop=shop.domain, json={"points_amount": 25})
    assert [e.status for e in sim.journal.calls(route="rivo.points_events.create")] == [201]
    with pytest.raises(AssertionError, match=r"expected rivo\.rewards\.create to be called at least once"):
        sim.journal.assert_called("rivo.rewards.create")


def test_the_cap_holds_and_drops_the_oldest() -> None:
    sim = Simulator(seed=3, journal_cap=5)
    client = create_app(sim).test_client()
    for _ in range(12):
        client.get("/_rivosim/clock")
    assert len(sim.journal) == 5
    assert [e.seq for e in sim.journal.entries()] == [8, 9, 10, 11, 12]
    body = client.get("/_rivosim/journal").get_json()
    assert len(body["entries"]) == 5 and body["cap"] == 5 and body["dropped"] == 7  # itself not yet recorded
    sim.reset()
    assert len(sim.journal) == 0 and sim.journal.cap == 5


def test_a_transport_fault_is_journaled_with_no_status(shop: ShopHandle, client: FlaskClient) -> None:
    client.post("/_rivosim/faults", json={"id": "cut", "match": {"route": "rivo.rewards.list"},
                                          "action": {"type": "reset"}})
    shop.api.get("/rewards")
    entry = entries(client, route="rivo.rewards.list")[-1]
    assert entry["status"] == 0 and entry["action"] == "reset" and entry["faults"] == ["cut"]
    assert entries(client, status="0") == [entry]


# -- unmatched requests --------------------------------------------------------------------------------------------
def test_an_unmatched_request_names_the_nearest_routes_and_why(shop: ShopHandle, client: FlaskClient) -> None:
    resp = shop.api.get("/vip-tiers")
    err = assert_rivo_error(resp, 404)
    assert "nearest: GET /merchant_api/v1/vip_tiers" in err["detail"]
    entry = entries(client, status="404")[-1]
    assert entry["route"] is None and entry["api"] == "rivo"
    nearest = {n["route"]: n for n in entry["nearest"]}
    assert "rivo.vip_tiers.list" in nearest
    assert nearest["rivo.vip_tiers.list"]["why"] == "segment 3 is 'vip-tiers', the route has 'vip_tiers'"
    assert any("snake_case" in n for n in entry["notes"])


def test_a_wrong_method_names_the_methods_the_path_takes(shop: ShopHandle, client: FlaskClient) -> None:
    resp = shop.api.request("PATCH", "/rewards")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, POST"
    entry = entries(client, status="405")[-1]
    assert {n["route"] for n in entry["nearest"]} == {"rivo.rewards.list", "rivo.rewards.create"}
    assert all(n["why"].endswith("not PATCH") for n in entry["nearest"])


def test_an_unknown_path_outside_every_api(client: FlaskClient) -> None:
    resp = client.get("/nowhere/at/all")
    assert resp.status_code == 404
    entry = entries(client, status="404")[-1]
    assert entry["api"] == "unmatched" and entry["route"] is None
    assert all("why" in n for n in entry["nearest"] or [])


def test_segment_count_differences_are_explained(shop: ShopHandle, client: FlaskClient) -> None:
    shop.api.get("/customers/1/rewards")
    entry = entries(client, status="404")[-1]
    whys = [n["why"] for n in entry["nearest"]]
    assert any("segments" in why for why in whys), whys


def test_on_the_wall_clock_one_request_is_one_instant() -> None:
    from rivosim.wire.rivo import timestamp

    sim = Simulator(seed=3, clock="wall")
    shop = sim.create_shop({"domain": "wall.myshopify.com"})
    client = create_app(sim).test_client()
    created = client.post("/_rivosim/shops/wall.myshopify.com/customers",
                          json={"email": "now@example.com", "visibility_delay": 0}).get_json()
    resp = client.post("/merchant_api/v1/points_events", headers={"Authorization": shop.credentials.rivo_api_key},
                       json={"customer_identifier": str(created["id"]), "source": "manual", "points_amount": 5,
                             "credits_amount": 0})
    assert resp.status_code == 201, resp.get_json()
    event = resp.get_json()["data"]["attributes"]
    entry = sim.journal.entries()[-1]
    assert entry.route == "rivo.points_events.create"
    # The ledger entry, the trigger it fired and the journal entry share the request's instant.
    assert event["created_at"] == event["applied_at"] == timestamp(entry.at)
    fired = sim.triggers.log("wall.myshopify.com").items[-1]
    assert fired.topic == "points_event/created" and fired.at == entry.at
