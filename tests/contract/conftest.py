"""Fixtures for the HTTP contract tests: a fresh ``Simulator`` and Flask test client per test, shops made
through the control API, helpers that read state back through the APIs, and a guard that fails any test
whose requests hit a simulator bug (an unexpected exception answered as 500 with ``X-Rivosim-Bug: 1``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, got_request_exception
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from rivosim import Simulator, create_app
from rivosim.http.openapi.conformance import check_response

BASE = "/merchant_api/v1"
SEED = 20260101
# The virtual clock never moves on its own, so a rate limiter would see every request at one instant;
# contract tests are about shapes and semantics, not throttling.
NO_RATE_LIMIT: dict[str, Any] = {"rate_limits": {"rivo": {"enabled": False}}}
CREDITS_RE = re.compile(r"^-?\d+\.\d{1,2}$")
ISO_MS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# -- the simulator-bug guard ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def no_simulator_bugs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail the test if a Simulator recorded a bug (a 500) during it: the shared one or any the test made.
    Bugs are collected through ``record_bug`` so a ``reset`` (which clears ``sim.bugs``) cannot hide one.
    Tests marked ``xfail`` document a known domain bug that may itself be a 500, so they are not checked."""
    recorded: list[str] = []
    sims: list[Simulator] = []
    original_init = Simulator.__init__
    original_record = Simulator.record_bug

    def init(self: Simulator, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        sims.append(self)

    def record(self: Simulator, exc: BaseException, where: str) -> None:
        recorded.append(f"{where}: {type(exc).__name__}: {exc}")
        original_record(self, exc, where)

    def unhandled(sender: Any, exception: BaseException, **extra: Any) -> None:
        # An exception that escaped the app's own handlers (Flask's bare 500): never acceptable either.
        recorded.append(f"unhandled by the app: {type(exception).__name__}: {exception}")

    monkeypatch.setattr(Simulator, "__init__", init)
    monkeypatch.setattr(Simulator, "record_bug", record)
    got_request_exception.connect(unhandled)
    try:
        yield recorded
    finally:
        got_request_exception.disconnect(unhandled)
    if request.node.get_closest_marker("xfail") is not None:
        return
    leftover = [f"{b['where']}: {b['error']}" for s in sims for b in s.bugs]
    if recorded or leftover:
        pytest.fail("simulator bug(s) (500 with X-Rivosim-Bug) during the test:\n  "
                    + "\n  ".join(dict.fromkeys(recorded + leftover)), pytrace=False)


# -- API helpers ---------------------------------------------------------------------------------------------
class Verbs:
    """``get``/``post``/``put``/``delete`` over a client's own ``request`` (its base path and credentials)."""

    def request(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        raise NotImplementedError

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)


class RivoApi(Verbs):
    """The Rivo merchant API under ``/merchant_api/v1`` with a raw key in ``Authorization``."""

    def __init__(self, client: FlaskClient, key: str | None) -> None:
        self.client = client
        self.key = key

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                **kwargs: Any) -> TestResponse:
        all_headers = {} if self.key is None else {"Authorization": self.key}
        all_headers.update(headers or {})
        return self.client.open(BASE + path, method=method, headers=all_headers, **kwargs)

    def data(self, path: str, status: int = 200, **kwargs: Any) -> Any:
        """GET ``path`` and return ``data`` after checking the status."""
        resp = self.get(path, **kwargs)
        assert resp.status_code == status, resp.get_json()
        return resp.get_json()["data"]


class ShopHandle:
    """A shop made through the control API, with helpers that act on it and read it back."""

    def __init__(self, client: FlaskClient, created: dict[str, Any]) -> None:
        self.client = client
        self.created = created
        self.domain: str = created["domain"]
        self.key: str = created["rivo_api_key"]
        self.api = RivoApi(client, self.key)

    # control API
    def control(self, method: str, path: str = "", **kwargs: Any) -> TestResponse:
        return self.client.open(f"/_rivosim/shops/{self.domain}{path}", method=method, **kwargs)

    def add_customer(self, visible: bool = True, **fields: Any) -> dict[str, Any]:
        """A Shopify sign-up; visible to the Rivo API at once unless ``visible=False``."""
        if visible:
            fields.setdefault("visibility_delay", 0)
        resp = self.control("POST", "/customers", json=fields)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()  # type: ignore[no-any-return]

    def add_order(self, customer_id: int | None, price: str = "40.00", quantity: int = 1, paid: bool = True,
                  **fields: Any) -> dict[str, Any]:
        body = {"customer_id": customer_id, "paid": paid,
                "line_items": [{"title": "Hoodie", "price": price, "quantity": quantity, "product_id": 1001}],
                **fields}
        resp = self.control("POST", "/orders", json=body)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()  # type: ignore[no-any-return]

    def patch(self, doc: dict[str, Any]) -> dict[str, Any]:
        resp = self.control("PATCH", json=doc)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        resp = self.client.get("/_rivosim/state", query_string={"shop": self.domain})
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()  # type: ignore[no-any-return]

    # Rivo API reads
    def customer(self, identifier: int | str) -> dict[str, Any]:
        return self.api.data(f"/customers/{quote(str(identifier), safe='')}")["attributes"]  # type: ignore[no-any-return]

    def points(self, identifier: int | str) -> int:
        return self.customer(identifier)["points_tally"]  # type: ignore[no-any-return]

    def collection(self, path: str, **query: str) -> list[dict[str, Any]]:
        """Every item of a collection (cursor mode, walked to the end)."""
        out: list[dict[str, Any]] = []
        since = 0
        while True:
            resp = self.api.get(path, query_string={**query, "pagination[since_id]": str(since),
                                                    "pagination[limit]": "250"})
            assert resp.status_code == 200, resp.get_json()
            body = resp.get_json()
            out.extend(body["data"])
            since = body["links"]["next_since_id"]
            if since is None:
                return out

    def give(self, identifier: int | str, points: int, credits: str = "0") -> dict[str, Any]:
        """A manual points (and credits) adjustment; returns the points_event attributes."""
        resp = self.api.post("/points_events", json={"customer_identifier": identifier, "source": "manual",
                                                      "points_amount": points, "credits_amount": credits})
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()["data"]["attributes"]  # type: ignore[no-any-return]

    def rewards(self) -> list[dict[str, Any]]:
        return [r["attributes"] for r in self.api.data("/rewards")]

    def reward_named(self, name: str) -> dict[str, Any]:
        return next(r for r in self.rewards() if r["name"] == name)

    def tiers(self) -> list[dict[str, Any]]:
        return [t["attributes"] for t in self.api.data("/vip_tiers")]


# -- assertions ------------------------------------------------------------------------------------------------
def assert_rivo_error(resp: TestResponse, status: int, *, parameter: str | None = None, code: str | None = None,
                      detail_contains: str | None = None) -> dict[str, Any]:
    """Rivo's error shape: ``{"errors": [{"status", "title", "detail", ...}], "error": detail}`` as JSON."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    assert resp.mimetype == "application/json"
    assert "X-Rivosim-Bug" not in resp.headers
    body = resp.get_json()
    assert isinstance(body["errors"], list) and len(body["errors"]) == 1
    err = body["errors"][0]
    assert err["status"] == str(status)
    assert isinstance(err["title"], str) and err["title"]
    assert isinstance(err["detail"], str) and err["detail"]
    assert body["error"] == err["detail"]
    if parameter is not None:
        assert err.get("source", {}).get("parameter") == parameter, err
    if code is not None:
        assert err.get("code") == code, err
    if detail_contains is not None:
        assert detail_contains.lower() in err["detail"].lower(), err["detail"]
    return err  # type: ignore[no-any-return]


def assert_control_error(resp: TestResponse, status: int, *, code: str | None = None,
                         field: str | None = None) -> dict[str, Any]:
    """The control API's error shape: ``{"error": {"code", "message", ...}}``."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    assert resp.mimetype == "application/json"
    assert "X-Rivosim-Bug" not in resp.headers
    body = resp.get_json()
    assert set(body) == {"error"}
    err = body["error"]
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    if field is not None:
        assert err.get("field") == field, err
    return err  # type: ignore[no-any-return]


@contextmanager
def unchanged(shop: ShopHandle) -> Iterator[None]:
    """Assert the shop's whole state (customers, ledger, redemptions, referrals, webhooks, rewards, tiers,
    orders, configuration) is the same after the block: a refused request must change nothing."""
    before = shop.state()
    yield
    after = shop.state()
    for key in before:
        assert after[key] == before[key], f"state changed: {key}"


# -- the response-validation hook --------------------------------------------------------------------------
class ConformingClient(FlaskClient):
    """A test client that checks every response against the OpenAPI document of its API (the route's
    documented statuses, content type, headers and body schema), so the whole suite is a conformance check."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:  # type: ignore[override]
        response = super().open(*args, **kwargs)
        check_response(self.application, response)
        return response


# -- fixtures --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def _shared_world() -> tuple[Simulator, Flask]:
    # Building the Flask app compiles every route (~30 ms); one app per session, and a fresh world per test
    # through ``Simulator.reset`` (clock, ids, shops, journal and bugs all start over).
    sim = Simulator(seed=SEED)
    app = create_app(sim)
    app.test_client_class = ConformingClient
    return sim, app


@pytest.fixture
def sim(_shared_world: tuple[Simulator, Flask]) -> Simulator:
    """A fresh world: the session's simulator, reset to ``SEED``."""
    shared, _ = _shared_world
    shared.reset(SEED)
    return shared


@pytest.fixture
def client(_shared_world: tuple[Simulator, Flask], sim: Simulator) -> FlaskClient:
    return _shared_world[1].test_client()


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture
def make_shop(client: FlaskClient) -> Callable[..., ShopHandle]:
    """``make_shop(doc)``: a shop from a configuration document (rate limits off unless the doc says)."""

    def make(doc: dict[str, Any] | None = None, **fields: Any) -> ShopHandle:
        body = _merge(NO_RATE_LIMIT, {**(doc or {}), **fields})
        resp = client.post("/_rivosim/shops", json=body)
        assert resp.status_code == 201, resp.get_json()
        return ShopHandle(client, resp.get_json())

    return make


@pytest.fixture
def shop(make_shop: Callable[..., ShopHandle]) -> ShopHandle:
    """A Scale-plan shop with the default program and no customers."""
    return make_shop()


@pytest.fixture
def member(shop: ShopHandle) -> dict[str, Any]:
    """A visible program member (100 sign-up points), as the control API returns it."""
    return shop.add_customer(email="Ada.Lovelace@example.com", first_name="Ada", last_name="Lovelace")
