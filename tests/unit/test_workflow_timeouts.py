"""Per-call timeouts and calls that get no response: the in-process transport meets a hang, a reset or latency beyond
the timeout the way ``requests`` meets them over a socket (``rivosim.transports.inprocess``'s table), the workflow
client fails the action with "… timed out after 1 s (read timeout)", an ``http`` step can expect a timeout, a paced loop
lets queued deliveries run, and the loader checks the new fields with file:line errors."""

from __future__ import annotations

import textwrap
import time
from typing import Any

import pytest
import requests

from rivosim import Simulator
from rivosim.scenarios.loader import LoadError, load_text
from rivosim.scenarios.report import format_failure
from rivosim.scenarios.runner import run_scenario
from rivosim.transports.inprocess import mock_apis
from rivosim.transports.runner import InProcessTransport, Reply, reply_for_exception
from rivosim.workflows import InProcessReceiver, Workflow, WorkflowClient

SEED = 11
HOOKS = "http://mesa.test/hooks"
DOMAIN = "slow.myshopify.com"


def world(action: dict[str, Any] | None = None, route: str = "rivo.shop.get", *,
          clock: str = "virtual") -> tuple[Simulator, str]:
    sim = Simulator(seed=SEED, clock=clock)
    shop = sim.create_shop({"domain": DOMAIN, "plan": "plus", "customers": 2,
                            "api": {"new_customer_visibility_delay": 0},
                            "rate_limits": {"rivo": {"enabled": False}}})
    if action is not None:
        sim.faults.add({"id": "f", "match": {"route": route}, "action": action})
    return sim, shop.credentials.rivo_api_key


def over_requests(action: dict[str, Any], route: str, path: str, timeout: float) -> tuple[int, str | None, bool]:
    """What a ``requests`` client meets in-process (``mock_apis``, the reference table), as a Reply."""
    sim, key = world(action, route)
    with mock_apis(sim) as apis:
        try:
            response = requests.get(apis.rivo_url + path, headers={"Authorization": key}, timeout=timeout)
        except requests.RequestException as exc:
            reply = reply_for_exception(exc, timeout)
        else:
            reply = Reply(response.status_code, response.content)
    return reply.status, reply.error, reply.timed_out


def in_process(action: dict[str, Any], route: str, path: str, timeout: float) -> tuple[int, str | None, bool]:
    sim, key = world(action, route)
    reply = InProcessTransport(sim).request("GET", "/merchant_api/v1" + path, headers={"Authorization": key},
                                            timeout=timeout)
    return reply.status, reply.error, reply.timed_out


CASES = [
    ({"type": "latency", "ms": 1500}, (0, "timed out after 1 s (read timeout)", True)),
    ({"type": "latency", "ms": 200}, (200, None, False)),
    ({"type": "timeout"}, (0, "timed out after 1 s (read timeout)", True)),
    ({"type": "timeout", "seconds": 0.2}, (0, "failed: the server closed the connection without a response", False)),
    ({"type": "reset"}, (0, "failed: the connection was reset by the server (no response)", False)),
    ({"type": "empty_reply"}, (0, "failed: the server closed the connection without a response", False)),
    ({"type": "slow_body", "chunk_size": 8, "interval_ms": 2000},
     (0, "timed out after 1 s (read timeout while receiving the body)", True)),
    ({"type": "slow_body", "chunk_size": 4096, "interval_ms": 10}, (200, None, False)),
    ({"type": "malformed_body", "mode": "cut"}, (0, "failed: the connection closed part-way through the response body",
                                                 False)),
    ({"type": "error", "status": 503}, (503, None, False)),
]


@pytest.mark.parametrize(("action", "expected"), CASES, ids=[c[0]["type"] + str(i) for i, c in enumerate(CASES)])
def test_in_process_meets_what_requests_meets(action: dict[str, Any], expected: tuple[Any, ...]) -> None:
    got = in_process(action, "rivo.shop.get", "/shop", 1.0)
    assert got == over_requests(action, "rivo.shop.get", "/shop", 1.0)
    assert got == expected


def test_a_hang_is_not_the_placeholder_504_and_does_not_block() -> None:
    sim, key = world({"type": "timeout"})
    before = sim.now()
    started = time.perf_counter()
    reply = InProcessTransport(sim).request("GET", "/merchant_api/v1/shop", headers={"Authorization": key})
    assert time.perf_counter() - started < 10  # far from the 30 s it reports (generous: CI hosts get loaded)
    # No timeout given: the transport's default, reported at once rather than waited for.
    assert (reply.status, reply.error, reply.timed_out, reply.ok) == (0, "timed out after 30 s (read timeout)",
                                                                      True, False)
    assert reply.error_detail() == reply.error and reply.outcome() == reply.error
    assert sim.now() == before  # the client's wait is not simulator time on a virtual clock
    assert sim.journal.calls("rivo.shop.get")[-1].action == "hang"


def test_latency_moves_the_shops_virtual_clock_once_and_a_wall_clock_by_what_the_client_waited() -> None:
    sim, key = world({"type": "latency", "ms": 1500})
    before, server_before = sim.shop(DOMAIN).now(), sim.now()
    InProcessTransport(sim).request("GET", "/merchant_api/v1/shop", headers={"Authorization": key}, timeout=1)
    assert (sim.shop(DOMAIN).now() - before).total_seconds() == pytest.approx(1.5)  # the app's latency, not doubled
    assert sim.now() == server_before  # the shop's wait, not the simulator's
    wall, key = world({"type": "latency", "ms": 1500}, clock="wall")
    transport = InProcessTransport(wall)  # outside the timed window: building the app took seconds under load
    started = wall.shop(DOMAIN).now()
    transport.request("GET", "/merchant_api/v1/shop", headers={"Authorization": key}, timeout=1)
    assert 1.0 <= (wall.shop(DOMAIN).now() - started).total_seconds() < 1.5  # the client gave up after 1 s
    assert wall.shop(DOMAIN).clock.offset > 0.99 and wall.clock.offset == 0  # the shop's offset moved alone


# -- the workflow client --------------------------------------------------------------------------------------
def client_world(actions: list[dict[str, Any]], action: dict[str, Any], route: str,
                 **options: Any) -> tuple[Simulator, WorkflowClient]:
    sim, key = world(action, route)
    http = InProcessTransport(sim)
    http.clock_shop = DOMAIN  # the workflow tool's time is the shop's (latency moves that clock alone)
    client = WorkflowClient(http, HOOKS, [Workflow.from_spec({"name": "w", "trigger": "customer/joined",
                                                              "actions": actions})],
                            shop={"domain": DOMAIN}, sleep=sim.advance, **options)
    sim.use_sender(InProcessReceiver(client, http))
    assert client.connect(key)
    sim.shops[DOMAIN].shopify.create_customer(email="ann@example.com", first_name="Ann")
    for _ in range(20):
        sim.run_until_idle()
        if not client.has_work(sim.now()):
            break
        client.process_round()
    return sim, client


SLOW_LOOKUP = {"type": "latency", "ms": 1500}


def test_a_call_slower_than_the_client_timeout_fails_the_run_as_a_timeout() -> None:
    _, client = client_world([{"get_customer": {"as": "me"}}, {"send_email": {"to": "{{ me.email }}"}}],
                             SLOW_LOOKUP, "rivo.customers.get", timeout=1.0)
    (run,) = client.runs
    assert run.status == "failed" and not client.messages
    (err,) = client.errors
    assert err.where == "get_customer" and err.status is None and err.timed_out
    assert err.message.startswith("get_customer: GET /merchant_api/v1/customers/")
    assert err.message.endswith(" timed out after 1 s (read timeout)")
    (record,) = [a for a in client.actions if a.action == "get_customer"]
    assert (record.status, record.ok, record.error) == (None, False, "timed out after 1 s (read timeout)")


def test_an_actions_own_timeout_overrides_the_clients() -> None:
    _, client = client_world([{"get_customer": {"as": "me", "timeout": "PT2S"}},
                              {"send_email": {"to": "{{ me.email }}"}}], SLOW_LOOKUP, "rivo.customers.get",
                             timeout=1.0)
    assert [r.status for r in client.runs] == ["completed"] and len(client.messages) == 1
    assert not client.errors


def test_without_a_timeout_slow_calls_just_take_long() -> None:
    _, client = client_world([{"get_customer": {"as": "me"}}], SLOW_LOOKUP, "rivo.customers.get")
    (run,) = client.runs
    assert run.status == "completed" and run.latency == pytest.approx(1.5)


def test_a_batch_grant_applies_all_or_nothing_in_one_call() -> None:
    sim, client = client_world([{"grant_points_batch": {"customers": ["{{ customer.id }}", "{{ customer.email }}"],
                                                        "points": 5}}], {"type": "latency", "ms": 0},
                               "rivo.points_events.batch")
    assert [r.status for r in client.runs] == ["completed"]
    (call,) = sim.journal.calls("rivo.points_events.batch")
    assert call.status == 201
    too_many = [str(i) for i in range(11)]
    sim, client = client_world([{"grant_points_batch": {"customers": too_many, "points": 5}}],
                               {"type": "latency", "ms": 0}, "rivo.points_events.batch")
    assert client.errors[0].status == 422 and "at most 10" in client.errors[0].message


def test_a_paced_loop_lets_deliveries_that_arrived_run_while_it_waits() -> None:
    sim, key = world()
    http = InProcessTransport(sim)
    workflows = [
        Workflow.from_spec({"name": "thanks", "trigger": "Loyalty Points Earned",
                            "actions": [{"send_email": {"to": "{{ customer.email }}"}}]}),
        Workflow.from_spec({"name": "bulk", "schedule": {"every": "P1D"}, "actions": [
            {"list_customers": {"as": "everyone"}},
            {"for_each": {"items": "{{ everyone }}", "as": "c", "pace": "PT10S",
                          "actions": [{"grant_points": {"customer": "{{ c.id }}", "points": 5}}]}}]}),
    ]
    client = WorkflowClient(http, HOOKS, workflows, shop={"domain": DOMAIN}, sleep=sim.advance)
    sim.use_sender(InProcessReceiver(client, http))
    assert client.connect(key)
    sim.advance("P1D")
    client.process_round()
    bulk = next(r for r in client.runs if r.workflow == "bulk")
    thanks = [r for r in client.runs if r.workflow == "thanks"]
    assert bulk.status == "completed" and bulk.latency == pytest.approx(10)
    # The first member's thank-you ran during the pause, not after the loop: it took no time at all.
    assert len(thanks) == 1 and thanks[0].latency == 0 and thanks[0].finished_at < bulk.finished_at
    sim.run_until_idle()
    assert len(client.inbound) == 1  # the last member's arrives after the last pause: it runs after the loop


# -- scenarios: the http step, failure reports, loading -------------------------------------------------------
def scenario(text: str) -> Any:
    return load_text(textwrap.dedent(text), "t.yaml")


HTTP_STEP = """\
    name: http-timeout
    shop:
      plan: plus
      faults:
        - {match: {route: rivo.shop.get}, action: {type: latency, ms: 1500}}
    steps:
      - http: {method: GET, path: /merchant_api/v1/shop, timeout: {timeout}, expect: {expect}}
    """


def run_http_step(timeout: str, expect: str) -> Any:
    return run_scenario(scenario(HTTP_STEP.replace("{timeout}", timeout).replace("{expect}", expect)))


def test_an_http_step_can_expect_a_timeout() -> None:
    result = run_http_step("PT1S", "{timed_out: true}")
    assert result.passed, format_failure(result)
    (request,) = [t for t in result.transcript if t["kind"] == "request" and t["path"].endswith("/shop")]
    assert request["status"] == 0 and request["error"] == "timed out after 1 s (read timeout)"


def test_an_http_step_that_answers_in_time_fails_a_timeout_expectation() -> None:
    result = run_http_step("2", "{timed_out: true}")
    assert not result.passed and result.failure is not None
    assert result.failure.message == "GET /merchant_api/v1/shop answered 200 within its timeout"


def test_a_timeout_the_step_did_not_expect_is_reported_plainly() -> None:
    result = run_http_step("PT1S", "{status: 200}")
    assert not result.passed
    text = format_failure(result)
    assert "t.yaml:7: steps[0] http" in text
    assert "GET /merchant_api/v1/shop timed out after 1 s (read timeout): no response" in text
    assert "rivo.shop.get  (fault: latency 1500.0 ms" in text  # the journal excerpt shows why


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("name: x\nworkflow_client:\n  timeout: PT1X\nsteps:\n  - advance: P1D\n", 3,
     "workflow_client.timeout: 'PT1X' is not an ISO-8601 duration"),
    ("name: x\nworkflows:\n  - name: w\n    trigger: customer/joined\n    actions:\n"
     "      - get_customer: {timeout: PT2X}\nsteps:\n  - advance: P1D\n", 6,
     "workflows[0].actions[0].get_customer.timeout"),
    ("name: x\nsteps:\n  - http: {method: GET, path: /x, timeout: 2 s}\n", 3, "steps[0].http.timeout"),
    ("name: x\nsteps:\n  - http: {method: GET, path: /x, timeout: 0}\n", 3,
     "steps[0].http.timeout: a timeout is a duration of more than 0 seconds"),
    ("name: x\nsteps:\n  - expect:\n      workflow_latency:\n        - {workflow: nope, max: PT1S}\n", 5,
     "no workflow named 'nope'"),
    ("name: x\nworkflows:\n  - name: w\n    trigger: customer/joined\n    actions:\n      - delay: P1D\n"
     "steps:\n  - expect:\n      workflow_latency:\n        - {workflow: w, max: 1 s}\n", 10,
     "workflow_latency[0].max"),
    ("name: x\nsteps:\n  - fault:\n      action:\n        type: latency\n        ms: 5\n"
     "        load: {window: PT1S, per_request_ms: 5, brust: 3}\n", 7,
     "steps[0].fault.action.load.brust: is not a load field"),
    ("name: x\nsteps:\n  - fault: {action: {type: latency, ms: -1}}\n", 3, "steps[0].fault.action.ms: must be"),
])
def test_new_fields_are_checked_with_file_and_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(LoadError) as info:
        scenario(text)
    assert info.value.line == line, str(info.value)
    assert needle in str(info.value), str(info.value)
