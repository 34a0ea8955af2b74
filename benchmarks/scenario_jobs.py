"""``rivosim run --against URL --jobs 4`` next to ``--jobs 1`` over the whole scenario library (issue 15).

Each round starts two fresh ``rivosim serve --clock virtual`` processes (free 127.0.0.1 ports) and runs every
``scenarios/*.yaml`` against one with one worker and against the other with four, as ``rivosim run`` does
(``run_parallel``), in alternating order from round to round; the figure is the median wall time of each. The
transcripts are compared per scenario, byte for byte once the servers' and receivers' ports and the delivery
attempts' wall-clock ``duration_ms`` are blanked: the figure fails when one differs or a scenario does not pass
in both. On two shared cores the speed-up is information, not a target.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._common import ROOT, Figure, running

__all__ = ["library_jobs", "run", "serve"]

JOBS = 4


@contextmanager
def serve(folder: Path, name: str) -> Iterator[str]:
    """A ``rivosim serve`` on a free port with a virtual clock; its URL once it is ready."""
    creds = folder / f"{name}.json"
    argv = [sys.executable, "-m", "rivosim", "serve", "--host", "127.0.0.1", "--port", "0", "--clock", "virtual",
            "--seed", "3", "--credentials-json", str(creds)]
    with running(argv, log=folder / f"{name}.log") as proc:
        deadline = time.monotonic() + 60
        while not creds.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rivosim serve did not start: {(folder / f'{name}.log').read_text()[-500:]}")
            time.sleep(0.05)
        yield str(json.loads(creds.read_text("utf-8"))["url"])


def _plain(line: str) -> str:
    return re.sub(r'"duration_ms":\s*[0-9.]+', '"duration_ms":0', re.sub(r"127\.0\.0\.1:\d+", "<host>", line))


def _run(url: str, jobs: int) -> tuple[float, dict[str, str], dict[str, list[str]]]:
    """Wall seconds, each scenario's status, and each scenario's transcript lines (ports and wall durations blanked)."""
    from rivosim.scenarios.loader import load_paths
    from rivosim.scenarios.parallel import run_parallel

    scenarios, errors = load_paths([ROOT / "scenarios"])
    if errors:
        raise RuntimeError(f"the library does not load: {errors[0]}")
    started = time.perf_counter()
    results = run_parallel(scenarios, against=url, jobs=jobs)
    seconds = time.perf_counter() - started
    transcripts = {r.name: [_plain(json.dumps(item, sort_keys=True)) for item in r.transcript] for r in results}
    return seconds, {r.name: r.status for r in results}, transcripts


def library_jobs(rounds: int, jobs: int = JOBS) -> dict[str, Any]:
    """``rounds`` interleaved rounds of the library at ``--jobs 1`` and ``--jobs N``, each on a fresh server."""
    walls: dict[int, list[float]] = {1: [], jobs: []}
    differ: set[str] = set()
    failed: set[str] = set()
    count = 0
    with tempfile.TemporaryDirectory(prefix="rivosim-bench-jobs-") as tmp:
        for round_ in range(rounds):
            got: dict[int, tuple[dict[str, str], dict[str, list[str]]]] = {}
            for n in ((1, jobs) if round_ % 2 == 0 else (jobs, 1)):
                with serve(Path(tmp), f"r{round_}-j{n}") as url:
                    seconds, statuses, transcripts = _run(url, n)
                walls[n].append(seconds)
                got[n] = (statuses, transcripts)
            (serial_status, serial), (parallel_status, parallel) = got[1], got[jobs]
            count = len(serial)
            failed |= {name for name, s in {**serial_status, **parallel_status}.items() if s != "passed"}
            failed |= {name for name in serial_status if serial_status[name] != parallel_status.get(name)}
            differ |= {name for name in serial if serial[name] != parallel.get(name)}
    return {"serial": statistics.median(walls[1]), "parallel": statistics.median(walls[jobs]), "walls": walls,
            "scenarios": count, "differ": sorted(differ), "failed": sorted(failed), "jobs": jobs, "rounds": rounds}


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    rounds = 1 if quick else 3
    say(f"  the library against rivosim serve: --jobs 1 and --jobs {JOBS}, {rounds} interleaved round(s)…")
    out = library_jobs(rounds)
    serial, parallel, n = out["serial"], out["parallel"], out["scenarios"]
    say(f"    --jobs 1 {serial:.1f} s, --jobs {JOBS} {parallel:.1f} s (medians); "
        f"{n - len(out['differ'])}/{n} transcripts identical")
    same = not out["differ"] and not out["failed"]
    problems = ([f"transcripts differ: {', '.join(out['differ'])}"] if out["differ"] else []) + \
        ([f"not passed in both: {', '.join(out['failed'])}"] if out["failed"] else [])
    runs = ", ".join(f"{t:.1f}" for t in out["walls"][1]) + " / " + ", ".join(f"{t:.1f}" for t in out["walls"][JOBS])
    note = "; ".join(problems) if problems else (
        f"all {n} passed in both; per round --jobs 1 / --jobs {JOBS}: {runs} s; 2 cores shared by the machine")
    return [
        Figure(f"library against one server: --jobs {JOBS} vs --jobs 1 (median of {rounds})", f"{parallel:.1f} s",
               f"{serial:.1f} s", f"{parallel / serial:.2f}x", "info", None, note),
        Figure(f"  transcripts --jobs {JOBS} identical to --jobs 1", f"{n - len(out['differ'])}/{n}", f"{n}/{n}",
               "-", "all", same, "ports and delivery duration_ms blanked; everything else byte for byte"),
    ]
