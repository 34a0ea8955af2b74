"""The pytest plugin's costs, next to baselines measured in the same run.

- Per-test overhead: a generated test file of N tests runs under ``python -m pytest`` in a child process whose
  conftest times each test's whole protocol (set-up, call, teardown, reporting: pytest's own share included);
  the median over the tests is what one test costs. Variants: ``rivosim`` + ``rivosim_shop`` (and reading
  ``rivosim.client``), ``rivosim_server`` + its fresh shop, against a test that only builds a Flask test
  client (a bare Flask app's, and the simulator's own: ``create_app(Simulator()).test_client()``).
- Server start and stop: the session server (``rivosim.transports.server.Server``) against a bare werkzeug server thread
  (``make_server`` + ``serve_forever`` + ``shutdown``) serving the same app, started and stopped the same way.
  werkzeug's ``serve_forever`` polls for shutdown every 0.5 s by default, which would make the baseline look slow
  for a reason that has nothing to do with serving: the baseline polls every 0.05 s instead (our tick interval).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ._common import PYTHON, Figure, child_env, median

__all__ = ["VARIANTS", "per_test_ms", "run", "server_start_stop"]

_HEADER = "import pytest\nfrom flask import Flask\nfrom rivosim import Simulator, create_app\n\n"
VARIANTS: dict[str, str] = {
    "bare_flask": "def test_{n}():\n    assert Flask('bench').test_client() is not None\n",
    "rivosim_app": "def test_{n}():\n    assert create_app(Simulator(seed={n})).test_client() is not None\n",
    "plugin": "def test_{n}(rivosim, rivosim_shop):\n    assert rivosim_shop.domain in rivosim.shops\n",
    "plugin_client": "def test_{n}(rivosim, rivosim_shop):\n    assert rivosim.client is not None\n",
    "server": "def test_{n}(rivosim_server):\n    assert rivosim_server.domain in rivosim_server.sim.shops\n",
}


_TIMER = """
import json, os, time

_T = {}


def pytest_runtest_logstart(nodeid, location):
    _T[nodeid] = time.perf_counter()


def pytest_runtest_logfinish(nodeid, location):
    _T[nodeid] = time.perf_counter() - _T[nodeid]


def pytest_sessionfinish(session):
    with open(os.environ["RIVOSIM_BENCH_OUT"], "w") as fh:
        json.dump(list(_T.values()), fh)
"""


def _item_seconds(folder: Path, variant: str, count: int) -> list[float]:
    """Run ``count`` tests of ``variant`` in a child pytest; the seconds each test's whole protocol took (set-up,
    call, teardown and reporting: what a test costs, pytest's own share included), in run order."""
    path = folder / f"test_{variant}.py"
    path.write_text(_HEADER + "\n".join(VARIANTS[variant].format(n=n) for n in range(count)))
    out = folder / f"{variant}.json"
    done = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", str(path)],
                          cwd=folder, env=child_env(RIVOSIM_BENCH_OUT=str(out)), capture_output=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} x{count} failed:\n{done.stdout.decode()[-2000:]}")
    return list(json.loads(out.read_text()))


def per_test_ms(variants: list[str], count: int, repeats: int) -> dict[str, float]:
    """Milliseconds one test of each variant costs: the median over its tests (the first few, which warm up
    imports and start the session server, are left out), then the median over ``repeats`` interleaved runs."""
    samples: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="rivosim-bench-") as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text("[pytest]\n")
        (folder / "conftest.py").write_text(_TIMER)
        for _ in range(repeats):
            for v in variants:
                samples[v].append(statistics.median(_item_seconds(folder, v, count)[5:]) * 1000)
    return {v: statistics.median(s) for v, s in samples.items()}


def _werkzeug_start_stop(app: object) -> float:
    from werkzeug.serving import make_server

    t0 = time.perf_counter()
    server = make_server("127.0.0.1", 0, app)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.shutdown()
    thread.join()
    server.server_close()
    return time.perf_counter() - t0


def _rivosim_start_stop(app: object, tick: Callable[[], None]) -> float:
    from rivosim.transports.server import Server

    t0 = time.perf_counter()
    server = Server(app, tick=tick).start()  # type: ignore[arg-type]
    server.stop()
    return time.perf_counter() - t0


def server_start_stop(rounds: int) -> tuple[float, float, float]:
    """Median seconds: rivosim's server, the werkzeug baseline (same app), and the whole session fixture
    (a fresh wall-clock simulator and app, then the server)."""
    from rivosim.pytest_plugin import PluginSimulator

    sim = PluginSimulator(seed=1, clock="wall")
    app = sim.app
    ours: list[float] = []
    base: list[float] = []
    whole: list[float] = []
    for _ in range(rounds):
        ours.append(_rivosim_start_stop(app, sim.tick))
        base.append(_werkzeug_start_stop(app))
        t0 = time.perf_counter()
        fresh = PluginSimulator(seed=2, clock="wall")
        _rivosim_start_stop(fresh.app, fresh.tick)
        fresh.outbox.close()
        whole.append(time.perf_counter() - t0)
    sim.outbox.close()
    return median(ours), median(base), median(whole)


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    count, repeats = (60, 1) if quick else (300, 3)
    variants = list(VARIANTS)
    say(f"  per-test cost: median per-test time over {count} generated tests per variant, x{repeats}")
    ms = per_test_ms(variants, count, repeats)
    for v in variants:
        say(f"    {v:14} {ms[v]:7.2f} ms/test")
    figures = []

    def ratio_figure(name: str, ours: str, base: str, target: float | None, note: str = "") -> Figure:
        r = ms[ours] / ms[base]
        return Figure(name, f"{ms[ours]:.2f} ms", f"{ms[base]:.2f} ms", f"{r:.2f}x",
                      f"≤ {target:g}x" if target else "info", (r <= target) if target else None, note)

    figures.append(ratio_figure("per test: rivosim + rivosim_shop", "plugin", "bare_flask", 3.0,
                                "baseline = a test that builds a bare Flask app's test client"))
    figures.append(ratio_figure("per test: rivosim_server + fresh shop", "server", "bare_flask", 3.0,
                                "one server per session; the shop is created and deleted per test"))
    figures.append(ratio_figure("per test: rivosim + rivosim_shop + rivosim.client", "plugin_client",
                                "rivosim_app", 3.0,
                                "baseline = a test that builds the simulator's own test client by hand"))
    rounds = 5 if quick else 15
    ours, base, whole = server_start_stop(rounds)
    say(f"  server start+stop: rivosim {ours * 1000:.1f} ms, werkzeug thread {base * 1000:.1f} ms, "
        f"session fixture {whole * 1000:.1f} ms (median of {rounds})")
    figures.append(Figure(f"server start+stop (median of {rounds})", f"{ours * 1000:.1f} ms", f"{base * 1000:.1f} ms",
                          f"{ours / base:.2f}x", "≤ 2x", ours / base <= 2.0,
                          "baseline = werkzeug make_server thread, same app, serve_forever(poll_interval=0.05)"))
    figures.append(Figure("session server fixture (new simulator + app + start+stop)", f"{whole * 1000:.1f} ms",
                          f"{base * 1000:.1f} ms", f"{whole / base:.2f}x", "info", None,
                          "paid once per session (per xdist worker)"))
    return figures

