"""The whole scenario library, in this process: wall time of loading and running every ``scenarios/*.yaml`` once,
the way ``rivosim run`` does (``load_paths`` + ``run_scenarios``, one shared simulator reset per scenario);
information only, but marked failed when a scenario fails to load or to pass, or the run passes its cap."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._common import ROOT, Figure, OutOfTime

if TYPE_CHECKING:
    from rivosim.scenarios.loader import Scenario
    from rivosim.scenarios.runner import ScenarioResult

__all__ = ["LIBRARY_CAP_SECONDS", "figure", "library"]

LIBRARY_CAP_SECONDS = 120.0


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


def figure(say: Callable[[str], None]) -> Figure:
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
