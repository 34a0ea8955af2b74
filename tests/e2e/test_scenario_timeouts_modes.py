"""The timeout and high-traffic scenarios in both modes: in-process (virtual clock, nothing waits) and against a
real wall-clock server over sockets (the server really waits out injected latency, the workflow client really
gives up after its timeout). The same scenario must pass in both and leave the same runs, client errors,
messages, step outcomes and Rivo API calls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rivosim import Simulator, create_app
from rivosim.scenarios.loader import load_scenario
from rivosim.scenarios.report import format_failure
from rivosim.scenarios.runner import ScenarioResult, run_scenario
from rivosim.transports.runner import InProcessTransport
from rivosim.transports.server import Server

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=1, clock="wall")
    with Server(create_app(sim), tick=sim.tick) as running:  # a free 127.0.0.1 port
        yield sim, running.url
    assert not sim.bugs


def _plain(text: Any, domain: str) -> Any:
    """Ids, the shop's domain and instants differ between modes; what happened does not."""
    if not isinstance(text, str):
        return text
    return re.sub(r"\d{6,}", "<id>", text.replace(domain, "<shop>"))


def summary(result: ScenarioResult, domain: str) -> dict[str, Any]:
    runs: dict[int, tuple[str, str, str]] = {}
    errors, messages, steps = [], [], []
    for item in result.transcript:
        kind = item["kind"]
        if kind == "run":
            runs[item["id"]] = (item["workflow"], item["status"], item["trigger"])
        elif kind == "client_error":
            errors.append((item["where"], item["workflow"], item["status"], item["timed_out"],
                           _plain(item["message"], domain)))
        elif kind == "action" and item["action"].startswith("send_"):
            messages.append((item["workflow"], item["action"], sorted(item["fields"].items())))
        elif kind == "request" and not item["path"].startswith("/_rivosim/shops/" + domain + "/customers/"):
            steps.append((item["method"], _plain(item["path"], domain), item["status"], item.get("error")))
    return {"runs": [runs[k] for k in sorted(runs)], "errors": errors, "messages": messages, "steps": steps}


def rivo_calls(sim: Simulator, domain: str) -> list[tuple[Any, ...]]:
    # Against a server the runner unsubscribes the workflow tool at the end (the shop stays for inspection).
    return [(e.route, e.status, e.action) for e in sim.journal.entries()
            if e.api == "rivo" and e.shop == domain and e.route != "rivo.webhooks.delete"]


def both_modes(name: str, server: tuple[Simulator, str]) -> tuple[dict[str, Any], dict[str, Any], list[Any],
                                                                    list[Any]]:
    """Run the library scenario ``name`` in-process and against the server; both must pass. Returns the two
    summaries and the two modes' Rivo API calls."""
    scenario = load_scenario(LIBRARY / f"{name}.yaml")
    local = Simulator()
    here = run_scenario(scenario, in_process=InProcessTransport(local))
    assert here.passed, format_failure(here)
    served, url = server
    there = run_scenario(scenario, against=url)
    assert there.passed, format_failure(there)
    domain_here = scenario.domain
    domain_there = next(d for d in served.shops if d.startswith(name))  # a fresh server: the one shop so named
    return (summary(here, domain_here), summary(there, domain_there), rivo_calls(local, domain_here),
            rivo_calls(served, domain_there))


def test_the_timeout_scenario_fails_and_recovers_alike_in_both_modes(server: tuple[Simulator, str]) -> None:
    here, there, calls_here, calls_there = both_modes("trouble-timeout-errors", server)
    assert here == there
    assert calls_here == calls_there
    # What both modes saw: the batch step timed out although the batch was applied; the re-run too.
    assert here["errors"] == [("grant_points_batch", "monthly-gift", None, True,
                               "grant_points_batch: POST /merchant_api/v1/points_events/batch timed out after 1 s "
                               "(read timeout)")]
    assert ("POST", "/merchant_api/v1/points_events/batch", 0, "timed out after 1 s (read timeout)") in here["steps"]
    batches = [c for c in calls_here if c[0] == "rivo.points_events.batch"]
    assert batches == [("rivo.points_events.batch", 201, None)] * 2
    assert [r[1] for r in here["runs"]] == ["failed", "completed"]


def test_the_high_traffic_scenario_slows_and_recovers_alike_in_both_modes(server: tuple[Simulator, str]) -> None:
    here, there, calls_here, calls_there = both_modes("trouble-slow-workflow-high-traffic", server)
    assert here == there
    # Latencies depend on how many calls fall in the load window (simulator time): compare what was called.
    assert [c[:2] for c in calls_here] == [c[:2] for c in calls_there]
    assert not here["errors"]
    assert len([r for r in here["runs"] if r[0] == "points-thanks"]) == 13
