"""Fault rules over HTTP: the control endpoints (``/_rivosim/faults``), every action as a client meets it through
the WSGI app, error bodies in each API's own shape, limits (probability 0, exact ``times``), scoping by shop, and
the control API left alone unless a rule says ``api: control``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from rivosim import Simulator

from .conftest import ShopHandle, assert_control_error, assert_rivo_error, unchanged


def add_rule(client: FlaskClient, rule: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/_rivosim/faults", json=rule)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


# -- the control endpoints ------------------------------------------------------------------------------------------
def test_create_list_get_delete_and_clear(client: FlaskClient) -> None:
    created = add_rule(client, {"id": "slow", "match": {"route": "rivo.customers.*"},
                                "action": {"type": "latency", "ms": 20}, "times": 3})
    assert created["id"] == "slow" and created["times"] == 3 and created["fired"] == 0
    assert created["action"] == {"type": "latency", "ms": 20, "distribution": "fixed"}
    second = add_rule(client, {"action": {"type": "error", "status": 502}})
    assert second["id"] == "fault-1" and second["action"]["status"] == 502
    listed = client.get("/_rivosim/faults").get_json()["faults"]
    assert [r["id"] for r in listed] == ["slow", "fault-1"]
    assert client.get("/_rivosim/faults/slow").get_json()["match"] == {"route": "rivo.customers.*"}
    removed = client.delete("/_rivosim/faults/slow")
    assert removed.status_code == 200 and removed.get_json()["id"] == "slow"
    assert_control_error(client.delete("/_rivosim/faults/slow"), 404)
    assert_control_error(client.get("/_rivosim/faults/nope"), 404)
    cleared = client.delete("/_rivosim/faults")
    assert cleared.status_code == 200 and cleared.get_json() == {"deleted": 1}
    assert client.get("/_rivosim/faults").get_json() == {"faults": []}


def test_a_list_of_rules_is_all_or_nothing(client: FlaskClient) -> None:
    resp = client.post("/_rivosim/faults", json={"faults": [{"id": "a", "action": {"type": "reset"}},
                                                            {"action": {"type": "latency"}}]})
    assert_control_error(resp, 422, field="faults[1].action.ms")
    assert client.get("/_rivosim/faults").get_json() == {"faults": []}
    ok = client.post("/_rivosim/faults", json={"faults": [{"id": "a", "action": {"type": "reset"}},
                                                          {"id": "b", "action": {"type": "timeout"}}]})
    assert ok.status_code == 201 and [r["id"] for r in ok.get_json()["faults"]] == ["a", "b"]


@pytest.mark.parametrize(("rule", "field"), [
    ({"action": {"type": "explode"}}, "fault.action.type"),
    ({"action": {"type": "error", "status": 302}}, "fault.action.status"),
    ({"action": {"type": "latency", "distribution": "lognormal", "median_ms": 10}}, "fault.action.sigma"),
    ({"action": {"type": "timeout"}, "match": {"api": "stripe"}}, "fault.match.api"),
    ({"action": {"type": "timeout"}, "probability": 2}, "fault.probability"),
    ({"action": {"type": "commit_then_fail", "then": "explode"}}, "fault.action.then"),
    ({"action": {"type": "malformed_body", "mode": "weird"}}, "fault.action.mode"),
    ({"id": "a/b", "action": {"type": "timeout"}}, "fault.id"),
    ({"action": {"type": "timeout"}, "colour": "red"}, "fault.colour"),
])
def test_bad_rules_are_refused_naming_the_field(client: FlaskClient, rule: dict[str, Any], field: str) -> None:
    assert_control_error(client.post("/_rivosim/faults", json=rule), 422, field=field)
    assert client.get("/_rivosim/faults").get_json() == {"faults": []}


def test_duplicate_ids_are_refused(client: FlaskClient) -> None:
    add_rule(client, {"id": "x", "action": {"type": "reset"}})
    assert_control_error(client.post("/_rivosim/faults", json={"id": "x", "action": {"type": "reset"}}), 422,
                         field="fault.id")


def test_reset_clears_the_rules(client: FlaskClient) -> None:
    add_rule(client, {"action": {"type": "reset"}})
    client.post("/_rivosim/reset")
    assert client.get("/_rivosim/faults").get_json() == {"faults": []}


# -- error actions ------------------------------------------------------------------------------------------------
def test_error_in_rivos_shape_with_retry_after_and_nothing_changes(shop: ShopHandle, member: dict[str, Any],
                                                                    client: FlaskClient) -> None:
    add_rule(client, {"id": "down", "match": {"api": "rivo", "route": "rivo.points_events.create"},
                      "action": {"type": "error", "status": 503, "retry_after": 2.5}})
    with unchanged(shop):
        resp = shop.api.post("/points_events", json={"customer_identifier": member["id"], "source": "manual",
                                                      "points_amount": 5, "credits_amount": 0})
    err = assert_rivo_error(resp, 503)
    assert err["title"] == "Service Unavailable"
    assert resp.headers["Retry-After"] == "3"  # whole seconds, rounded up
    assert resp.headers["X-Rivosim-Fault"] == "down"
    assert shop.api.get(f"/customers/{member['id']}").status_code == 200  # another route is untouched


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 429, 500, 502, 504])
def test_any_error_status(shop: ShopHandle, client: FlaskClient, status: int) -> None:
    add_rule(client, {"match": {"route": "rivo.rewards.list"}, "action": {"type": "error", "status": status,
                                                                          "message": "injected"}})
    err = assert_rivo_error(shop.api.get("/rewards"), status)
    assert err["detail"] == "injected"


def test_errors_on_the_control_api_only_when_a_rule_says_so(client: FlaskClient) -> None:
    add_rule(client, {"action": {"type": "error", "status": 500}})  # no api: every API but control
    assert client.get("/_rivosim/clock").status_code == 200
    add_rule(client, {"id": "ctl", "match": {"api": "control", "route": "control.clock.get"},
                      "action": {"type": "error", "status": 503, "retry_after": 1}})
    resp = client.get("/_rivosim/clock")
    assert_control_error(resp, 503)
    assert resp.headers["Retry-After"] == "1"
    assert client.get("/_rivosim/faults").status_code == 200  # other control routes still answer


def test_unauthenticated_requests_meet_auth_before_faults(shop: ShopHandle, client: FlaskClient) -> None:
    add_rule(client, {"match": {"api": "rivo"}, "action": {"type": "error", "status": 500}})
    resp = client.get("/merchant_api/v1/customers")
    assert_rivo_error(resp, 401)


def test_unmatched_routes_are_not_faulted(shop: ShopHandle, client: FlaskClient) -> None:
    add_rule(client, {"match": {"api": "rivo"}, "action": {"type": "error", "status": 500}})
    assert_rivo_error(shop.api.get("/vip-tiers"), 404)


# -- limits --------------------------------------------------------------------------------------------------------
def test_times_fires_exactly_and_probability_zero_never(shop: ShopHandle, client: FlaskClient) -> None:
    add_rule(client, {"id": "never", "match": {"route": "rivo.rewards.list"}, "probability": 0,
                      "action": {"type": "error", "status": 500}})
    add_rule(client, {"id": "twice", "match": {"route": "rivo.rewards.list"}, "times": 2, "after": 1,
                      "action": {"type": "error", "status": 502}})
    statuses = [shop.api.get("/rewards").status_code for _ in range(6)]
    assert statuses == [200, 502, 502, 200, 200, 200]
    rules = {r["id"]: r for r in client.get("/_rivosim/faults").get_json()["faults"]}
    assert rules["never"]["fired"] == 0 and rules["never"]["matched"] == 6
    assert rules["twice"]["fired"] == 2 and rules["twice"]["exhausted"] is True


def test_ttl_and_window_run_on_simulator_time(shop: ShopHandle, client: FlaskClient) -> None:
    add_rule(client, {"id": "brief", "match": {"route": "rivo.rewards.list"}, "ttl": "PT10S",
                      "action": {"type": "error", "status": 503}})
    add_rule(client, {"id": "later", "match": {"route": "rivo.vip_tiers.list"},
                      "window": {"start": "2026-01-01T01:00:00Z"}, "action": {"type": "error", "status": 500}})
    assert shop.api.get("/rewards").status_code == 503
    assert shop.api.get("/vip_tiers").status_code == 200
    client.post("/_rivosim/clock/advance", json={"duration": "PT1H"})
    assert shop.api.get("/rewards").status_code == 200
    assert shop.api.get("/vip_tiers").status_code == 500
    assert [r["id"] for r in client.get("/_rivosim/faults").get_json()["faults"]] == ["later"]


def test_matching_on_method_header_and_body(shop: ShopHandle, member: dict[str, Any], client: FlaskClient) -> None:
    add_rule(client, {"match": {"method": "POST", "header": {"X-Test-Case": "flaky"}, "body": {"source": "manual"}},
                      "action": {"type": "error", "status": 500}})
    body = {"customer_identifier": member["id"], "source": "manual", "points_amount": 1, "credits_amount": 0}
    assert shop.api.post("/points_events", json=body).status_code == 201
    assert shop.api.post("/points_events", json=body, headers={"X-Test-Case": "flaky"}).status_code == 500
    assert shop.api.post("/points_events", data=body, headers={"X-Test-Case": "flaky"}).status_code == 500
    assert shop.api.get("/customers", headers={"X-Test-Case": "flaky"}).status_code == 200


def test_seeded_probability_gives_the_same_faults_for_the_same_seed(
        make_shop: Callable[..., ShopHandle], client: FlaskClient, sim: Simulator) -> None:
    def run() -> list[int]:
        client.post("/_rivosim/reset", json={"seed": 5})
        shop = make_shop()
        add_rule(client, {"id": "coin", "match": {"route": "rivo.rewards.list"}, "probability": 0.5,
                          "action": {"type": "error", "status": 503}})
        return [shop.api.get("/rewards").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 5 < first.count(503) < 35


# -- shop-scoped rules from the shop document -------------------------------------------------------------------
def test_a_shops_own_faults_apply_only_to_it(make_shop: Callable[..., ShopHandle], client: FlaskClient) -> None:
    flaky = make_shop(faults=[{"match": {"route": "rivo.rewards.list"}, "action": {"type": "error", "status": 500}}])
    calm = make_shop()
    assert flaky.api.get("/rewards").status_code == 500
    assert calm.api.get("/rewards").status_code == 200
    rules = client.get("/_rivosim/faults", query_string={"shop": flaky.domain}).get_json()["faults"]
    assert [(r["id"], r["match"]["shop"], r["origin"]) for r in rules] == [
        (f"{flaky.domain}:fault-1", flaky.domain, f"shop:{flaky.domain}")]
    flaky.patch({"faults": []})
    assert flaky.api.get("/rewards").status_code == 200
    flaky.patch({"faults": [{"match": {"route": "rivo.vip_tiers.list"}, "action": {"type": "error", "status": 502}}]})
    assert flaky.api.get("/vip_tiers").status_code == 502
    assert flaky.control("DELETE").status_code == 200
    assert client.get("/_rivosim/faults").get_json() == {"faults": []}


def test_a_bad_rule_in_a_shop_document_names_its_path(client: FlaskClient, shop: ShopHandle) -> None:
    resp = client.post("/_rivosim/shops", json={"faults": [{"action": {"type": "latency", "ms": -1}}]})
    assert_control_error(resp, 422, field="faults[0].action.ms")
    with unchanged(shop):
        resp = shop.control("PATCH", json={"faults": [{"action": {"type": "reset"}, "times": "x"}]})
    assert_control_error(resp, 422)
    assert client.get("/_rivosim/faults").get_json() == {"faults": []}


# -- actions a transport carries out (the test client shows the placeholder and the journal tells) ---------------
@pytest.mark.parametrize(("kind", "status", "transport"), [
    ("timeout", 504, "hang"), ("reset", 502, "reset"), ("empty_reply", 502, "empty_reply")])
def test_transport_faults_stop_the_request_before_the_view(shop: ShopHandle, member: dict[str, Any],
                                                           client: FlaskClient, sim: Simulator, kind: str,
                                                           status: int, transport: str) -> None:
    add_rule(client, {"id": "t", "match": {"route": "rivo.points_events.create"}, "action": {"type": kind}})
    with unchanged(shop):
        resp = shop.api.post("/points_events", json={"customer_identifier": member["id"], "source": "manual",
                                                      "points_amount": 5, "credits_amount": 0})
    assert resp.status_code == status
    assert resp.headers["X-Rivosim-Transport"] == transport
    entry = sim.journal.calls("rivo.points_events.create")[-1]
    assert entry.status == 0 and entry.action == transport and entry.faults == ["t"]


def test_latency_advances_the_shops_virtual_clock_and_is_journaled(shop: ShopHandle, client: FlaskClient,
                                                                   sim: Simulator) -> None:
    add_rule(client, {"id": "slow", "match": {"route": "rivo.rewards.list"},
                      "action": {"type": "latency", "distribution": "uniform", "min_ms": 100, "max_ms": 200}})
    clock = sim.shop(shop.domain).clock
    before, server_before = clock.now(), sim.now()
    assert shop.api.get("/rewards").status_code == 200
    entry = sim.journal.calls("rivo.rewards.list")[-1]
    assert 100 <= entry.latency_ms <= 200
    assert (clock.now() - before).total_seconds() == pytest.approx(entry.latency_ms / 1000, abs=1e-6)
    assert sim.now() == server_before  # the wait was the shop's: the simulator's own clock stays
    assert entry.fault.startswith("latency ") and entry.fault.endswith("(slow)")
    assert entry.at == before


@pytest.mark.parametrize("mode", ["truncated", "invalid", "html", "cut"])
def test_malformed_bodies(shop: ShopHandle, client: FlaskClient, mode: str) -> None:
    good = shop.api.get("/rewards").get_data()
    add_rule(client, {"match": {"route": "rivo.rewards.list"}, "action": {"type": "malformed_body", "mode": mode}})
    resp = shop.api.get("/rewards")
    assert resp.status_code == 200
    data = resp.get_data()
    with pytest.raises(ValueError):
        json.loads(data)
    if mode in ("truncated", "cut"):
        assert data == good[:len(good) // 2]
    if mode == "cut":
        assert resp.headers["Content-Length"] == str(len(good)) and resp.headers["Connection"] == "close"
    if mode == "html":
        assert resp.mimetype == "text/html"


def test_slow_body_keeps_the_bytes_and_takes_simulator_time(shop: ShopHandle, client: FlaskClient,
                                                           sim: Simulator) -> None:
    good = shop.api.get("/rewards").get_data()
    add_rule(client, {"match": {"route": "rivo.rewards.list"},
                      "action": {"type": "slow_body", "chunk_size": 100, "interval_ms": 50}})
    clock = sim.shop(shop.domain).clock
    before = clock.now()
    assert shop.api.get("/rewards").get_data() == good
    chunks = -(-len(good) // 100)
    assert (clock.now() - before).total_seconds() == pytest.approx(chunks * 0.05)
    assert sim.journal.entries()[-1].action == "dribble"


def test_commit_then_fail_applies_the_change(shop: ShopHandle, member: dict[str, Any], client: FlaskClient,
                                             sim: Simulator) -> None:
    add_rule(client, {"id": "ctf", "match": {"route": "rivo.points_events.create"}, "times": 1,
                      "action": {"type": "commit_then_fail", "status": 502}})
    body = {"customer_identifier": member["id"], "source": "manual", "points_amount": 7, "credits_amount": 0}
    assert_rivo_error(shop.api.post("/points_events", json=body), 502)
    assert shop.points(member["id"]) == 107  # applied although the client saw an error: a retry would double it
    assert any("the view answered 201" in n for n in sim.journal.calls("rivo.points_events.create")[-1].notes)
    assert shop.api.post("/points_events", json=body).status_code == 201
    assert shop.points(member["id"]) == 114


def test_commit_then_timeout(shop: ShopHandle, member: dict[str, Any], client: FlaskClient, sim: Simulator) -> None:
    add_rule(client, {"match": {"route": "rivo.points_events.create"},
                      "action": {"type": "commit_then_fail", "then": "timeout"}})
    body = {"customer_identifier": member["id"], "source": "manual", "points_amount": 7, "credits_amount": 0}
    assert shop.api.post("/points_events", json=body).headers["X-Rivosim-Transport"] == "hang"
    assert sim.journal.entries()[-1].status == 0
    assert shop.points(member["id"]) == 107


# -- read-after-write lag -----------------------------------------------------------------------------------------
def test_reads_show_the_state_before_a_lagged_write(shop: ShopHandle, member: dict[str, Any], client: FlaskClient,
                                                    sim: Simulator) -> None:
    add_rule(client, {"id": "lag", "match": {"route": "rivo.points_events.create"},
                      "action": {"type": "read_after_write_lag", "seconds": 120}})
    cid = member["id"]
    before = shop.customer(cid)
    events_before = shop.collection("/points_events", **{"filters[customer_identifier]": str(cid)})
    resp = shop.api.post("/points_events", json={"customer_identifier": cid, "source": "manual",
                                                  "points_amount": 500, "credits_amount": "2.50"})
    assert resp.status_code == 201 and resp.get_json()["data"]["attributes"]["points_diff"] == 500
    stale = shop.customer(cid)
    assert stale["points_tally"] == before["points_tally"] == 100
    assert stale["credits_tally"] == before["credits_tally"]
    assert stale["vip_tier"] == before["vip_tier"]  # 600 points would be Silver
    assert shop.collection("/points_events", **{"filters[customer_identifier]": str(cid)}) == events_before
    listed = next(c for c in shop.api.data("/customers") if c["id"] == cid)
    assert listed["attributes"]["points_tally"] == 100
    assert shop.state()["customers"][0]["points_tally"] == 600  # the truth, through the control API
    sim.advance(119)
    assert shop.points(cid) == 100
    sim.advance(1)
    fresh = shop.customer(cid)
    assert fresh["points_tally"] == 600 and fresh["vip_tier"]["name"] == "Silver"
    assert len(shop.collection("/points_events", **{"filters[customer_identifier]": str(cid)})) == \
        len(events_before) + 1


def test_lag_covers_redemptions_and_writes_see_the_truth(shop: ShopHandle, member: dict[str, Any],
                                                        client: FlaskClient, sim: Simulator) -> None:
    cid = member["id"]
    shop.give(cid, 1000)
    add_rule(client, {"match": {"method": "POST"}, "action": {"type": "read_after_write_lag", "seconds": 60}})
    reward = shop.reward_named("$5 off coupon")
    resp = shop.api.post("/points_redemptions", json={"customer_identifier": cid, "reward_id": reward["id"]})
    assert resp.status_code == 201
    assert shop.points(cid) == 1100
    assert shop.api.data("/points_redemptions") == []
    # A write during the window sees the real balance (600): 1100 - 500 - 500 would be refused otherwise.
    assert shop.api.post("/points_redemptions", json={"customer_identifier": cid,
                                                      "reward_id": reward["id"]}).status_code == 201
    assert shop.points(cid) == 1100  # the state before the *first* write still in its window
    sim.advance(60)
    assert shop.points(cid) == 100
    assert len(shop.api.data("/points_redemptions")) == 2


def test_a_refused_write_leaves_no_lag(shop: ShopHandle, member: dict[str, Any], client: FlaskClient) -> None:
    add_rule(client, {"match": {"route": "rivo.points_events.create"},
                      "action": {"type": "read_after_write_lag", "seconds": 60}})
    resp = shop.api.post("/points_events", json={"customer_identifier": member["id"], "source": "manual",
                                                  "points_amount": -5000, "credits_amount": 0})
    assert resp.status_code == 422
    assert shop.points(member["id"]) == 100


def test_lag_after_a_write_that_names_no_customer(shop: ShopHandle, member: dict[str, Any], client: FlaskClient,
                                                 sim: Simulator) -> None:
    # A paid order (the outside world, through the control API here; Shopify's API alike) earns points later seen.
    add_rule(client, {"match": {"api": "control", "route": "control.orders.create"},
                      "action": {"type": "read_after_write_lag", "seconds": 300}})
    shop.add_order(member["id"], price="40.00")
    assert shop.points(member["id"]) == 100
    sim.advance(300)
    assert shop.points(member["id"]) == 140


# -- the Shopify Admin API meets the same fault stage -------------------------------------------------------------
def test_shopify_requests_are_faulted_after_their_own_auth(shop: ShopHandle, client: FlaskClient,
                                                           sim: Simulator) -> None:
    token = shop.created["shopify_access_token"]
    url = "/admin/api/2025-10/shop.json"
    add_rule(client, {"id": "shopify-down", "match": {"api": "shopify", "route": "shopify.shop.get",
                                                      "shop": shop.domain},
                      "action": {"type": "error", "status": 503, "retry_after": 2}})
    assert client.get(url).status_code == 401  # no token: Shopify's auth answers first
    resp = client.get(url, headers={"X-Shopify-Access-Token": token})
    assert resp.status_code == 503 and resp.get_json() == {"errors": "Service Unavailable"}
    assert resp.headers["Retry-After"] == "2.0" and resp.headers["X-Shopify-API-Version"] == "2025-10"
    entry = sim.journal.calls("shopify.shop.get")[-1]
    assert entry.shop == shop.domain and entry.faults == ["shopify-down"] and entry.api == "shopify"


def test_a_broad_control_rule_never_locks_you_out(client: FlaskClient) -> None:
    add_rule(client, {"match": {"api": "control"}, "action": {"type": "error", "status": 500}})
    assert client.get("/_rivosim/clock").status_code == 500
    assert client.get("/_rivosim/faults").status_code == 200
    assert client.delete("/_rivosim/faults").get_json() == {"deleted": 1}
    assert client.get("/_rivosim/clock").status_code == 200
    add_rule(client, {"match": {"api": "control", "route": "control.reset"}, "action": {"type": "error",
                                                                                          "status": 503}})
    assert client.post("/_rivosim/reset").status_code == 503  # named exactly: faulted
