"""A long simulated span costs little: the same small scenario advanced two years and one minute, in-process,
timed interleaved (fastest of 7 each). Two years run 730 daily ticks (birthdays, expiry warnings and expiries)
and the runner stops once per delivery, so the target is at most twice one minute."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import Figure

# The scenario tests/scenarios/test_library.py counts transport calls for; here it is timed.
SPAN = (Path(__file__).resolve().parents[1] / "tests" / "scenarios" / "span.yaml.template").read_text("utf-8")


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from rivosim import Simulator
    from rivosim.scenarios.loader import load_text
    from rivosim.scenarios.runner import run_scenario
    from rivosim.transports.runner import InProcessTransport

    say("  a scenario advanced two years vs one minute…")
    world = InProcessTransport(Simulator())
    cases = {label: load_text(SPAN.format(label=label, span=span), f"{label}.yaml")
             for label, span in (("long", "P2Y"), ("short", "PT1M"))}
    times: dict[str, list[float]] = {"long": [], "short": []}
    failed = []
    for _ in range(3 if quick else 7):
        for label, case in cases.items():
            started = time.perf_counter()
            result = run_scenario(case, in_process=world)
            times[label].append(time.perf_counter() - started)
            if not result.passed:
                failed.append(label)
    long, short = min(times["long"]), min(times["short"])
    ratio = long / short
    note = f"scenario failed: {sorted(set(failed))}" if failed else "fastest of interleaved runs"
    return [Figure("scenario advanced P2Y vs PT1M, in-process", f"{long * 1000:.1f} ms", f"{short * 1000:.1f} ms",
                   f"{ratio:.2f}x", "<= 2x", ratio <= 2.0 and not failed, note)]
