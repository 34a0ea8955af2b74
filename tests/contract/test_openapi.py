"""The OpenAPI documents: generated from the code and committed, valid for two independent parsers, covering
every route both ways, served by the app, and strict enough that a wire shape losing a field fails the suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from rivosim import Simulator, create_app
from rivosim.cli import main as cli_main
from rivosim.http.openapi import APIS, document, document_text, graphql_sdl
from rivosim.http.openapi.conformance import check_response
from rivosim.http.openapi.routes import app_routes
from rivosim.http.openapi.validate import ResponseMismatch
from rivosim.wire import rivo as rivo_wire
from tests.contract.conftest import ShopHandle

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"


@pytest.fixture(scope="module")
def app() -> Flask:
    return create_app(Simulator(seed=1))


@pytest.mark.parametrize("api", APIS)
def test_the_committed_document_is_what_the_code_generates(app: Flask, api: str) -> None:
    committed = (DOCS / f"{api}.json").read_text("utf-8")
    assert committed == document_text(app, api), f"docs/openapi/{api}.json is stale: run `make openapi`"


def test_the_committed_graphql_sdl_is_the_schema_the_endpoint_executes() -> None:
    assert (DOCS / "shopify.graphql").read_text("utf-8") == graphql_sdl(), "stale: run `make openapi`"


@pytest.mark.parametrize("api", APIS)
def test_each_document_passes_openapi_spec_validator(app: Flask, api: str) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    spec, _ = read_from_filename(str(DOCS / f"{api}.json"))  # the file a user imports, read as they would
    validate(spec)  # (the committed file equals the generated one: see above)


def test_a_second_parser_loads_them_and_validates_a_real_response(app: Flask, client: FlaskClient,
                                                                  shop: ShopHandle) -> None:
    """openapi-core reads each document with its own parser (its openapi-spec-validator pass is switched off:
    that check has its own test), finds the operation of a real request by its path and validates the response
    through its own schema machinery."""
    from openapi_core import Config, OpenAPI
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

    shop.add_customer(email="ada@example.com")
    specs = {api: OpenAPI.from_dict(json.loads((DOCS / f"{api}.json").read_text("utf-8")),
                                    config=Config(spec_validator_cls=None)) for api in APIS}
    assert specs["rivo"] and specs["shopify"] and specs["control"]
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path="/merchant_api/v1/customers", base_url="http://127.0.0.1:8282",
                             headers={"Authorization": shop.key})
    request = builder.get_request()
    response = shop.api.get("/customers")
    assert response.status_code == 200
    specs["rivo"].validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
    builder = EnvironBuilder(path=f"/_rivosim/shops/{shop.domain}", base_url="http://127.0.0.1:8282")
    response = shop.control("GET")
    specs["control"].validate_response(WerkzeugOpenAPIRequest(builder.get_request()),
                                       WerkzeugOpenAPIResponse(response))


def test_every_route_is_documented_and_every_documented_operation_exists(app: Flask) -> None:
    served = {(r.api, r.method.lower(), r.path): r.name for r in app_routes(app)}
    documented: dict[tuple[str, str, str], str] = {}
    for api in APIS:
        for path, item in document(app, api)["paths"].items():
            for method, op in item.items():
                documented[(api, method, path)] = op["operationId"]
    assert served == documented
    # Every operation has a declared response schema for success (no open placeholder left).
    for api in APIS:
        text = document_text(app, api)
        assert "x-rivosim-undeclared" not in text, f"{api}: a route without a declared response shape"
    # Every route name of the app is an operationId (the Shopify version-less aliases share their route's).
    assert {spec.name for spec in app.routes} == set(documented.values())  # type: ignore[attr-defined]


def test_the_documents_name_every_request_field_of_rewards_and_redemptions(app: Flask) -> None:
    paths = document(app, "rivo")["paths"]
    reward = paths["/merchant_api/v1/rewards"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert reward["required"] == ["name"]
    assert {"points_amount", "reward_type", "reward_value", "source", "points_type"} <= set(reward["properties"])
    redeem = paths["/merchant_api/v1/points_redemptions"]["post"]["requestBody"]["content"]
    assert set(redeem) == {"application/json", "application/x-www-form-urlencoded"}
    assert redeem["application/json"]["schema"]["required"] == ["customer_identifier", "reward_id"]
    listing = paths["/merchant_api/v1/customers"]["get"]["parameters"]
    names = {document(app, "rivo")["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]["name"] for p in listing}
    assert {"pagination[page]", "pagination[since_id]", "sort[order_type]"} <= names


def test_security_schemes_and_headers(app: Flask) -> None:
    rivo, shopify, control = (document(app, api) for api in APIS)
    assert rivo["components"]["securitySchemes"]["RivoApiKey"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "the raw API key, no `Bearer ` prefix"}
    assert shopify["components"]["securitySchemes"]["ShopifyAccessToken"]["name"] == "X-Shopify-Access-Token"
    assert control["components"]["securitySchemes"]["ControlToken"]["scheme"] == "bearer"
    assert "Retry-After" in rivo["components"]["responses"]["Error429"]["headers"]
    orders = shopify["paths"]["/admin/api/{version}/orders.json"]["get"]["responses"]["200"]["headers"]
    assert {"Link", "X-Shopify-Shop-Api-Call-Limit"} <= set(orders)
    assert "points_event/created" in rivo["webhooks"] and "orders/create" in shopify["webhooks"]


def test_the_app_serves_the_documents_and_the_sdl(client: FlaskClient) -> None:
    for api in APIS:
        resp = client.get(f"/_rivosim/openapi/{api}.json")
        assert resp.status_code == 200 and resp.mimetype == "application/json"
        assert resp.get_data(as_text=True) == (DOCS / f"{api}.json").read_text("utf-8")
    sdl = client.get("/_rivosim/openapi/shopify.graphql")
    assert sdl.status_code == 200 and sdl.mimetype == "text/plain"
    assert "type QueryRoot" in sdl.get_data(as_text=True) or "type Query" in sdl.get_data(as_text=True)
    missing = client.get("/_rivosim/openapi/nope.json")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"]


def test_the_cli_prints_a_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["openapi", "rivo"]) == 0
    assert capsys.readouterr().out == (DOCS / "rivo.json").read_text("utf-8")


def _drop(field: str, shape: Any) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> dict[str, Any]:
        out = shape(*args, **kwargs)
        out.pop(field)
        return out  # type: ignore[no-any-return]

    return wrapped


def test_a_wire_shape_losing_a_field_fails_the_conformance_check(shop: ShopHandle, monkeypatch: pytest.MonkeyPatch,
                                                                 client: FlaskClient) -> None:
    """What the suite catches: ``wire.reward`` without ``points_amount`` (its schema unchanged) is a mismatch on
    the first response that carries a reward — and so is a field the schema does not know."""
    from rivosim.http.openapi.conformance import RECORD_ENV

    monkeypatch.delenv(RECORD_ENV, raising=False)  # check, even while `make openapi-shapes` records
    app = client.application
    resp = shop.api.get("/rewards")
    check_response(app, resp)  # as the code stands: conforming
    monkeypatch.setattr(rivo_wire, "reward", _drop("points_amount", rivo_wire.reward))
    with pytest.raises(ResponseMismatch, match="points_amount"):
        check_response(app, FlaskClient.open(client, "/merchant_api/v1/rewards", headers={"Authorization": shop.key}))
    monkeypatch.setattr(rivo_wire, "reward", lambda *a, **k: {**_original_reward(*a, **k), "surprise": 1})
    with pytest.raises(ResponseMismatch, match="surprise"):
        check_response(app, FlaskClient.open(client, "/merchant_api/v1/rewards", headers={"Authorization": shop.key}))


_original_reward = rivo_wire.reward


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_request_tables_are_generated_from_the_documents(app: Flask) -> None:
    from rivosim.http.openapi.readme import readme_with_tables

    text = README.read_text("utf-8")
    assert text == readme_with_tables(app, text), "README.md's request tables are stale: run `make openapi`"
    for api in APIS:
        assert f"<!-- openapi:{api} -->" in text and f"docs/openapi/{api}.json" in text
    assert "`rivo.rewards.create` | `POST /rewards` | body: `name`* string" in text
    assert "`rivo.points_redemptions.create` | `POST /points_redemptions` | body: `customer_identifier`*" in text


def test_the_readme_route_tables_name_only_real_routes_and_every_rivo_route(app: Flask) -> None:
    """The hand-written tables of the API sections, checked against the route table: every name they give
    (``rivo.rewards.list/create`` is two, ``shopify.transactions.*`` a family) is a documented operation."""
    text = README.read_text("utf-8").split("## OpenAPI documents")[0]
    operations = {r.name for r in app_routes(app)}
    named: set[str] = set()
    for cell in __import__("re").findall(r"^\| `((?:rivo|shopify)\.[^`]+)` \|", text, flags=__import__("re").M):
        for alternative in cell.split("`, `"):
            head, _, tails = alternative.rpartition(".")
            for tail in tails.split("/"):
                name = f"{head}.{tail}"
                if name.endswith(".*") or "{" in name:
                    family = name.split("{")[0].rstrip(".*")
                    assert any(op.startswith(family) for op in operations), name
                    named |= {op for op in operations if op.startswith(family.rstrip("."))}
                else:
                    assert name in operations, f"README names {name}, which is not a route"
                    named.add(name)
    assert {op for op in operations if op.startswith("rivo.")} <= named
