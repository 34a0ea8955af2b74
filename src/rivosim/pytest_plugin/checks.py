"""The plugin's checks after each test: a simulator bug (a 500 nobody injected) or a request that matched no route
fails the test that made it, with the server-side traceback or the "nearest routes" explanation; the seed is
printed with any failure."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pytest

from rivosim.engine import Simulator
from rivosim.kernel.journal import Journal

__all__ = ["pytest_runtest_call", "pytest_runtest_makereport", "watch"]


# -- per-test bookkeeping ------------------------------------------------------------------------------------------
@dataclass
class _Watch:
    """One simulator a test used, and where its journal and bug list stood when the test started."""

    sim: Simulator
    label: str
    seed: int
    journal_since: int
    bugs_since: int
    errors_since: int
    allow_unmatched: bool
    notes: list[str] = field(default_factory=list)
    reported: bool = False


_WATCHES = pytest.StashKey[list[_Watch]]()


def _journal_seq(journal: Journal) -> int:
    return int(getattr(journal, "_seq", 0))


def watch(request: pytest.FixtureRequest, sim: Simulator, label: str, seed: int, allow_unmatched: bool) -> _Watch:
    errors = getattr(sim, "server_errors", [])
    watch = _Watch(sim, label, seed, _journal_seq(sim.journal), sim.bugs.total, len(errors), allow_unmatched)
    request.node.stash.setdefault(_WATCHES, []).append(watch)
    return watch


def _problems(watch: _Watch) -> list[str]:
    """What the test did wrong by the simulator's account (and marks it reported)."""
    sim = watch.sim
    out: list[str] = []
    with sim.lock:
        bugs = sim.bugs.since(watch.bugs_since)
        errors = list(getattr(sim, "server_errors", [])[watch.errors_since:])
        unmatched = [] if watch.allow_unmatched else [
            e for e in sim.journal.calls(since=watch.journal_since) if e.route is None and e.api in ("rivo", "shopify")]
    watch.bugs_since = sim.bugs.total
    watch.errors_since += len(errors)
    if unmatched:
        watch.journal_since = unmatched[-1].seq
    if bugs or errors:
        lines = [f"rivosim: simulator bug during this test ({watch.label}) — a 500 nobody injected; the simulator, "
                 "not your client, is at fault. Server-side error(s):"]
        for bug in bugs:
            lines.append(f"  {bug['where']}: {bug['error']}")
            if bug.get("traceback"):
                lines.extend("    " + line for line in bug["traceback"].splitlines())
        lines.extend(f"  {err}" for err in errors)
        out.append("\n".join(lines))
    if unmatched:
        lines = [f"rivosim: {len(unmatched)} request(s) matched no route ({watch.label}):"]
        for e in unmatched[:20]:
            lines.append(f"  {e.method} {e.path} -> {e.status}: {'; '.join(e.notes) or 'no route'}")
        lines.append("(expected? mark the test @pytest.mark.rivosim(allow_unmatched=True), pass "
                     "--rivosim-allow-unmatched, or set rivosim_fail_on_unmatched = false in the ini file)")
        out.append("\n".join(lines))
    return out


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    try:
        result = yield
    except BaseException:
        # The test failed on its own: keep its failure, add what the simulator saw as a report section.
        found = [p for w in item.stash.get(_WATCHES, []) for p in _problems(w)]
        if found:
            item.add_report_section("call", "rivosim", "\n\n".join(found))
        raise
    found = [p for w in item.stash.get(_WATCHES, []) for p in _problems(w)]
    if found:
        pytest.fail("\n\n".join(found), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    watches = item.stash.get(_WATCHES, [])
    if report.failed and watches:
        lines = []
        for w in watches:
            if w.reported:
                continue
            w.reported = True
            lines.append(f"{w.label}: seed {w.seed}" + (f" — {'; '.join(w.notes)}" if w.notes else ""))
        if lines:
            seed = watches[0].seed
            lines.append(f"replay: pytest '{item.nodeid}' --rivosim-seed={seed}")
            report.sections.append(("rivosim", "\n".join(lines)))
    return report

