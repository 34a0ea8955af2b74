"""Helpers for the Shopify Admin API contract tests: a client that sends ``X-Shopify-Access-Token`` to
``/admin/api/<version>/…``, a shop with its Admin client, a recording webhook sender, and assertions on Shopify's
error bodies. The fixtures live in ``shopify_fixtures.py`` (loaded with ``pytest_plugins``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from rivosim.webhooks.schemas import check_delivery
from rivosim.webhooks.senders import AttemptResult, Done, OutgoingRequest

from .conftest import ShopHandle, Verbs

VERSION = "2025-10"  # supported on the default clock (2026-01-01T00:00Z: 2026-01 is still the release candidate)
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
OFFSET_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
NO_SHOPIFY_LIMIT: dict[str, Any] = {"rate_limits": {"shopify_rest": {"enabled": False},
                                                    "shopify_graphql": {"enabled": False}}}


class AdminApi(Verbs):
    def __init__(self, client: FlaskClient, token: str | None, version: str = VERSION) -> None:
        self.client = client
        self.token = token
        self.version = version

    def url(self, path: str) -> str:
        return path if path.startswith("http") or path.startswith("/admin") else \
            f"/admin/api/{self.version}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
                ) -> TestResponse:
        sent = {} if self.token is None else {"X-Shopify-Access-Token": self.token}
        sent.update(headers or {})
        return self.client.open(self.url(path), method=method, headers=sent, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
        return resp.get_json()

    def graphql(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        resp = self.post("graphql.json", json={"query": query, "variables": variables or {}}, **kwargs)
        assert resp.status_code == 200, (resp.status_code, resp.get_data(as_text=True))
        body = resp.get_json()
        assert "throttleStatus" in body["extensions"]["cost"], body
        return body

    def create_customer(self, **fields: Any) -> dict[str, Any]:
        return self.ok("POST", "customers.json", 201, json={"customer": fields})["customer"]  # type: ignore[no-any-return]

    def create_order(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("line_items", [{"title": "Hoodie", "price": "40.00", "quantity": 1}])
        return self.ok("POST", "orders.json", 201, json={"order": fields})["order"]  # type: ignore[no-any-return]


@dataclass
class ShopifyShop:
    handle: ShopHandle
    admin: AdminApi
    created: dict[str, Any] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return self.handle.domain


def assert_shopify_error(resp: TestResponse, status: int, errors: Any = None) -> Any:
    """Shopify's shape: a JSON object with only ``errors`` (a string, a ``{field: …}`` object or a list)."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True))
    assert resp.mimetype == "application/json"
    assert "X-Rivosim-Bug" not in resp.headers
    body = resp.get_json()
    assert set(body) == {"errors"}, body
    if errors is not None:
        assert body["errors"] == errors, body
    return body["errors"]


class RecordingSender:
    """A webhook receiver in memory: answers each attempt with the next status of ``statuses`` (the last one
    repeats) and keeps every request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.requests: list[OutgoingRequest] = []

    def send(self, request: OutgoingRequest, done: Done) -> None:
        self.requests.append(request)
        topic = request.headers.get("X-Shopify-Topic")
        if topic is not None:  # every Shopify delivery is checked against its topic's JSON Schema
            fields = _include_fields(request.body)
            problems = check_delivery("shopify", topic, request.body, request.headers, include_fields=fields)
            assert not problems, (topic, problems)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        done(AttemptResult(status, None, 1.0))

    def close(self) -> None:
        pass

    def for_topic(self, topic: str) -> list[OutgoingRequest]:
        return [r for r in self.requests if r.headers.get("X-Shopify-Topic") == topic]


def _include_fields(body: bytes) -> list[str] | None:
    """A subscription with ``fields`` trims the payload: only the fields it kept are promised."""
    payload = json.loads(body) if body else {}
    return list(payload) if isinstance(payload, dict) and len(payload) < 8 else None
