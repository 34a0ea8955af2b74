"""Running scenarios: in-process (a fresh ``Simulator`` per scenario, driven through ``create_app(sim)``'s test
client on the virtual clock, so nothing sleeps) or against a running server over HTTP (a fresh shop per
scenario through the control API). Both modes send the same requests; the workflow client receives its
deliveries in-process from a ``Sender`` or over HTTP from a small receiving server.

After every step the runner *settles*: it runs the simulator's queued work (``run_until_idle``), lets
the workflow client run what it received, and repeats until nothing is left — so a step's expectations see
its whole consequence, workflows included. ``advance`` stops wherever a webhook is delivered, a delayed run
resumes or a schedule fires, so workflows act at the simulated instant they would in real life (in-process the
clock runs in one go and a delivery interrupts it; over HTTP it steps from one due timer to the next).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..clock import parse_duration
from ..engine import Simulator
from ..workflows import HttpReceiver, InProcessReceiver, Workflow, WorkflowClient
from .expr import Scope, render
from .loader import Scenario
from .transport import HttpTransport, InProcessTransport, Reply, Transport

__all__ = ["Failure", "RunContext", "ScenarioResult", "StepFailure", "run_scenario", "run_scenarios"]

IN_PROCESS_HOOKS = "http://mesa.rivosim.test/hooks"
MAX_ROUNDS = 200


class StepFailure(AssertionError):
    """A step did not behave as the scenario says. ``expected``/``actual`` are shown side by side."""

    def __init__(self, message: str, *, expected: Any = None, actual: Any = None) -> None:
        super().__init__(message)
        self.message, self.expected, self.actual = message, expected, actual


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


class RunContext:
    """What steps see: the transport, the shop, named values, the workflow client and the transcript."""

    def __init__(self, scenario: Scenario, transport: Transport, hooks_url: str,
                 receiver: HttpReceiver | None = None) -> None:
        self.scenario = scenario
        self.transport = transport
        self.domain = scenario.domain
        self.hooks_url = hooks_url
        self.receiver = receiver
        self.values: dict[str, Any] = {"customers": {}, "orders": {}, "shop": {"domain": self.domain}}
        self.client: WorkflowClient | None = None
        self.transcript: list[dict[str, Any]] = []
        self.claims = 0
        self.expected_loops: set[str] = set()
        self.journal_since = 0  # the journal seq before this scenario's shop existed

    # -- values ---------------------------------------------------------------------------------------------
    def scope(self, **extra: Any) -> Scope:
        values = {**self.values, **extra}
        if self.client is not None:
            # What the workflow tool sent, for steps that act on it (the customer uses the emailed code).
            values["messages"] = [m.to_dict() for m in self.client.messages]
        return Scope(values, self.transport.now)

    def render(self, value: Any) -> Any:
        return render(value, self.scope())

    @property
    def shop(self) -> dict[str, Any]:
        return self.values["shop"]  # type: ignore[no-any-return]

    def customer(self, ref: Any) -> dict[str, Any] | None:
        """The named customer ``ref`` refers to (by name, id or email), if it is one of ours."""
        ref = self.render(ref)
        customers: dict[str, dict[str, Any]] = self.values["customers"]
        if isinstance(ref, str) and ref in customers:
            return customers[ref]
        for customer in customers.values():
            if ref == customer.get("id") or (isinstance(ref, str) and (ref == str(customer.get("id")) or
                                             ref.casefold() == str(customer.get("email") or "").casefold())):
                return customer
        return None

    def customer_id(self, ref: Any) -> int:
        """A Shopify customer id (what the control API's paths take)."""
        named = self.customer(ref)
        if named is not None:
            return int(named["id"])
        value = self.render(ref)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
        raise StepFailure(f"{ref!r} is not a customer of this scenario (name one with customer_created)")

    def identifier(self, ref: Any) -> str:
        """A Rivo ``customer_identifier``: a named customer's id, else the value as given (an email, a
        wrong-format id … whatever the scenario says)."""
        named = self.customer(ref) if not (isinstance(ref, str) and "@" in ref) else None
        return str(named["id"]) if named is not None else str(self.render(ref))

    def record(self, kind: str, data: dict[str, Any]) -> None:
        self.transcript.append({"kind": kind, **data})

    # -- requests ------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, expect: Any = None, what: str | None = None,
                timeout: float | None = None) -> Reply:
        reply = self.transport.request(method, path, json=json, params=params, headers=headers, timeout=timeout)
        self.record("request", {"method": method, "path": path, "params": params, "body": json,
                                "status": reply.status, "response": reply.json}
                    | ({"error": reply.error} if reply.error is not None else {}))
        check_response(reply, expect, what or f"{method} {path}")
        return reply

    def control(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                expect: Any = None) -> Any:
        return self.request(method, "/_rivosim" + path, json=json, params=params, expect=expect).json

    def rivo(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
             expect: Any = None, what: str | None = None) -> Reply:
        """A merchant-side call with the shop's key. A 429 is waited out and retried (the merchant is not
        the client under test; ``http`` steps see every status as it is)."""
        headers = {"Authorization": str(self.shop.get("rivo_api_key", ""))}
        for _ in range(5):
            reply = self.transport.request(method, "/merchant_api/v1" + path, json=json, params=params,
                                           headers=headers)
            if reply.status != 429:
                break
            self.sleep(float(reply.headers.get("Retry-After", "1")))
        self.record("request", {"method": method, "path": "/merchant_api/v1" + path, "params": params, "body": json,
                                "status": reply.status, "response": reply.json}
                    | ({"error": reply.error} if reply.error is not None else {}))
        check_response(reply, expect, what or f"{method} /merchant_api/v1{path}")
        return reply

    def sleep(self, seconds: float) -> None:
        """Wait in simulator time (a client honouring Retry-After): the clock moves, what falls due runs."""
        self.record("sleep", {"seconds": seconds})
        self.transport.advance_to(self.transport.now() + timedelta(seconds=seconds))

    # -- time and settling ---------------------------------------------------------------------------------
    def settle(self) -> None:
        """Run queued work, then workflows, until neither has anything left. What arrives afterwards was not
        caused by these runs (the loop guard's attribution ends here)."""
        self.transport.run_until_idle()
        client = self.client
        if client is None:
            return
        try:
            for _ in range(MAX_ROUNDS):
                if not client.has_work(self.transport.now()):
                    return
                client.process_round()
                self.transport.run_until_idle()
            raise StepFailure(f"workflows were still running after {MAX_ROUNDS} rounds (an action loop the guard "
                              "did not catch?)")
        finally:
            client.begin_step()

    def advance_until(self, target: datetime) -> None:
        """Let time pass until ``target``. While workflows listen, time moves from one due timer to the next
        (a delivery, a daily tick, a delayed run, a schedule) and they run at once, at the simulated instant
        their trigger fired; otherwise it jumps."""
        client = self.client
        if client is not None:
            client.begin_step()
        if client is None or not client.listening():
            self.transport.advance_to(target)
            self.record("advance", {"to": target.isoformat()})
            self.settle()
            return
        for _ in range(1_000_000):
            wake = client.next_wakeup()
            stop = wake if wake is not None and wake < target else target
            reached = self.transport.step_toward(stop)
            if client.inbound or client.has_work(self.transport.now()):
                self.record("advance", {"to": self.transport.now().isoformat()})
                self.settle()
            if reached and stop >= target:
                break
        self.record("advance", {"to": target.isoformat()})
        self.settle()

    def advance(self, duration: Any) -> None:
        self.advance_until(parse_duration(self.render(duration)).after(self.transport.now()))


def check_response(reply: Reply, expect: Any, what: str) -> None:
    """The step's own expectation on its response (default: a 2xx; ``timed_out: true``: no response in time)."""
    expect = expect or {}
    if "timed_out" in expect:
        if reply.timed_out is not bool(expect["timed_out"]):
            raise StepFailure(f"{what} {reply.outcome()}" if reply.error else
                              f"{what} answered {reply.status} within its timeout",
                              expected="a timeout" if expect["timed_out"] else "a response in time",
                              actual=reply.error or f"{reply.status} {reply.error_detail() if not reply.ok else ''}"
                              .strip())
        if reply.timed_out:
            return
    if reply.error is not None:
        # No response at all: say so plainly rather than "answered 0".
        raise StepFailure(f"{what} {reply.error}: no response", expected=f"status {expect['status']}"
                          if "status" in expect else "a 2xx status", actual=reply.error)
    wanted = expect.get("status")
    if wanted is None:
        if not reply.ok:
            raise StepFailure(f"{what} answered {reply.status}: {reply.error_detail()}", expected="a 2xx status",
                              actual=f"{reply.status} {reply.error_detail()}")
    else:
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if reply.status not in allowed:
            raise StepFailure(f"{what} answered {reply.status}", expected=f"status {wanted}",
                              actual=f"{reply.status} {reply.error_detail() if not reply.ok else ''}".strip())
    if "error_contains" in expect and str(expect["error_contains"]).casefold() not in reply.error_detail().casefold():
        raise StepFailure(f"{what}: the error does not mention {expect['error_contains']!r}",
                          expected=expect["error_contains"], actual=reply.error_detail())
    if "json" in expect:
        from .expectations import subset_mismatch

        problem = subset_mismatch(reply.json, expect["json"])
        if problem:
            raise StepFailure(f"{what}: the response does not match ({problem})", expected=expect["json"],
                              actual=reply.json)


# -- one scenario -------------------------------------------------------------------------------------------------
def _setup(ctx: RunContext) -> None:
    scenario = ctx.scenario
    doc = {**scenario.shop, "domain": ctx.domain}
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
        client = WorkflowClient(ctx.transport, ctx.hooks_url, workflows, shop={"domain": ctx.domain},
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


def journal_entries(ctx: RunContext, **params: str) -> list[dict[str, Any]]:
    """This scenario's journal: entries for its shop, plus requests refused before any shop was known (a bad
    key) made since the shop was created."""
    reply = ctx.transport.request("GET", "/_rivosim/journal", params={"since": str(ctx.journal_since), **params})
    entries = (reply.json or {}).get("entries", [])
    return [e for e in entries
            if e.get("shop") == ctx.domain or (e.get("shop") is None and e.get("api") not in ("control", None))]


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


def _bug_count(transport: Transport) -> int:
    reply = transport.request("GET", "/_rivosim/bugs")
    if reply.error is not None:  # no server to talk to: nothing else will work either
        raise ConnectionError(f"GET /_rivosim/bugs {reply.error}")
    return len((reply.json or {}).get("bugs", []))


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


def run_scenario(scenario: Scenario, *, against: str | None = None, seed: int | None = None,
                 in_process: InProcessTransport | None = None, remote: Remote | None = None) -> ScenarioResult:
    """Run one scenario; never raises for a scenario failure (it is in the result).

    In-process: a fresh world with the scenario's seed (``in_process`` lets a run reuse one simulator and app,
    reset between scenarios). Against a server (``against``, or a shared ``remote``): a new shop on it, named
    after the scenario, left in place afterwards."""
    from .steps import STEPS

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
            _setup(ctx)
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
                    STEPS[step.kind](ctx, step.body)
                    if step.kind not in ("advance", "advance_to", "expect"):
                        ctx.settle()
                except StepFailure as exc:
                    failure = Failure(scenario.path, step.line, f"steps[{step.index}] {step.describe()}", exc.message,
                                      exc.expected, exc.actual)
                    break
                except Exception as exc:
                    failure = Failure(scenario.path, step.line, f"steps[{step.index}] {step.describe()}", _crash(exc))
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
                    ctx.client.disconnect()
            ctx.receiver.client = None
        if own_remote is not None:
            own_remote.close()
    return ScenarioResult(scenario, failure is None, steps_run, time.perf_counter() - started, failure,
                          ctx.transcript)


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
    bugs = _bug_count(transport)
    if bugs > bugs_before:
        reply = transport.request("GET", "/_rivosim/bugs")
        return Failure(*where, "the simulator answered 500 (a rivosim bug)", actual=reply.json["bugs"][bugs_before:])
    return None


def run_scenarios(scenarios: Sequence[Scenario], *, against: str | None = None, seed: int | None = None,
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
                result = run_scenario(scenario, seed=seed, in_process=shared, remote=remote)
                stop = not result.passed and not keep_going
            results.append(result)
            if on_result is not None:
                on_result(i, result)
    finally:
        if remote is not None:
            remote.close()
    return results


def transcript_lines(results: Iterable[ScenarioResult]) -> list[dict[str, Any]]:
    return [{"scenario": r.name, **item} for r in results for item in r.transcript]

