"""Scenario runner figures (the scenario issue), in this process:

- the whole library: wall time of loading and running every ``scenarios/*.yaml`` in-process once, the way
  ``rivosim run`` does (``load_paths`` + ``run_scenarios``, one shared simulator reset per scenario); information
  only, but marked failed when a scenario fails to load or to pass;
- runner overhead: lifecycle steps per second for a generated scenario with 10,000 customers (1,000 with
  ``--quick``) — per customer a sign-up, an order placed unpaid then paid, a merchant points adjustment and an
  Instagram follow, with an ``advance: P1D`` after every tenth of the customers — built in memory as YAML text,
  loaded with ``load_text`` and run with ``run_scenario``, next to the same operations made directly on the
  ``Simulator`` and its domain objects (the calls the control API and Rivo API views end up making, each followed
  by ``run_until_idle`` as the runner settles after every step) with the same shop configuration and seed.
  Figure: runner steps/s / direct steps/s, target >= 50 %. Both worlds must end in the same state (customers,
  orders, ledger events, points and tier totals, triggers fired, clock, and every member's id, balance and tier)
  or the figure fails.
- where that overhead goes (information): the runner's own HTTP requests, replayed straight into
  ``create_app(sim)`` on a fresh simulator (the in-process pipeline: Flask, routing, auth, journal, JSON), next to
  the direct side; and the runner next to that replay (its own work: templates, expectations, bookkeeping). The
  replay must end in the same state too.

Loading the generated scenario is timed apart from running it (it is reported in the note): the runner figure is
about executing steps. Timed on each side: shop creation, every step and the settling after it (the runner's
time also includes its fixed per-scenario requests: the journal mark and the two bug counts). The app is built
before the runner's clock starts. With ``--quick`` the direct side runs before and after the runner and the faster
run counts; in full mode it runs once (time: the section stays near a minute).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ._common import ROOT, Figure

if TYPE_CHECKING:
    from rivosim.domain.shop import Shop
    from rivosim.engine import Simulator
    from rivosim.scenarios.loader import Scenario
    from rivosim.scenarios.runner import ScenarioResult

__all__ = ["GENERATED_DOMAIN", "SHOP", "Measured", "OutOfTime", "State", "adjustment", "compare", "expected_steps",
           "generated_text", "library", "measure_direct", "measure_runner", "run", "state_of"]

SEED = 5
GENERATED_NAME = "bench-generated"
GENERATED_DOMAIN = f"{GENERATED_NAME}.myshopify.com"
# The same document goes into the generated scenario's ``shop:`` and into ``create_shop`` on the direct side.
# Rivo's 15 req/s limit is off: on the virtual clock the runner would wait out each 429 in simulated time (the
# clock moves, daily ticks run) and the two worlds would drift apart. New customers are visible to the Rivo API
# at once, so a merchant adjustment right after a sign-up finds the customer.
# The default plan (Scale) keeps VIP tiers on, so earning also moves customers through Bronze/Silver/Gold.
SHOP: dict[str, Any] = {"api": {"new_customer_visibility_delay": "PT0S"}, "rate_limits": {"rivo": {"enabled": False}}}
ORDER_AMOUNT = 25
ADVANCE = "P1D"
ADVANCES = 10  # one ``advance`` after every tenth of the customers
STEPS_PER_CUSTOMER = 5
FULL_CUSTOMERS = 10_000
QUICK_CUSTOMERS = 1_000
# Safety caps, not budgets: a side that runs past its cap stops and the figure fails (full mode is expected to
# take well under a minute for both sides together; these only stop a pathological slowdown from hanging).
FULL_CAP_SECONDS = 300.0
QUICK_CAP_SECONDS = 60.0
LIBRARY_CAP_SECONDS = 120.0


class OutOfTime(Exception):
    """A measured side ran past its time cap."""


# -- the generated scenario ---------------------------------------------------------------------------------
def adjustment(i: int) -> int:
    """The merchant's adjustment for customer ``i``: varied so a quarter each ends in Bronze, Silver (two ways)
    and Gold (sign-up 100 + order 25 + follow 50 + this: 215, 615, 1015, 1415 points), tier unlocks included."""
    return 40 + 400 * (i % 4)


def _advance_every(customers: int) -> int:
    return max(1, customers // ADVANCES)


def expected_steps(customers: int) -> int:
    return customers * STEPS_PER_CUSTOMER + customers // _advance_every(customers)


def generated_text(customers: int) -> str:
    """The scenario as YAML text: flow mappings, one step a line (what a person might write, just longer)."""
    every = _advance_every(customers)
    lines = [
        f"name: {GENERATED_NAME}",
        "description: generated by benchmarks/scenarios_load.py",
        f"seed: {SEED}",
        f"shop: {json.dumps(SHOP)}",  # JSON is YAML flow syntax
        "steps:",
    ]
    for i in range(customers):
        c = f"c{i}"
        lines += [
            f"  - customer_created: {{as: {c}, email: {c}@example.com, first_name: C{i}}}",
            f"  - order_placed: {{customer: {c}, amount: {ORDER_AMOUNT}, paid: false, as: o{i}}}",
            f"  - order_paid: {{order: o{i}}}",
            f"  - adjust_points: {{customer: {c}, points: {adjustment(i)}}}",
            f"  - follow: {{customer: {c}, network: instagram}}",
        ]
        if (i + 1) % every == 0:
            lines.append(f"  - advance: {ADVANCE}")
    return "\n".join(lines) + "\n"


# -- what both worlds must agree on -----------------------------------------------------------------------------
@dataclass(frozen=True)
class State:
    customers: int
    members: int
    orders: int
    paid_orders: int
    ledger_events: int
    points_total: int
    lifetime_total: int
    tiers: tuple[tuple[str, int], ...]
    triggers_fired: int
    now: str
    members_digest: str  # every member's id, balance, lifetime points and tier: same ids, same ledger


    def differences(self, other: State) -> list[str]:
        return [f"{name}: {getattr(self, name)!r} vs {getattr(other, name)!r}"
                for name in self.__dataclass_fields__ if getattr(self, name) != getattr(other, name)]


def state_of(sim: Simulator, shop: Shop) -> State:
    rivo, shopify = shop.rivo, shop.shopify
    members = list(rivo.members.values())
    tier_names = [rivo.tiers[m.vip_tier_id].name if m.vip_tier_id in rivo.tiers else "-" for m in members]
    tiers = Counter(tier_names)
    rows = sorted((m.id, m.points_tally, m.lifetime_points, t) for m, t in zip(members, tier_names, strict=True))
    log = sim.triggers.logs.get(shop.domain)
    fired = log.items[-1].seq if log is not None and log.items else 0  # the log is capped; its seq is not
    return State(
        customers=len(shopify.customers), members=len(members), orders=len(shopify.orders),
        paid_orders=sum(1 for o in shopify.orders.values() if o.financial_status == "paid"),
        ledger_events=len(rivo.points_events), points_total=sum(m.points_tally for m in members),
        lifetime_total=sum(m.lifetime_points for m in members), tiers=tuple(sorted(tiers.items())),
        triggers_fired=fired, now=shop.clock.now().isoformat(),  # the shop's time (latency moves it alone)
        members_digest=hashlib.sha256(repr(rows).encode()).hexdigest()[:16],
    )


@dataclass(frozen=True)
class Measured:
    steps: int
    seconds: float
    state: State
    passed: bool = True
    failure: str = ""

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


# -- the direct side --------------------------------------------------------------------------------------------
def measure_direct(customers: int, cap_seconds: float) -> Measured:
    """The generated scenario's operations made on the domain, in the same order, each followed by
    ``run_until_idle`` (the runner's settle without a workflow client). The arguments are what the views pass."""
    from rivosim import Simulator

    every = _advance_every(customers)
    line_items = [{"title": "Item", "price": str(ORDER_AMOUNT)}]  # what order_placed makes of ``amount``
    started = time.perf_counter()
    deadline = started + cap_seconds
    sim = Simulator(seed=SEED)
    # run_scenario sends ``{**scenario.shop, "domain": …}`` to POST /_rivosim/shops, which calls create_shop.
    shop = sim.create_shop({**SHOP, "domain": GENERATED_DOMAIN})
    shopify, rivo = shop.shopify, shop.rivo
    sim.run_until_idle()
    steps = 0
    for i in range(customers):
        if time.perf_counter() > deadline:
            raise OutOfTime(f"direct side stopped after {i:,} of {customers:,} customers ({cap_seconds:.0f} s cap)")
        # customer_created -> control.customers.create
        customer = shopify.create_customer(email=f"c{i}@example.com", first_name=f"C{i}")
        sim.run_until_idle()
        # order_placed (paid: false) -> control.orders.create
        order = shopify.create_order(customer_id=customer.id, line_items=line_items, discount_codes=None,
                                     total_discounts=0, total_tax=0, tags=None, note=None, paid=False,
                                     source_name="web")
        sim.run_until_idle()
        # order_paid -> control.orders.pay
        shopify.pay_order(order.id)
        sim.run_until_idle()
        # adjust_points -> rivo.points_events.create
        rivo.create_points_event({"customer_identifier": str(customer.id), "source": "manual",
                                  "points_amount": adjustment(i), "credits_amount": 0,
                                  "internal_note": "merchant adjustment"})
        sim.run_until_idle()
        # follow (instagram) -> control.customers.actions
        rivo.record_action(customer.id, "instagram_follow", {})
        sim.run_until_idle()
        steps += STEPS_PER_CUSTOMER
        if (i + 1) % every == 0:
            # advance -> the runner moves the clock to now + P1D (no workflow client: one jump), then settles.
            sim.advance(timedelta(days=1))
            sim.run_until_idle()
            steps += 1
    seconds = time.perf_counter() - started
    return Measured(steps, seconds, state_of(sim, shop))


# -- the runner side --------------------------------------------------------------------------------------------
def _deadline_transport(sim: Simulator) -> Any:
    """The runner's own in-process transport, refusing to go on past its ``deadline``: ``run_scenario`` has no
    time limit of its own, and this is the one place a benchmark can bound it without touching the runner. The
    check is one ``perf_counter`` per request (well under a microsecond against hundreds per step). A step that
    meets it fails the scenario; the runner's own requests outside any step let it through to the caller."""
    from rivosim.transports.runner import InProcessTransport, Reply

    class DeadlineTransport(InProcessTransport):
        deadline = float("inf")

        def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                    headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Reply:
            if time.perf_counter() > self.deadline:
                raise OutOfTime("the runner ran past its time cap")
            return super().request(method, path, json=json, params=params, headers=headers, timeout=timeout)

    return DeadlineTransport(sim)


def measure_runner(scenario: Scenario, cap_seconds: float) -> tuple[Measured, list[dict[str, Any]]]:
    """``run_scenario`` on the loaded scenario with a fresh simulator and app (built before the clock starts: the
    app's routes are a one-off cost, as in ``run_scenarios``)."""
    from rivosim import Simulator
    from rivosim.scenarios.runner import run_scenario

    transport = _deadline_transport(Simulator(seed=SEED))
    started = time.perf_counter()
    transport.deadline = started + cap_seconds
    result = run_scenario(scenario, in_process=transport)
    seconds = time.perf_counter() - started
    failure = ""
    if result.failure is not None:
        f = result.failure
        failure = f"{f.step}: {f.message}"
    sim = transport.sim
    shop = sim.shops.get(scenario.domain)
    if shop is None:
        raise RuntimeError(f"the runner created no shop {scenario.domain} ({failure or 'no failure reported'})")
    return Measured(result.steps_run, seconds, state_of(sim, shop), result.passed, failure), result.transcript


def measure_replay(transcript: list[dict[str, Any]], cap_seconds: float) -> Measured:
    """The HTTP requests the runner made (its transcript), sent straight into ``create_app(sim)`` on a fresh
    simulator with the same seed — each built as the server shell builds it, each followed by ``run_until_idle``
    as the runner settles — with none of the runner's own work (templates, expectations, bookkeeping). Between
    the direct side and the runner, this says what the in-process HTTP pipeline costs and what the runner adds."""
    from rivosim import Simulator
    from rivosim.http.app import create_app
    from rivosim.transports.wsgi import call_app, wsgi_environ

    sim = Simulator(seed=SEED)
    app = create_app(sim)
    from rivosim.kernel.clock import parse_instant

    items = [t for t in transcript if t["kind"] == "request" or (t["kind"] == "advance" and "to" in t)]
    requests = sum(1 for t in items if t["kind"] == "request")
    key = ""

    started = time.perf_counter()
    deadline = started + cap_seconds
    for item in items:
        if time.perf_counter() > deadline:
            raise OutOfTime(f"the replay ran past its {cap_seconds:.0f} s cap")
        if item["kind"] == "advance":  # the runner moves its shop's clock on the simulator, not by a request
            target = parse_instant(item["to"])
            if GENERATED_DOMAIN in sim.shops and target > sim.shop(GENERATED_DOMAIN).now():
                sim.advance_shop(GENERATED_DOMAIN, to=target)
            sim.run_until_idle()
            continue
        path: str = item["path"]
        body = json.dumps(item["body"]).encode() if item["body"] is not None else b""
        headers = {"Content-Type": "application/json"} if body else {}
        if path.startswith("/merchant_api/"):
            headers["Authorization"] = key  # the shop's key: the same seed gives the same key
        query = "&".join(f"{k}={v}" for k, v in (item["params"] or {}).items())
        _, _, out = call_app(app, wsgi_environ(item["method"], path, query, headers, body))
        if path == "/_rivosim/shops" and item["method"] == "POST":
            key = json.loads(out)["rivo_api_key"]
        sim.run_until_idle()
    seconds = time.perf_counter() - started
    shop = sim.shops[GENERATED_DOMAIN]
    return Measured(requests, seconds, state_of(sim, shop))


def compare(customers: int, cap_seconds: float, say: Callable[[str], None] = lambda _: None, *,
            direct_again: bool = True) -> dict[str, Any]:
    """Load the generated scenario, run it both ways and compare. The direct side goes first and, with
    ``direct_again``, again last; its faster run is the baseline (conservative: a busy moment cannot flatter the
    runner's ratio)."""
    from rivosim.scenarios.loader import load_text

    text = generated_text(customers)
    started = time.perf_counter()
    scenario = load_text(text, "<generated>")
    load_seconds = time.perf_counter() - started
    if len(scenario.steps) != expected_steps(customers):
        raise RuntimeError(f"generated {len(scenario.steps)} steps, expected {expected_steps(customers)}")
    say(f"  loaded the generated scenario: {len(scenario.steps):,} steps in {load_seconds:.1f} s")
    # The collector's full passes scan every live object, and a 50,000-step scenario is a lot of them: frozen, it
    # costs neither side (the direct side does not even use it), and a collection before each side keeps one
    # side's garbage off the other's clock. What each side allocates while measured is still collected as usual.
    gc.collect()
    gc.freeze()
    try:
        say(f"  direct: {customers:,} customers on the domain…")
        gc.collect()
        first = measure_direct(customers, cap_seconds)
        say(f"  runner: {customers:,} customers through run_scenario…")
        gc.collect()
        runner, transcript = measure_runner(scenario, cap_seconds)
        say("  replay: the runner's requests straight into the app…")
        gc.collect()
        replay = measure_replay(transcript, cap_seconds)
        second = None
        if direct_again:
            say("  direct again…")
            gc.collect()
            second = measure_direct(customers, cap_seconds)
    finally:
        gc.unfreeze()
    runs = [first] if second is None else [first, second]
    direct = min(runs, key=lambda m: m.seconds)
    problems = [*first.state.differences(runs[-1].state)]  # the direct side must be deterministic itself
    if not runner.passed:
        problems.append(f"the runner failed: {runner.failure}")
    if runner.steps != direct.steps:
        problems.append(f"steps: runner {runner.steps:,} vs direct {direct.steps:,}")
    problems += [f"runner vs direct {d}" for d in runner.state.differences(direct.state)]
    problems += [f"replay vs direct {d}" for d in replay.state.differences(direct.state)]
    return {"customers": customers, "steps": len(scenario.steps), "load_seconds": load_seconds, "runner": runner,
            "direct": direct, "replay": replay, "direct_runs": [m.seconds for m in runs], "problems": problems}


def _overhead(quick: bool, say: Callable[[str], None]) -> tuple[Figure, dict[str, Any] | None]:
    customers = QUICK_CUSTOMERS if quick else FULL_CUSTOMERS
    cap = QUICK_CAP_SECONDS if quick else FULL_CAP_SECONDS
    name = f"runner overhead: steps/s vs direct, {customers:,} customers" + (" (quick)" if quick else "")
    try:
        # Full mode runs the direct side once: loading and running 50,000 steps through the runner already take
        # most of the section's minute, and the direct side's runs agree within a few per cent on a quiet machine.
        out = compare(customers, cap, say, direct_again=quick)
    except OutOfTime as exc:
        return Figure(name, "-", "-", "-", ">= 50 %", False, f"{exc}"), None
    runner: Measured = out["runner"]
    direct: Measured = out["direct"]
    ratio = runner.rate / direct.rate
    problems: list[str] = out["problems"]
    s = runner.state
    runs: list[float] = out["direct_runs"]
    best_of = f" (best of {', '.join(f'{t:.2f}' for t in runs)} s)" if len(runs) > 1 else " (one run)"
    note = (f"{out['steps']:,} steps; runner {runner.seconds:.1f} s, direct {direct.seconds:.2f} s{best_of}; "
            f"load_text took {out['load_seconds']:.1f} s more ({out['steps'] / out['load_seconds']:,.0f} steps/s, "
            "not in the ratio); "
            f"{'the runner' if problems else 'both'} ended with {s.customers:,} customers, {s.orders:,} orders, "
            f"{s.ledger_events:,} ledger events, {s.points_total:,} points, {s.triggers_fired:,} triggers")
    if problems:
        note = "NOT THE SAME WORK: " + "; ".join(problems[:5]) + ". " + note
    return Figure(name, f"{runner.rate:,.0f} steps/s", f"{direct.rate:,.0f} steps/s", f"{ratio:.0%}", ">= 50 %",
                  ratio >= 0.5 and not problems, note), out


def _decomposition(out: dict[str, Any], quick: bool) -> list[Figure]:
    """Where the runner's time goes: the in-process HTTP pipeline (the replay against the domain) and the runner's
    own work (the runner against the replay). Information: they explain the overhead figure."""
    runner: Measured = out["runner"]
    direct: Measured = out["direct"]
    replay: Measured = out["replay"]
    suffix = " (quick)" if quick else ""
    per = 1e6 / max(1, replay.steps)
    note_app = (f"{replay.steps:,} requests: {replay.seconds * per:,.0f} us each through create_app(sim) vs "
                f"{direct.seconds * 1e6 / max(1, direct.steps):,.0f} us per operation on the domain")
    note_runner = (f"runner {runner.seconds * 1e6 / max(1, runner.steps):,.0f} us per step vs "
                   f"{replay.seconds * per:,.0f} us per replayed request")
    return [
        Figure("  of which: in-process HTTP pipeline (replay vs direct)" + suffix, f"{replay.seconds:.2f} s",
               f"{direct.seconds:.2f} s", f"{direct.seconds / replay.seconds:.0%}", "info", None, note_app),
        Figure("  of which: the runner's own work (runner vs replay)" + suffix, f"{runner.seconds:.2f} s",
               f"{replay.seconds:.2f} s", f"{replay.seconds / runner.seconds:.0%}", "info", None, note_runner),
    ]


# -- the library ------------------------------------------------------------------------------------------------
def library(cap_seconds: float = LIBRARY_CAP_SECONDS) -> dict[str, Any]:
    """Load and run every ``scenarios/*.yaml`` in-process as ``rivosim run`` does (``--keep-going``)."""
    from rivosim.scenarios.loader import load_paths
    from rivosim.scenarios.runner import run_scenarios

    started = time.perf_counter()
    scenarios, errors = load_paths([ROOT / "scenarios"])
    loaded = time.perf_counter()
    deadline = loaded + cap_seconds
    timed_out: list[str] = []

    def on_start(i: int, scenario: Scenario) -> None:
        # run_scenarios has no time limit; past the cap the remaining scenarios are not started.
        if time.perf_counter() > deadline:
            timed_out.append(scenario.name)
            raise OutOfTime(f"the library ran past {cap_seconds:.0f} s at {scenario.name}")

    results: list[ScenarioResult] = []  # collected as they finish, so a stop at the cap keeps them
    with contextlib.suppress(OutOfTime):
        run_scenarios(scenarios, keep_going=True, on_start=on_start, on_result=lambda _, r: results.append(r))
    finished = time.perf_counter()
    failed = [r.name for r in results if not r.passed]
    return {"scenarios": len(scenarios), "load_errors": [str(e) for e in errors], "results": len(results),
            "steps": sum(r.steps_run for r in results), "failed": failed, "timed_out": timed_out,
            "load_seconds": loaded - started, "run_seconds": finished - loaded, "seconds": finished - started}


def _library(say: Callable[[str], None]) -> Figure:
    say("  running every scenarios/*.yaml in-process…")
    out = library()
    problems = [*out["load_errors"]]
    if out["timed_out"]:
        problems.append(f"stopped at the {LIBRARY_CAP_SECONDS:.0f} s cap before {out['timed_out'][0]}")
    if out["failed"]:
        problems.append(f"{len(out['failed'])} failed: {', '.join(out['failed'])}")
    summary = (f"{out['scenarios']} scenarios, {out['steps']:,} steps; load {out['load_seconds']:.2f} s + run "
               f"{out['run_seconds']:.2f} s")
    note = "; ".join(problems) + f" ({summary})" if problems else f"all {out['results']} passed ({summary})"
    return Figure("whole library, in-process", f"{out['seconds']:.2f} s",
                  f"{out['scenarios']} scenarios, {out['steps']:,} steps", "-", "info",
                  False if problems else None, note)


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from benchmarks import scenario_jobs, scenario_span

    overhead, out = _overhead(quick, say)
    return [_library(say), *scenario_jobs.run(quick, say), *scenario_span.run(quick, say), overhead,
            *(_decomposition(out, quick) if out else [])]
