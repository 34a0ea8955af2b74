"""``rivosim run --against URL --jobs N``: scenarios run side by side against one server, each in its own shop
and on that shop's own clock (as every scenario runs: ``ScenarioRunner.run``), so one scenario's ``advance: P1Y``
or injected latency does not move another's time. Each worker thread has its own
:class:`~rivosim.scenarios.runner.Remote` (an HTTP session and a webhook receiving endpoint) and runs its scenarios
one after another; results come back in the order the scenarios were given, whatever order they finished in.

``--jobs 1`` runs the same way on one worker: it is the serial reference a parallel run's per-scenario results
and transcripts equal (a shop's ids, keys, random draws and clock are its own, so neither the order nor the
neighbours change them). Without ``--jobs`` the scenarios run one after another on one worker too, each shop's
clock starting at the server's time when the shop is made rather than when the run began.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import requests

from rivosim.http.control.token import control_headers
from rivosim.scenarios.loader import Scenario
from rivosim.scenarios.runner import Remote, ScenarioResult, ScenarioRunner, run_scenarios, transcript_lines

__all__ = ["reset_server", "run_parallel", "run_suite", "transcript_lines"]


def reset_server(url: str, seed: int) -> str | None:
    """``POST <url>/_rivosim/reset {"seed"}`` (against a server the seed is the server's: replaying under
    another one means resetting its world); what went wrong, or None."""
    try:
        reply = requests.post(url.rstrip("/") + "/_rivosim/reset", json={"seed": seed}, timeout=30,
                              headers=control_headers())
    except requests.RequestException as exc:
        return f"cannot reach {url}: {exc}"
    if reply.status_code != 200:
        return f"POST {url}/_rivosim/reset -> {reply.status_code}: {reply.text[:200]}"
    return None


def _virtual_start(url: str) -> str | None:
    """A virtual-clock server's now when the run starts: every scenario's shop clock starts there (unless its
    document says otherwise), so a shop's instants depend neither on the order scenarios run in nor on who moved
    the server's clock meanwhile. A wall-clock server's shops run on wall time (None)."""
    remote = Remote(url)
    try:
        reply = remote.transport.request("GET", "/_rivosim/clock")
    finally:
        remote.close()
    body = reply.json if reply.status == 200 else None
    if not isinstance(body, dict):
        raise ConnectionError(f"GET {url}/_rivosim/clock {reply.outcome()}: is it a rivosim server?")
    return str(body["now"]) if body.get("kind") == "virtual" else None


def run_parallel(scenarios: Sequence[Scenario], *, against: str, jobs: int, seed: int | None = None,
                 keep_going: bool = True, on_start: Callable[[int, Scenario], None] | None = None,
                 on_result: Callable[[int, ScenarioResult], None] | None = None,
                 runner: ScenarioRunner | None = None) -> list[ScenarioResult]:
    """Run ``scenarios`` against ``against`` on ``jobs`` worker threads, each scenario in its own shop on its own
    clock. Without ``keep_going`` no scenario starts after a failure; those not started are reported skipped."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    runner = runner or ScenarioRunner()
    clock_start = _virtual_start(against)
    results: list[ScenarioResult | None] = [None] * len(scenarios)
    lock = threading.Lock()  # guards the queue position, the stop flag and the callbacks (they print)
    state = {"next": 0, "stop": False}

    def worker() -> None:
        remote = Remote(against)
        try:
            while True:
                with lock:
                    i = state["next"]
                    if i >= len(scenarios) or state["stop"]:
                        return
                    state["next"] = i + 1
                    if on_start is not None:
                        on_start(i, scenarios[i])
                result = runner.run(scenarios[i], seed=seed, remote=remote, clock_start=clock_start)
                with lock:
                    results[i] = result
                    state["stop"] = state["stop"] or (not result.passed and not keep_going)
                    if on_result is not None:
                        on_result(i, result)
        finally:
            remote.close()

    with ThreadPoolExecutor(max_workers=min(jobs, max(1, len(scenarios))), thread_name_prefix="rivosim-run") as pool:
        for future in [pool.submit(worker) for _ in range(min(jobs, max(1, len(scenarios))))]:
            future.result()  # a worker's own crash (not a scenario failure) surfaces here
    done: list[ScenarioResult] = []
    for i, (scenario, result) in enumerate(zip(scenarios, results, strict=True)):
        if result is None:
            result = ScenarioResult(scenario, False, 0, 0.0, skipped=True)
            if on_result is not None:
                on_result(i, result)
        done.append(result)
    return done


def run_suite(scenarios: Sequence[Scenario], *, against: str | None, jobs: int | None, seed: int | None = None,
              keep_going: bool = True, on_start: Callable[[int, Scenario], None] | None = None,
              on_result: Callable[[int, ScenarioResult], None] | None = None) -> list[ScenarioResult]:
    """What ``rivosim run`` does: :func:`run_parallel` when ``jobs`` is given (against a server), else the
    serial runner as before."""
    if jobs is not None:
        if against is None:
            raise ValueError("--jobs needs --against URL: scenarios run side by side in their own shops on a "
                             "running server (in-process, each scenario already has a world of its own)")
        return run_parallel(scenarios, against=against, jobs=jobs, seed=seed, keep_going=keep_going,
                            on_start=on_start, on_result=on_result)
    return run_scenarios(scenarios, against=against, seed=seed, keep_going=keep_going, on_start=on_start,
                         on_result=on_result)
