"""What a scenario's steps see while it runs: ``RunContext`` (the transport, the shop, named customers and
values, the workflow client, the transcript), the requests steps make through it and the check of a step's own
response (``check_response``), the scenario's slice of the journal, and time.

After every step the runner *settles*: it runs the simulator's queued work (``run_until_idle``), lets
the workflow client run what it received, and repeats until nothing is left — so a step's expectations see
its whole consequence, workflows included. ``advance`` stops wherever a webhook is delivered, a delayed run
resumes or a schedule fires, so workflows act at the simulated instant they would in real life (in-process the
clock runs in one go and a delivery interrupts it; over HTTP it steps from one due timer to the next).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rivosim.kernel.clock import parse_duration
from rivosim.scenarios.loader import Scenario
from rivosim.scenarios.matching import subset_mismatch
from rivosim.transports.runner import Reply, Transport
from rivosim.workflows import HttpReceiver, WorkflowClient
from rivosim.workflows.expr import Scope, render

__all__ = ["MAX_ROUNDS", "RunContext", "StepFailure", "check_response", "journal_entries"]

MAX_ROUNDS = 200


class StepFailure(AssertionError):
    """A step did not behave as the scenario says. ``expected``/``actual`` are shown side by side."""

    def __init__(self, message: str, *, expected: Any = None, actual: Any = None) -> None:
        super().__init__(message)
        self.message, self.expected, self.actual = message, expected, actual


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
        # ``background: {hold: true}``: queued work (syncs, deliveries) is not run after each step, so its
        # in-between states ("queued", "Syncing…") can be seen; ``advance`` or ``run_until_idle`` runs it.
        self.hold_background = False
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
        caused by these runs (the loop guard's attribution ends here). While background work is held, time
        moves only as far as a step takes it and queued work stays queued."""
        if self.hold_background:
            return
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

    def advance_shop(self, duration: Any, domain: str) -> None:
        """``advance`` on one shop's own clock: only its time moves and only its due work runs. A scenario owns
        one shop, so that is the one it may name."""
        if domain != self.domain:
            raise StepFailure(f"advance: shop {domain!r} is not this scenario's shop ({self.domain}); a scenario "
                              "moves only its own shop's clock", expected=self.domain, actual=domain)
        transport = self.transport
        previous = transport.clock_shop
        transport.clock_shop = domain
        try:
            self.advance(duration)
        finally:
            transport.clock_shop = previous


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
        problem = subset_mismatch(reply.json, expect["json"])
        if problem:
            raise StepFailure(f"{what}: the response does not match ({problem})", expected=expect["json"],
                              actual=reply.json)


def journal_entries(ctx: RunContext, **params: str) -> list[dict[str, Any]]:
    """This scenario's journal: entries for its shop since the shop was created — the requests refused before any
    shop was known (a bad key) included: the transport sends ``X-Rivosim-Shop`` and the server journals them under
    that shop, so on a server shared with other scenarios their refusals are not counted as this one's."""
    reply = ctx.transport.request("GET", "/_rivosim/journal", params={"since": str(ctx.journal_since),
                                                                       "shop": ctx.domain, **params})
    entries = (reply.json or {}).get("entries", [])
    return [e for e in entries if e.get("shop") == ctx.domain]
