"""The scenario library pins what the reference says, by code that does not share the product's: each test here
breaks the product in-process (a signing encoding, a payload field, the integration-sync window, a
per-integration limit) and expects the library to fail. A library that still passed would be checking the
product against itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from rivosim import Simulator
from rivosim.domain import integrations
from rivosim.scenarios.loader import Scenario, load_paths
from rivosim.scenarios.runner import run_scenario
from rivosim.transports.runner import InProcessTransport
from rivosim.webhooks import outbox as outbox_module
from rivosim.webhooks import signing
from rivosim.webhooks.schemas import check_delivery, topic_schema, topics
from rivosim.workflows.client import WorkflowClient
from rivosim.workflows.signatures import rivo_signature_problem

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"
SCENARIOS, _ = load_paths([LIBRARY])
BY_NAME = {s.name: s for s in SCENARIOS}


@pytest.fixture(scope="module")
def world() -> InProcessTransport:
    return InProcessTransport(Simulator())


def failures(world: InProcessTransport, cases: list[Scenario]) -> list[str]:
    return [case.name for case in cases if not run_scenario(case, in_process=world).passed]


@pytest.fixture(scope="module")
def topic_scenarios(world: InProcessTransport) -> dict[str, list[str]]:
    """Which library scenarios receive each Rivo topic (recorded from one clean run)."""
    seen: dict[str, list[str]] = {}
    current: list[str] = []
    original = WorkflowClient.receive

    def receive(self: WorkflowClient, body: bytes, headers: Any) -> int:
        topic = {k.lower(): v for k, v in headers.items()}.get("rivo-webhook-topic", "")
        names = seen.setdefault(topic, [])
        if current and current[0] not in names:
            names.append(current[0])
        return original(self, body, headers)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WorkflowClient, "receive", receive)
        for case in SCENARIOS:
            current[:] = [case.name]
            assert run_scenario(case, in_process=world).passed, case.name
    return seen


# -- signatures --------------------------------------------------------------------------------------------------
def test_the_library_fails_when_the_rivo_signature_encoding_changes(world: InProcessTransport,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # base64 -> hex: what the audit found passing all 36 scenarios while the workflow client used rivosim's verify.
    monkeypatch.setattr(signing, "_b64_hmac", lambda secret, message: hmac.new(
        secret.encode(), message, hashlib.sha256).hexdigest())
    broken = failures(world, SCENARIOS)
    assert len(broken) >= len(SCENARIOS) // 2, broken


def test_the_client_verifier_follows_the_documented_algorithms() -> None:
    secret, body = "s3cret", b'{"id":1}'
    documented = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    assert rivo_signature_problem(body, {"rivo-signature": documented}, secret) is None
    assert rivo_signature_problem(body, {"rivo-signature": documented.lower()}, secret) is not None
    signed = b"msg_1.1700000000." + body
    standard = "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    headers = {"rivo-webhook-id": "msg_1", "rivo-webhook-timestamp": "1700000000",
               "rivo-webhook-signature": f"v1,c3RhbGU= {standard}"}
    assert rivo_signature_problem(body, headers, secret, now=1700000100) is None
    assert "more than" in str(rivo_signature_problem(body, headers, secret, now=1700000400))
    assert rivo_signature_problem(body + b" ", headers, secret, now=1700000000) is not None
    # And rivosim's signer agrees with it (the same bytes, the same value).
    assert signing.sign_rivo(body, secret) == documented


# -- payloads ----------------------------------------------------------------------------------------------------
def _drop(topic: str, field: str) -> Any:
    original = outbox_module.Outbox.enqueue

    def enqueue(self: Any, **kw: Any) -> Any:
        if kw.get("api") == "rivo" and kw.get("topic") == topic:
            payload = orjson.loads(kw["body"])
            payload.pop(field, None)
            kw["body"] = orjson.dumps(payload)
        return original(self, **kw)

    return enqueue


def _mutations() -> Iterator[tuple[str, str]]:
    # The audit's cases, then one required field of every topic (a different one per topic).
    yield "referral/completed", "referrer_customer"
    yield "referral/completed", "referred_customer"
    for topic in topics("rivo"):
        required = [f for f in topic_schema("rivo", topic)["required"] if f != "event_type"]
        yield topic, required[len(topic) % len(required)]


@pytest.mark.parametrize(("topic", "field"), list(_mutations()), ids=lambda v: v)
def test_the_library_fails_when_a_required_payload_field_is_removed(
        topic: str, field: str, world: InProcessTransport, topic_scenarios: dict[str, list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    names = topic_scenarios.get(topic)
    if not names:
        pytest.skip(f"no library scenario receives {topic} yet")
    monkeypatch.setattr(outbox_module.Outbox, "enqueue", _drop(topic, field))
    cases = [BY_NAME[n] for n in names[:2]]
    assert failures(world, cases) == [c.name for c in cases]


def test_every_topic_the_library_receives_has_a_schema(topic_scenarios: dict[str, list[str]]) -> None:
    assert set(topic_scenarios) <= set(topics("rivo"))
    # The six triggers the audit found covered only by a "completed" check are delivered and checked.
    assert {"points_redemption/created", "marketing/email_subscribed", "marketing/sms_subscribed", "url/visited",
            "product/purchased", "receipt/uploaded"} <= set(topic_scenarios)


def test_the_schema_checker_names_what_is_wrong() -> None:
    problems = check_delivery("rivo", "points_event/created", b'{"id": 1}', {"rivo-webhook-topic": "x"})
    text = "\n".join(problems)
    assert "'content-type' is a required property" in text and "'customer' is a required property" in text
    assert "rivo-webhook-topic: 'x' is not 'points_event/created'" in text


# -- sync rules --------------------------------------------------------------------------------------------------
SYNC = "trouble-integration-sync-once-per-hour"


def test_the_sync_scenario_passes_as_is(world: InProcessTransport) -> None:
    assert failures(world, [BY_NAME[SYNC]]) == []


@pytest.mark.parametrize("change", [timedelta(seconds=1), timedelta(seconds=-1)], ids=["longer", "shorter"])
def test_the_library_fails_when_the_sync_window_moves_by_one_second(
        change: timedelta, world: InProcessTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(integrations, "MANUAL_SYNC_INTERVAL", integrations.MANUAL_SYNC_INTERVAL + change)
    assert SYNC in failures(world, SCENARIOS)


def test_the_library_fails_when_the_per_integration_limit_becomes_global(
        world: InProcessTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    original = integrations.Integrations.request_sync

    def request_sync(self: Any, name: str) -> Any:
        # One hour for the whole shop: the latest manual sync of any integration holds every other back.
        latest = max((s.last_manual_at for s in (self.state(n) for n in integrations.INTEGRATIONS)
                      if s.last_manual_at is not None), default=None)
        self.state(name).last_manual_at = latest
        return original(self, name)

    monkeypatch.setattr(integrations.Integrations, "request_sync", request_sync)
    assert SYNC in failures(world, SCENARIOS)
