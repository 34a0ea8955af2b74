"""The scenario library passes in-process (and a sample over real HTTP); loading errors point at file:line; the
same seed gives the same transcript; simulated time is (nearly) free; the CLI reports and writes JUnit."""

from __future__ import annotations

import json
import re
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rivosim import Simulator, create_app
from rivosim.cli import DEMO_DOMAIN, build_simulator, main
from rivosim.scenarios.loader import LoadError, Scenario, load_paths, load_text
from rivosim.scenarios.report import format_failure
from rivosim.scenarios.runner import ScenarioResult, run_scenario, run_scenarios
from rivosim.scenarios.schema import build_schema, published_schema
from rivosim.transports.runner import InProcessTransport
from rivosim.transports.server import Server

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"
SCENARIOS, LOAD_ERRORS = load_paths([LIBRARY])


@pytest.fixture(scope="module")
def world() -> InProcessTransport:
    # One simulator and app for the module; each scenario resets it to its own seed.
    return InProcessTransport(Simulator())


def run(scenario: Scenario, world: InProcessTransport | None = None, **kw: object) -> ScenarioResult:
    return run_scenario(scenario, in_process=world, **kw)  # type: ignore[arg-type]


def scenario(text: str, file: str = "t.yaml") -> Scenario:
    return load_text(textwrap.dedent(text), file)


# -- the library ------------------------------------------------------------------------------------------------
def test_the_library_loads() -> None:
    assert not LOAD_ERRORS, [str(e) for e in LOAD_ERRORS]
    assert len(SCENARIOS) >= 25


@pytest.mark.parametrize("case", SCENARIOS, ids=lambda s: s.name)
def test_library_scenario_passes(case: Scenario, world: InProcessTransport) -> None:
    result = run(case, world)
    assert result.passed, format_failure(result)


USE_CASES = ("Welcome Series", "First Purchase Incentive", "Social Media Engagement", "Tier Upgrade Celebration",
             "Tier Maintenance Reminders", "Exclusive VIP Communications", "Birthday Campaigns", "Anniversary Rewards",
             "Review Incentives", "Referral Follow-up", "Points Expiry Alerts", "Inactive Customer Campaigns",
             "Win-back Offers")
TROUBLESHOOTING = ("not on the Plus plan", "without extra spaces", "freshly generated key", "program is active",
                   "recent activity", "earning rule for the trigger is disabled", "few minutes to appear",
                   "opted into your loyalty program", "overlapping trigger conditions", "correct customer ID format",
                   "few minutes to reflect", "Rate Limiting", "domain must match exactly",
                   "widgets not displaying after a theme change", "VIP tier tags missing", "integration data missing")


@pytest.mark.parametrize("case", USE_CASES + TROUBLESHOOTING)
def test_every_seed_case_has_a_scenario(case: str) -> None:
    assert any(case.casefold() in s.covers.casefold() for s in SCENARIOS), case


def test_every_troubleshooting_scenario_shows_symptom_and_fix() -> None:
    for s in SCENARIOS:
        if s.name.startswith("trouble-"):
            text = s.description.casefold()
            assert "symptom" in text and "fix" in text, s.name
            assert len([st for st in s.steps if st.kind == "expect"]) >= 2, s.name


def test_the_whole_library_runs_well_under_a_minute_in_process() -> None:
    started = time.perf_counter()
    results = run_scenarios(SCENARIOS)
    elapsed = time.perf_counter() - started
    assert all(r.passed for r in results)
    assert elapsed < 60, elapsed


SAMPLE = ("welcome-series", "trouble-key-extra-spaces", "trouble-key-regenerated", "loop-guard-matching-bonus",
          "referral-follow-up", "trouble-missing-data-new-customer", "birthday-campaign")


def test_a_sample_of_the_library_passes_against_a_real_server() -> None:
    # The same steps over real HTTP: a wall-clock server, webhooks delivered to the workflow client's endpoint.
    sim = Simulator(seed=1, clock="wall")
    chosen = [s for s in SCENARIOS if s.name in SAMPLE]
    with Server(create_app(sim), tick=sim.tick) as server:
        results = run_scenarios(chosen, against=server.url)
    assert len(results) == len(SAMPLE)
    assert all(r.passed for r in results), "\n".join(format_failure(r) for r in results)
    assert not sim.bugs


# -- determinism and virtual time --------------------------------------------------------------------------------
def _transcript(result: ScenarioResult) -> str:
    return json.dumps(result.transcript, sort_keys=True, default=str)


def test_the_same_seed_gives_the_same_transcript(world: InProcessTransport) -> None:
    for name in ("referral-follow-up", "mesa-actions-catalogue", "vip-communications-by-tier"):
        case = next(s for s in SCENARIOS if s.name == name)
        first, second = run(case, world), run(case, InProcessTransport(Simulator()))
        assert first.passed and second.passed
        assert _transcript(first) == _transcript(second)
        other = run(case, world, seed=(case.seed or 0) + 1)
        assert other.passed                                  # expectations never depend on ids
        assert _transcript(other) != _transcript(first)      # but the ids (and codes) do depend on the seed


# A small lifecycle, advanced by {span}: shared with the scenarios benchmark, which times what this test counts.
SPAN = (Path(__file__).parent / "span.yaml.template").read_text("utf-8")


class CountingTransport(InProcessTransport):
    """Counts what the runner asks of its transport: requests, clock steps, advances, idle runs."""

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.calls = 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super().request(*args, **kwargs)

    def step_toward(self, instant: datetime) -> bool:
        self.calls += 1
        return super().step_toward(instant)

    def advance_to(self, instant: datetime) -> None:
        self.calls += 1
        super().advance_to(instant)

    def run_until_idle(self) -> None:
        self.calls += 1
        super().run_until_idle()


def test_two_simulated_years_cost_the_runner_at_most_twice_one_minute() -> None:
    # The runner stops once per delivery on the way, never once per simulated day: two years (730 daily ticks,
    # birthdays, expiry warnings and expiries) ask at most twice as much of the transport as one minute. Counted,
    # not timed (the time ratio is a figure of ``make bench``'s scenarios section).
    calls = {}
    for label, span in (("long", "P2Y"), ("short", "PT1M")):
        world = CountingTransport(Simulator())
        result = run(scenario(SPAN.format(label=label, span=span)), world)
        assert result.passed, format_failure(result)
        calls[label] = world.calls
    assert calls["long"] <= 2 * calls["short"], calls


# -- loading errors ----------------------------------------------------------------------------------------------
def _load_error(text: str) -> LoadError:
    with pytest.raises(LoadError) as info:
        scenario(text)
    return info.value


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("name: x\nsteps:\n  - advance: P30X\n", 3, "is not an ISO-8601 duration"),
    ("name: x\nsteps:\n  - advanse: P3D\n", 3, "did you mean 'advance'"),
    ("name: x\nsteps:\n  - follow: {customer: al, network: myspace}\n", 3, "is not one of"),
    ("name: x\ncustomers:\n  al: {email: a@x.com}\nsteps:\n  - follow: {customer: al, netwrk: tiktok}\n", 5,
     "did you mean 'network'"),
    ("name: x\ncustomers:\n  al: {email: a@x.com}\nsteps:\n  - follow: {customer: ali, network: tiktok}\n", 5,
     "unknown customer 'ali' (did you mean 'al'?)"),
    ("name: x\nsteps:\n  - advance: P1D\n  - advance: P1D\n    advance_to: x\n", 4, "exactly one key"),
    ("name: x\nshop:\n  plan: plus\n  program:\n    vip:\n      tiers:\n        - {name: A, threshold: -5}\n"
     "steps:\n  - advance: P1D\n", 7, "less than the minimum of 0"),
    ("name: x\nworkflows:\n  - name: w\n    trigger: points_event/creatd\n    actions:\n      - delay: P1D\n"
     "steps:\n  - advance: P1D\n", 4, "did you mean 'points_event/created'"),
    ("name: x\nworkflows:\n  - name: w\n    trigger: customer/joined\n    filters: ['points_diff >']\n"
     "    actions:\n      - delay: P1D\nsteps:\n  - advance: P1D\n", 5, "cannot parse expression"),
    ("name: x\nworkflows:\n  - name: w\n    trigger: customer/joined\n    actions:\n      - for_each:\n"
     "          items: '{{ customers }}'\n          actions:\n            - delay: P1D\n"
     "steps:\n  - advance: P1D\n", 9, "cannot sit inside for_each"),
    ("name: x\nworkflows:\n  - name: w\n    trigger: customer/joined\n    schedule: {every: P1D}\n"
     "    actions:\n      - delay: P1D\nsteps:\n  - advance: P1D\n", 3, "not both"),
    ("name: x\nsteps:\n  - http: {method: GET, path: '/x/{{ foo( }}'}\n", 3, "cannot parse expression"),
    ("name: x\nname: y\nsteps:\n  - advance: P1D\n", 2, "duplicate key 'name'"),
    ("name: x\nsteps:\n  - advance: [P1D\n", 4, "not valid YAML"),
    # libyaml parses, but its refusal is re-read in Python for the more specific words, the same everywhere
    ("name: x\n\tsteps: []\n", 2, "found character '\\t' that cannot start any token"),
    ("name: x\nstep:\n  - advance: P1D\n", 2, "unknown field 'step' (did you mean 'steps'?)"),
    ("name: x\n", 1, "'steps' is a required property"),
    ("name: x\nsteps:\n  - order_paid: {order: first}\n", 3, "unknown order 'first'"),
])
def test_load_errors_point_at_file_and_line(text: str, line: int, needle: str) -> None:
    err = _load_error(text)
    assert err.line == line, str(err)
    assert needle in str(err), str(err)
    assert str(err).startswith(f"t.yaml:{line}: ")


def test_the_published_schema_is_current() -> None:
    assert published_schema() == build_schema(), "run: python -m rivosim.scenarios.schema > " \
                                                 "src/rivosim/schema/scenario.schema.json"


# -- failures, reports and the CLI -------------------------------------------------------------------------------
FAILING = """\
name: failing-example
shop: {plan: plus}
customers:
  al: {email: al@example.com, first_name: Al}
steps:
  - order_placed: {customer: al, amount: 30}
  - expect:
      customers:
        al: {points: 999}
"""


def test_a_failure_names_the_step_line_expected_actual_and_the_journal(world: InProcessTransport) -> None:
    result = run(scenario(FAILING, "failing.yaml"), world)
    assert not result.passed and result.failure is not None
    assert (result.failure.file, result.failure.line) == ("failing.yaml", 7)
    text = format_failure(result)
    assert "failing.yaml:7: steps[1] expect" in text
    assert "points: expected 999, got 130" in text
    assert "control.orders.create" in text          # the journal excerpt around it


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "ok.yaml").write_text(textwrap.dedent("""\
        name: ok-example
        shop: {plan: plus}
        customers:
          al: {email: al@example.com}
        steps:
          - order_placed: {customer: al, amount: 30}
          - expect:
              customers:
                al: {points: 130}
        """))
    (tmp_path / "zz-failing.yaml").write_text(FAILING)
    yield tmp_path


def test_cli_run_reports_and_writes_junit(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = files / "out.xml"
    transcript = files / "t.jsonl"
    code = main(["run", str(files / "ok.yaml"), str(files / "zz-failing.yaml"), "--junit", str(junit),
                 "--transcript", str(transcript)])
    out = capsys.readouterr().out
    assert code == 1
    assert "zz-failing.yaml:7: steps[1] expect" in out and "1 passed, 1 failed" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    assert transcript.read_text().count('"scenario": "ok-example"') > 3
    assert main(["run", str(files / "ok.yaml")]) == 0


def test_cli_run_stops_at_the_first_failure_unless_keep_going(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "aa-failing.yaml").write_text(FAILING.replace("failing-example", "failing-first"))
    assert main(["run", str(files / "aa-failing.yaml"), str(files / "ok.yaml")]) == 1
    assert "1 failed, 1 skipped" in capsys.readouterr().out
    assert main(["run", str(files / "aa-failing.yaml"), str(files / "ok.yaml"), "--keep-going"]) == 1
    assert "1 passed, 1 failed" in capsys.readouterr().out


def test_cli_run_reports_load_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nsteps:\n  - advance: P3X\n")
    assert main(["run", str(tmp_path)]) == 1
    assert f"{tmp_path / 'bad.yaml'}:3: steps[0].advance" in capsys.readouterr().err


def _demo_sim(customers: int) -> Simulator:
    return build_simulator(seed=7, clock="wall", demo=True, customers=customers, config=None)


def test_demo_runs_the_lifecycle_then_the_library_over_http(files: Path) -> None:
    from rivosim.demo import run_demo

    (files / "zz-failing.yaml").unlink()
    lines: list[str] = []
    assert run_demo(_demo_sim(3), DEMO_DOMAIN, out=lines.append, library=files) == 0
    text = "\n".join(lines)
    assert "Part 1" in text and "Part 2" in text and "1 passed, 0 failed" in text and "against http://" in text
    (files / "zz-failing.yaml").write_text(FAILING)
    assert run_demo(_demo_sim(0), DEMO_DOMAIN, out=lines.append, library=files, lifecycle=False) == 1


def test_a_fault_step_reaches_the_workflow_client_like_any_client(world: InProcessTransport) -> None:
    result = run(scenario("""\
        name: fault-example
        shop: {plan: plus}
        customers:
          al: {email: al@example.com}
        workflows:
          - name: lookup
            trigger: Review Complete
            actions:
              - get_customer: {as: c}
        steps:
          - fault: {match: {route: rivo.customers.get}, action: {type: error, status: 503}}
          - review: {customer: al, rating: 5}
          - expect:
              client_errors:
                - {where: get_customer, status: 503, count: 1}
          - fault: {clear: true}
          - review: {customer: al, rating: 5}
          - expect:
              workflow_runs:
                - {workflow: lookup, status: completed, count: 1}
                - {workflow: lookup, status: failed, count: 1}
        """), world)
    assert result.passed, format_failure(result)


def test_the_seed_coverage_table_names_only_library_scenarios() -> None:
    text = (LIBRARY / "README.md").read_text()
    table = text.split("## Seed coverage", 1)[1]
    named = set(re.findall(r"`([a-z0-9-]+)`", table))
    known = {s.name for s in SCENARIOS}
    assert named and named <= known, sorted(named - known)
    rows = [line for line in table.splitlines() if line.startswith("| **")]
    assert len(rows) >= 60
    for kind in ("Trigger", "Action", "Use case", "Setup", "Troubleshooting", "Best practice", "FAQ", "Sync guide"):
        assert any(row.startswith(f"| **{kind}**") for row in rows), kind
