"""One way to plug in: routes, gates and scenario step kinds live on the instance that ``create_app`` or the
scenario runner builds, never in module-level registries (two apps, or two runners, do not see each other's)."""

from __future__ import annotations

from typing import Any

from rivosim.engine import Simulator
from rivosim.http.app import create_app
from rivosim.http.errors import error_response
from rivosim.http.params import path_id
from rivosim.http.routing import RouteSpec
from rivosim.http.state import RequestState
from rivosim.kernel.errors import NotFound, ValidationFailed
from rivosim.scenarios.runner import ScenarioRunner


def test_the_route_table_lists_every_route_with_its_name_method_rule_and_api() -> None:
    app = create_app(Simulator(seed=1))
    routes = app.routes
    assert all(isinstance(r, RouteSpec) for r in routes)
    by_name = {(r.name, r.method): r for r in routes}
    get = by_name[("rivo.customers.get", "GET")]
    assert (get.rule, get.api, get.endpoint) == ("/merchant_api/v1/customers/<identifier>", "rivo",
                                                 "rivo.customers__get")
    shopify = by_name[("shopify.customers.list", "GET")]
    assert shopify.rule == "/admin/api/<version>/customers.json" and shopify.scope == "read_customers"
    assert shopify.aliases == ("/admin/customers.json",)
    assert by_name[("control.shops.create", "POST")].api == "control"
    # Every Flask rule is a route of the table, and names are unique per method.
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert rules == {r.rule for r in routes} | {a for r in routes for a in r.aliases}
    assert len(by_name) == len(routes)


def test_a_gate_added_to_one_app_guards_that_api_of_that_app_only() -> None:
    sim = Simulator(seed=1)
    guarded, plain = create_app(sim), create_app(sim)
    seen: list[str | None] = []

    def token_gate(state: RequestState) -> Any:
        seen.append(state.route)
        assert state.request is not None
        if state.request.headers.get("X-Token") != "sesame":
            return error_response(state.api, 401, "the control API needs X-Token")
        return None

    guarded.add_gate("control", token_gate)
    refused = guarded.test_client().get("/_rivosim/clock")
    assert refused.status_code == 401 and refused.get_json()["error"]["message"] == "the control API needs X-Token"
    assert guarded.test_client().get("/_rivosim/clock", headers={"X-Token": "sesame"}).status_code == 200
    assert plain.test_client().get("/_rivosim/clock").status_code == 200
    assert seen == ["control.clock.get", "control.clock.get"]
    # The refusal is journaled like any other answer, under the route's name.
    entry = sim.journal.calls("control.clock.get")[0]
    assert entry.status == 401


def test_one_path_id_parser_refuses_as_each_api_does() -> None:
    assert path_id("42", "reward id", "rivo") == 42
    for api, bad, error in (("rivo", "x1", ValidationFailed), ("rivo", "9" * 40, NotFound),
                            ("shopify", "x1", NotFound), ("control", "x1", ValidationFailed)):
        try:
            path_id(bad, "reward id", api)
        except error:
            continue
        raise AssertionError(f"{api} accepted {bad!r}")


def test_step_kinds_are_registered_on_the_runner_instance() -> None:
    one, other = ScenarioRunner(), ScenarioRunner()
    assert "customer_created" in one.steps and "expect" in one.steps
    one.steps["custom"] = lambda ctx, body: None
    assert "custom" not in other.steps
    assert "custom" not in ScenarioRunner().steps
