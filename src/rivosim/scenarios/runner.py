"""Running scenarios: in-process (a fresh ``Simulator`` per scenario, driven through ``create_app(sim)``'s test
client on the virtual clock, so nothing sleeps) or against a running server over HTTP (a fresh shop per
scenario through the control API). Both modes send the same requests; the workflow client receives its
deliveries in-process from a ``Sender`` or over HTTP from a small receiving server.

This module sets a scenario up, runs its steps, turns what went wrong into a ``Failure`` (with the journal
around it) and runs many scenarios in a row. What the steps see while it runs, and how the runner settles after
each one, is ``context.RunContext``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rivosim.engine import Simulator
from rivosim.kernel.clock import parse_duration
from rivosim.scenarios.context import MAX_ROUNDS as MAX_ROUNDS
from rivosim.scenarios.context import RunContext, StepFailure, check_response, journal_entries
from rivosim.scenarios.loader import Scenario
from rivosim.transports.runner import HttpTransport, InProcessTransport, Transport
from rivosim.workflows import HttpReceiver, InProcessReceiver, Workflow, WorkflowClient

# RunContext, StepFailure, check_response, journal_entries and MAX_ROUNDS live in ``context`` now (steps and
# expectations import them from there); they stay importable from here, where callers knew them.
__all__ = ["Failure", "RunContext", "ScenarioResult", "ScenarioRunner", "StepFailure", "StepHandler", "run_scenario",
           "run_scenarios"]

StepHandler = Callable[[RunContext, Any], None]
"""What one step kind does with a step's body; raises ``StepFailure`` when the step fails."""

IN_PROCESS_HOOKS = "http://mesa.rivosim.test/hooks"


@dataclass(slots=True)
class Failure:
    file: str
    line: int
    step: str  # "steps[3] advance: P30D" or "setup" / "after the last step"
    message: str
    expected: Any = None
    actual: Any = None
    journal: list[str] = field(default_factory=list)
    shop: str | None = None


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    passed: bool
    steps_run: int
    seconds: float
    failure: Failure | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)
    skipped: bool = False

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else ("passed" if self.passed else "FAILED")


# -- one scenario -------------------------------------------------------------------------------------------------
def _setup(ctx: RunContext, clock_start: str | None = None) -> None:
    scenario = ctx.scenario
    doc = {**scenario.shop, "domain": ctx.domain}
    if clock_start is not None and "clock" not in doc:
        doc["clock"] = {"start": clock_start}
    reply = ctx.transport.request("POST", "/_rivosim/shops", json=doc)
    ctx.record("request", {"method": "POST", "path": "/_rivosim/shops", "params": None, "body": doc,
                           "status": reply.status, "response": reply.json})
    check_response(reply, None, "creating the shop (POST /_rivosim/shops)")
    ctx.values["shop"] = dict(reply.json)
    created = ctx.transport.request("GET", "/_rivosim/journal", params={"shop": ctx.domain,
                                                                       "route": "control.shops.create"}).json
    ctx.journal_since = created["entries"][-1]["seq"] - 1 if created and created.get("entries") else 0
    for name, fields in scenario.customers.items():
        body = {"visibility_delay": 0, **ctx.render(fields)}
        ctx.values["customers"][name] = ctx.control("POST", f"/shops/{ctx.domain}/customers", json=body)
    if scenario.workflows:
        options = scenario.workflow_client
        workflows = [Workflow.from_spec(spec, line) for spec, line in
                     zip(scenario.workflows, scenario.workflow_lines, strict=True)]
        timeout = options.get("timeout")
        domain = ctx.render(options["shop_domain"]) if "shop_domain" in options else None
        client = WorkflowClient(ctx.transport, ctx.hooks_url, workflows, shop={"domain": ctx.domain},
                                shop_domain=domain,
                                dedupe=options.get("dedupe", True),
                                verify_signatures=options.get("verify_signatures", True),
                                loop_limit=options.get("loop_limit", 1),
                                honour_retry_after=options.get("honour_retry_after", True), sleep=ctx.sleep,
                                timeout=None if timeout is None else parse_duration(ctx.render(timeout)).seconds)
        client.on_event = ctx.record
        ctx.client = client
        # The workflow tool's webhook endpoint: handed deliveries directly in-process, or a real HTTP server.
        if isinstance(ctx.transport, InProcessTransport):
            ctx.transport.sim.use_sender(InProcessReceiver(client, ctx.transport))
        elif ctx.receiver is not None:
            ctx.receiver.client = client
        if options.get("connect", True):
            client.connect(str(ctx.render(options.get("api_key", "{{ shop.rivo_api_key }}"))))
    for step in scenario.steps:
        if step.kind == "expect":
            for loop in step.body.get("loops") or []:
                ctx.expected_loops.add(loop["workflow"])
    ctx.settle()


def _journal_excerpt(ctx: RunContext, n: int = 12) -> list[str]:
    try:
        entries = journal_entries(ctx)[-n:]
    except Exception as exc:  # the excerpt is a courtesy; never hide the real failure behind it
        return [f"(journal unavailable: {exc})"]
    out = []
    for e in entries:
        notes = f"  [{'; '.join(e['notes'])}]" if e.get("notes") else ""
        query = f"?{e['query']}" if e.get("query") else ""
        # Injected latency and transport actions: what a timeout in the report is about.
        fault = f"  (fault: {e['fault']})" if e.get("fault") else ""
        out.append(f"#{e['seq']} {e['at'][:19]} {e['method']} {e['path']}{query} -> {e['status']} "
                   f"{e.get('route') or ''}{fault}{notes}")
    return out


def _bugs(transport: Transport) -> tuple[int, list[dict[str, Any]]]:
    """How many bugs the simulator has recorded in all, and the latest ones (a ring)."""
    reply = transport.request("GET", "/_rivosim/bugs")
    if reply.error is not None:  # no server to talk to: nothing else will work either
        raise ConnectionError(f"GET /_rivosim/bugs {reply.error}")
    body = reply.json or {}
    bugs = list(body.get("bugs", []))
    return int(body.get("total", len(bugs))), bugs


def _bug_count(transport: Transport) -> int:
    return _bugs(transport)[0]


def _new_bugs(transport: Transport, before: int, domain: str) -> list[dict[str, Any]]:
    """The bugs recorded since ``before`` that are this scenario's: met by a request of its shop, or by no shop's
    (the server itself) — not a neighbour's on a shared server."""
    total, bugs = _bugs(transport)
    new = bugs[max(0, len(bugs) - (total - before)):] if total > before else []
    return [b for b in new if b.get("shop") in (None, domain)]


class Remote:
    """A running server and the workflow tool's receiving endpoint, shared by the scenarios of a run."""

    def __init__(self, base_url: str) -> None:
        self.transport = HttpTransport(base_url)
        self.receiver = HttpReceiver()

    def close(self) -> None:
        self.receiver.close()
        self.transport.close()


def _free_domain(transport: Transport, domain: str) -> str:
    """``domain``, or ``name-2.myshopify.com``… when an earlier run on this server used it. Shops are never
    reused or deleted by the runner: a deleted shop's timers would keep firing into a new shop of the same
    name, and a kept shop can be inspected after a failure."""
    name, _, rest = domain.partition(".")
    candidate = domain
    for n in range(2, 10_000):
        reply = transport.request("GET", f"/_rivosim/shops/{candidate}")
        if reply.error is not None:
            raise StepFailure(f"GET /_rivosim/shops/{candidate} {reply.error}")
        if reply.status == 404:
            return candidate
        candidate = f"{name}-{n}.{rest}"
    raise StepFailure(f"no free shop domain near {domain}")


def _crash(exc: Exception) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames)
    return f"error: {type(exc).__name__}: {exc} (at {where})"


def _final_checks(ctx: RunContext, transport: Transport, bugs_before: int) -> Failure | None:
    where = (ctx.scenario.path, ctx.scenario.steps[-1].line if ctx.scenario.steps else ctx.scenario.line,
             "after the last step")
    client = ctx.client
    if client is not None:
        unexpected = [loop for loop in client.loops if loop.workflow not in ctx.expected_loops]
        if unexpected:
            return Failure(*where, unexpected[0].message + " (expect it with `loops:` if the scenario means it)")
        if client.contract_violations:  # a delivery that does not match its topic's schema (docs/fidelity.md)
            first = client.contract_violations[0]
            return Failure(*where, f"a {first['topic']} delivery breaks its webhook schema: {first['problem']}",
                           actual=client.contract_violations[:10])
    bugs = _new_bugs(transport, bugs_before, ctx.domain)
    if bugs:
        return Failure(*where, "the simulator answered 500 (a rivosim bug)", actual=bugs)
    return None


class ScenarioRunner:
    """Runs scenarios. Its step kinds are registered on it: ``steps`` maps each step kind of the scenario format
    to what it does (``scenarios.steps.default_steps()`` unless given)."""

    def __init__(self, steps: Mapping[str, StepHandler] | None = None) -> None:
        if steps is None:
            from rivosim.scenarios.steps import default_steps

            steps = default_steps()
        self.steps: dict[str, StepHandler] = dict(steps)

    def run(self, scenario: Scenario, *, against: str | None = None, seed: int | None = None,
                in_process: InProcessTransport | None = None, remote: Remote | None = None,
                clock_start: str | None = None) -> ScenarioResult:
        """Run one scenario; never raises for a scenario failure (it is in the result).

        In-process: a fresh world with the scenario's seed (``in_process`` lets a run reuse one simulator and app,
        reset between scenarios). Against a server (``against``, or a shared ``remote``): a new shop on it, named
        after the scenario, left in place afterwards. Either way the scenario's time is its shop's own clock:
        read from it, and every time step moves it alone (``POST /_rivosim/shops/<domain>/clock/advance``), so
        scenarios running side by side on one server do not move each other's time, and injected latency (which
        moves only the shop's clock) is seen. ``clock_start`` (an instant): the shop's virtual clock starts there
        unless the scenario's shop document says otherwise, so its instants do not depend on what ran before."""
        started = time.perf_counter()
        own_remote = None
        if against is None and remote is None:
            world_seed = seed if seed is not None else (scenario.seed or 0)
            if in_process is None:
                in_process = InProcessTransport(Simulator(seed=world_seed))
            else:
                in_process.sim.reset(world_seed)
            ctx = RunContext(scenario, in_process, IN_PROCESS_HOOKS)
        else:
            if remote is None:
                remote = own_remote = Remote(str(against))
            ctx = RunContext(scenario, remote.transport, remote.receiver.url, remote.receiver)
        transport = ctx.transport
        failure: Failure | None = None
        steps_run = 0
        try:
            bugs_before = _bug_count(transport)
            try:
                if ctx.receiver is not None and not scenario.shop.get("domain"):
                    ctx.domain = _free_domain(transport, ctx.domain)
                    ctx.values["shop"]["domain"] = ctx.domain
                transport.clock_shop = ctx.domain
                _setup(ctx, clock_start)
            except StepFailure as exc:
                failure = Failure(scenario.path, scenario.line, "setup", exc.message, exc.expected, exc.actual)
            except Exception as exc:  # a transport error, a bug: the scenario fails, the run goes on
                failure = Failure(scenario.path, scenario.line, "setup", _crash(exc))
            if failure is None:
                for step in scenario.steps:
                    ctx.record("step", {"index": step.index, "line": step.line, "kind": step.kind})
                    if ctx.client is not None:
                        ctx.client.begin_step()
                    try:
                        self.steps[step.kind](ctx, step.body)
                        if step.kind not in ("advance", "advance_to", "expect"):
                            ctx.settle()
                    except StepFailure as exc:
                        failure = Failure(scenario.path, step.line, f"steps[{step.index}] {step.describe()}",
                                          exc.message, exc.expected, exc.actual)
                        break
                    except Exception as exc:
                        failure = Failure(scenario.path, step.line, f"steps[{step.index}] {step.describe()}",
                                          _crash(exc))
                        break
                    steps_run += 1
            if failure is None:
                failure = _final_checks(ctx, transport, bugs_before)
            if failure is not None:
                failure.journal = _journal_excerpt(ctx)
                failure.shop = ctx.domain
        finally:
            if ctx.receiver is not None:
                if ctx.client is not None:
                    with contextlib.suppress(Exception):  # best effort: the server may be gone
                        ctx.client.disconnect()  # on the shop's clock still (a 429 on the way is waited there)
                ctx.receiver.client = None
            transport.clock_shop = None
            if own_remote is not None:
                own_remote.close()
        return ScenarioResult(scenario, failure is None, steps_run, time.perf_counter() - started, failure,
                              ctx.transcript)

    def run_all(self, scenarios: Sequence[Scenario], *, against: str | None = None, seed: int | None = None,
                    keep_going: bool = True,
                    on_start: Callable[[int, Scenario], None] | None = None,
                    on_result: Callable[[int, ScenarioResult], None] | None = None) -> list[ScenarioResult]:
        """Run scenarios in order. Without ``keep_going`` the run stops at the first failure; the rest are
        reported as skipped."""
        results: list[ScenarioResult] = []
        stop = False
        # In-process, one simulator and one app serve every scenario: ``reset(seed)`` makes each a fresh world
        # (building the app's routes costs more than most scenarios).
        shared = InProcessTransport(Simulator()) if against is None else None
        remote = Remote(against) if against is not None else None
        try:
            for i, scenario in enumerate(scenarios):
                if stop:
                    result = ScenarioResult(scenario, False, 0, 0.0, skipped=True)
                else:
                    if on_start is not None:
                        on_start(i, scenario)
                    result = self.run(scenario, seed=seed, in_process=shared, remote=remote)
                    stop = not result.passed and not keep_going
                results.append(result)
                if on_result is not None:
                    on_result(i, result)
        finally:
            if remote is not None:
                remote.close()
        return results


def run_scenario(scenario: Scenario, *, against: str | None = None, seed: int | None = None,
                 in_process: InProcessTransport | None = None, remote: Remote | None = None) -> ScenarioResult:
    """Run one scenario with the standard step kinds; never raises for a scenario failure (it is in the result).

    In-process: a fresh world with the scenario's seed (``in_process`` lets a run reuse one simulator and app,
    reset between scenarios). Against a server (``against``, or a shared ``remote``): a new shop on it, named
    after the scenario, left in place afterwards."""
    return ScenarioRunner().run(scenario, against=against, seed=seed, in_process=in_process, remote=remote)


def run_scenarios(scenarios: Sequence[Scenario], *, against: str | None = None, seed: int | None = None,
                  keep_going: bool = True,
                  on_start: Callable[[int, Scenario], None] | None = None,
                  on_result: Callable[[int, ScenarioResult], None] | None = None) -> list[ScenarioResult]:
    """Run scenarios in order with the standard step kinds (see :meth:`ScenarioRunner.run_all`)."""
    return ScenarioRunner().run_all(scenarios, against=against, seed=seed, keep_going=keep_going,
                                    on_start=on_start, on_result=on_result)


def transcript_lines(results: Iterable[ScenarioResult]) -> list[dict[str, Any]]:
    return [{"scenario": r.name, **item} for r in results for item in r.transcript]
