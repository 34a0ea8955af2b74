"""Reporting: a progress bar (a line per scenario when the output is not a terminal), the summary table
(scenario, steps, result, time), failure details (the step's file:line, expected vs actual, the journal
around it) and JUnit XML for CI.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from rivosim.scenarios.loader import LoadError, Scenario
from rivosim.scenarios.runner import ScenarioResult

__all__ = ["Progress", "format_failure", "format_summary", "write_junit"]


class Progress:
    """``[#####.......]  5/23  welcome-series`` redrawn in place on a terminal; plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, *, width: int = 28) -> None:
        self.total = total
        self.stream = stream or sys.stdout
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0

    def start(self, index: int, scenario: Scenario) -> None:
        if self.tty:
            filled = self.width * index // max(self.total, 1)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {index:>3}/{self.total}  {scenario.name[:40]:<40}")
            self.stream.flush()

    def result(self, index: int, result: ScenarioResult) -> None:
        self.done = index + 1
        if self.tty:
            if self.done == self.total:
                self.stream.write(f"\r[{'#' * self.width}] {self.total:>3}/{self.total}  {'done':<40}\n")
            elif not result.passed and not result.skipped:
                self.stream.write(f"\r  FAILED {result.name:<60}\n")
        else:
            self.stream.write(f"{self.done:>3}/{self.total} {result.status:<7} {result.name} "
                              f"({result.seconds * 1000:.0f} ms)\n")
        self.stream.flush()


def _table(rows: Sequence[Sequence[str]], align: str) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align, strict=True)]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def format_summary(results: Sequence[ScenarioResult], *, mode: str, seconds: float) -> str:
    rows = [("scenario", "steps", "result", "time")]
    for r in results:
        steps = f"{r.steps_run}/{len(r.scenario.steps)}"
        rows.append((r.name, steps, r.status, "-" if r.skipped else f"{r.seconds * 1000:.0f} ms"))
    passed = sum(1 for r in results if r.passed)
    failed = sum(1 for r in results if not r.passed and not r.skipped)
    skipped = sum(1 for r in results if r.skipped)
    lines = _table(rows, "lrlr")
    tail = f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
    lines.append(f"\n{tail} in {seconds:.2f} s ({mode})")
    return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    text = json.dumps(value, indent=2, default=str, ensure_ascii=False)
    return text if len(text) < 2500 else text[:2500] + "\n…"


def format_failure(result: ScenarioResult) -> str:
    f = result.failure
    if f is None:
        return ""
    out = [f"FAILED {result.name}", f"  {f.file}:{f.line}: {f.step}", f"  {f.message}"]
    if f.shop:
        out.append(f"  shop: {f.shop}")
    if f.expected is not None:
        out.append("  expected:")
        out += [f"    {line}" for line in _show(f.expected).splitlines()]
    if f.actual is not None:
        out.append("  actual:")
        out += [f"    {line}" for line in _show(f.actual).splitlines()]
    if f.journal:
        out.append("  journal (latest requests to this shop):")
        out += [f"    {line}" for line in f.journal]
    return "\n".join(out)


def format_load_error(error: LoadError) -> str:
    return f"LOAD ERROR {error}"


def write_junit(results: Sequence[ScenarioResult], path: str | Path, *, load_errors: Sequence[LoadError] = (),
                suite: str = "rivosim scenarios") -> None:
    cases = ET.Element("testsuite", name=suite)
    failures = errors = skipped = 0
    total_time = 0.0
    for r in results:
        case = ET.SubElement(cases, "testcase", classname=f"scenarios.{Path(r.scenario.path).stem}", name=r.name,
                             file=r.scenario.path, line=str(r.scenario.line), time=f"{r.seconds:.3f}")
        total_time += r.seconds
        if r.skipped:
            skipped += 1
            ET.SubElement(case, "skipped", message="not run: an earlier scenario failed (use --keep-going)")
        elif r.failure is not None:
            failures += 1
            node = ET.SubElement(case, "failure", message=f"{r.failure.file}:{r.failure.line}: {r.failure.message}")
            node.text = format_failure(r)
    for err in load_errors:
        errors += 1
        case = ET.SubElement(cases, "testcase", classname="scenarios.load", name=Path(err.file).name, file=err.file,
                             line=str(err.line), time="0")
        ET.SubElement(case, "error", message=str(err)).text = str(err)
    cases.set("tests", str(len(results) + len(load_errors)))
    cases.set("failures", str(failures))
    cases.set("errors", str(errors))
    cases.set("skipped", str(skipped))
    cases.set("time", f"{total_time:.3f}")
    root = ET.Element("testsuites")
    root.append(cases)
    ET.indent(root)
    Path(path).write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n", "utf-8")


def print_report(results: Sequence[ScenarioResult], *, mode: str, seconds: float,
                 out: Callable[[str], None] = print) -> None:
    for r in results:
        if r.failure is not None:
            out(format_failure(r) + "\n")
    out(format_summary(results, mode=mode, seconds=seconds))
