"""Start-up: from process start to the first successful HTTP response, ``rivosim serve`` vs the bare Flask app
under the same server shell (``python -m benchmarks._servers``, which loads only the shell's modules, not the
whole rivosim package). Median of 5 launches each, interleaved.

Both sides start from compiled bytecode: the packages they import from site-packages (Flask, werkzeug) were
compiled by pip, so rivosim's own modules (an editable install) are compiled first with ``compileall``. Otherwise
a machine with ``PYTHONDONTWRITEBYTECODE=1`` (this one) compiles every rivosim module from source on every
launch, which measures the compiler, not start-up.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ._common import PYTHON, Figure, free_port, median, pinned, running, wait_http

__all__ = ["run", "time_to_first_response"]


def time_to_first_response(argv_for_port: Callable[[int], list[str]], path: str, timeout: float = 30.0) -> float:
    """Seconds from ``Popen`` to the first 2xx answer to ``GET path``; the process is always ended."""
    port = free_port()
    t0 = time.perf_counter()
    with running(argv_for_port(port)) as proc:
        answered = wait_http(port, path, proc=proc, timeout=timeout, interval=0.002)
    return answered - t0


def rivosim_argv(port: int, *, demo: bool = False) -> list[str]:
    return [*pinned(0), PYTHON, "-m", "rivosim", "serve", "--port", str(port), "--clock", "wall", "--seed", "1",
            *([] if demo else ["--no-demo"])]


def bare_argv(port: int) -> list[str]:
    return [*pinned(0), PYTHON, "-m", "benchmarks._servers", "--port", str(port)]


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    launches = 3 if quick else 5
    root = Path(__file__).resolve().parent.parent
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(root / "src" / "rivosim"), str(root / "benchmarks")],
                   check=True)
    riv: list[float] = []
    bare: list[float] = []
    demo: list[float] = []
    for _ in range(launches):  # interleaved, so a busy moment on the machine hits both alike
        riv.append(time_to_first_response(rivosim_argv, "/_rivosim/clock"))
        bare.append(time_to_first_response(bare_argv, "/"))
        if not quick:
            demo.append(time_to_first_response(lambda p: rivosim_argv(p, demo=True), "/_rivosim/clock"))
    say("  rivosim serve --no-demo: " + ", ".join(f"{t * 1000:.0f}" for t in riv) + " ms")
    say("  bare Flask + shell:      " + ", ".join(f"{t * 1000:.0f}" for t in bare) + " ms")
    r, b = median(riv), median(bare)
    figures = [Figure(f"start-up to first 200 (median of {launches})", f"{r * 1000:.0f} ms", f"{b * 1000:.0f} ms",
                      f"{r / b:.2f}x", "≤ 2x", r / b <= 2.0,
                      "baseline = bare Flask app on the rivosim server shell, without importing the rivosim package; "
                      "both from compiled bytecode")]
    if demo:
        say("  rivosim serve (demo shop, 25 customers): " + ", ".join(f"{t * 1000:.0f}" for t in demo) + " ms")
        d = median(demo)
        figures.append(Figure(f"start-up with demo shop (median of {launches})", f"{d * 1000:.0f} ms",
                              f"{b * 1000:.0f} ms", f"{d / b:.2f}x", "info", None))
    return figures
