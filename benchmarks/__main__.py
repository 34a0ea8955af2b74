"""``python -m benchmarks [lifecycle] [http] [seeding] [startup] [faults] [inprocess] [plugin] [scenarios]
[openapi] [hostile] [clocks] [snapshot] [--quick]``: run the benchmarks and print one table of figures, each next
to a baseline measured in the same run.
Exit status 0 even when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable

from ._common import Figure

__all__ = ["SECTIONS", "format_table", "main"]


def _http(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import http_load

    return http_load.run(quick, say)


def _seeding(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import seeding

    return seeding.run(quick, say)


def _startup(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import startup

    return startup.run(quick, say)


def _lifecycle(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import lifecycle

    return lifecycle.run(quick, say)


def _faults(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import faults_load

    return faults_load.run(quick, say)


def _inprocess(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import inprocess_load

    return inprocess_load.run(quick, say)


def _plugin(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import plugin

    return plugin.run(quick, say)


def _hostile(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import hostile

    return hostile.run(quick, say)


def _scenarios(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import scenarios_load

    return scenarios_load.run(quick, say)


def _snapshot(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import snapshot

    return snapshot.run(quick, say)


def _openapi(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import openapi_docs

    return openapi_docs.run(quick, say)


def _clocks(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from . import shop_clocks

    return shop_clocks.run(quick, say)


SECTIONS: dict[str, Callable[[bool, Callable[[str], None]], list[Figure]]] = {
    "lifecycle": _lifecycle,
    "startup": _startup,
    "seeding": _seeding,
    "http": _http,
    "faults": _faults,
    "inprocess": _inprocess,
    "plugin": _plugin,
    "scenarios": _scenarios,
    "openapi": _openapi,
    "hostile": _hostile,
    "clocks": _clocks,
    "snapshot": _snapshot,
}


def _verdict(ok: bool | None, target: str) -> str:
    if ok is None:
        return "skipped" if target != "info" and not target.startswith("info") else "-"
    return "pass" if ok else "MISS <<<"


def format_table(figures: list[Figure]) -> str:
    head = ("figure", "rivosim", "baseline", "ratio", "target", "result")
    rows = [(f.name, f.rivosim, f.baseline, f.ratio, f.target, _verdict(f.ok, f.target)) for f in figures]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(head), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    notes = [f"  * {f.name}: {f.note}" for f in figures if f.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"sections to run (default: all): {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="shorter runs (whole suite well under 90 s)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    names = args.names or list(SECTIONS)

    def say(text: str) -> None:
        print(text, flush=True)

    load = _load_average()
    if load is not None and load > 0.5:
        say(f"note: load average {load:.2f} before starting; other work on this machine makes figures noisy "
            "(ratios are measured interleaved, which helps but does not cure it)")
    figures: list[Figure] = []
    started = time.perf_counter()
    for name in names:
        say(f"== {name} {'(quick) ' if args.quick else ''}==")
        t0 = time.perf_counter()
        try:
            figures += SECTIONS[name](args.quick, say)
        except Exception as exc:  # one broken section must not hide the others' figures
            traceback.print_exc()
            figures.append(Figure(f"{name}: section failed", "-", "-", "-", "-", False,
                                  f"{type(exc).__name__}: {exc}"))
        say(f"   ({time.perf_counter() - t0:.1f} s)")
    missed = sum(1 for f in figures if f.ok is False)
    say("")
    say(format_table(figures))
    say("")
    say(f"{len(figures)} figures, {missed} missed target{'s' if missed != 1 else ''} "
        f"({time.perf_counter() - started:.0f} s). Benchmarks report; they do not gate: exit status 0.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
