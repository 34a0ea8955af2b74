"""The pytest plugin's costs, next to baselines measured in the same run.

- Per-test overhead: a generated test file of N tests runs under ``python -m pytest`` in a child process whose
  conftest times each test's whole protocol (set-up, call, teardown, reporting: pytest's own share included);
  the median over the tests is what one test costs. Variants: ``rivosim`` + ``rivosim_shop`` (and reading
  ``rivosim.client``), ``rivosim_server`` + its fresh shop, against a test that only builds a Flask test
  client (a bare Flask app's, and the simulator's own: ``create_app(Simulator()).test_client()``).
- An example suite of 16 tests on parallel workers: each test its own ``rivosim_shop`` on one shared ``rivosim serve``
  (``--rivosim-url``), advancing its own clock a year and asserting its webhook receiver and the Rivo API; the
  whole ``python -m pytest`` run with ``-n 4`` next to ``-n 0`` (interleaved rounds, medians).
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


# -- an example suite on parallel workers against one shared server -----------------------------------------
_SUITE_CONFTEST = """
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture(scope="session")
def receiver():
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append((self.headers.get("rivo-webhook-topic"), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()


@pytest.fixture
def rivosim_config():
    return {"plan": "plus", "clock": {"start": "2026-01-01T00:00:00Z"},
            "api": {"new_customer_visibility_delay": "PT0S"}, "rate_limits": {"rivo": {"enabled": False}}}
"""

_SUITE_TESTS = """
from datetime import timedelta

import pytest
import requests

from rivosim.kernel.clock import parse_instant

START = parse_instant("2026-01-01T00:00:00Z")


@pytest.mark.parametrize("n", range({count}))
def test_a_year_of_birthdays_on_my_own_clock(rivosim_shop, receiver, n):
    hook, got = receiver
    api, headers = rivosim_shop.rivo_url, rivosim_shop.rivo_headers
    assert requests.post(api + "/webhooks", headers=headers, timeout=60,
                         json={{"event_type": "customer/birthday", "url": hook}}).status_code == 201
    email = f"c{{n}}@{{rivosim_shop.domain}}"
    created = requests.post(rivosim_shop.shop_url + "/customers", timeout=60,
                            json={{"email": email, "first_name": "Cy", "dob": f"{{n % 12 + 1:02d}}-15"}})
    assert created.status_code == 201, created.text
    for _ in range(4):  # a year in steps: only this shop's time moves
        rivosim_shop.advance("P92D")
    assert rivosim_shop.now() == START + timedelta(days=368)
    settled = requests.post(rivosim_shop.url + "/_rivosim/run_until_idle", json={{"shop": rivosim_shop.domain}},
                            timeout=60)
    assert settled.status_code == 200
    mine = [body for topic, body in got if topic == "customer/birthday" and body["customer"]["email"] == email]
    assert len(mine) == 1, got
    member = requests.get(api + f"/customers/{{created.json()['id']}}", headers=headers, timeout=60)
    assert member.status_code == 200 and member.json()["data"]["attributes"]["points_tally"] > 0
"""


def parallel_suite(count: int, rounds: int, workers: int = 4) -> tuple[float, float, list[float], list[float]]:
    """Median wall seconds of ``python -m pytest`` over a generated suite of ``count`` tests (each its own
    ``rivosim_shop`` on one shared ``rivosim serve`` via ``--rivosim-url``, advancing its own clock a year and
    asserting what its webhook receiver and the Rivo API show) with ``-n 0`` and with ``-n workers``,
    interleaved over ``rounds``. A failing run raises."""
    from .scenario_jobs import serve

    walls: dict[int, list[float]] = {0: [], workers: []}
    with tempfile.TemporaryDirectory(prefix="rivosim-bench-xdist-") as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text("[pytest]\n")
        (folder / "conftest.py").write_text(_SUITE_CONFTEST)
        (folder / "test_suite.py").write_text(_SUITE_TESTS.format(count=count))
        with serve(folder, "server") as url:
            for round_ in range(rounds):
                for n in ((0, workers) if round_ % 2 == 0 else (workers, 0)):
                    t0 = time.perf_counter()
                    done = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                                           "-n", str(n), "--rivosim-url", url, "test_suite.py"], cwd=folder,
                                          env=child_env(), capture_output=True, timeout=600)
                    walls[n].append(time.perf_counter() - t0)
                    if done.returncode != 0:
                        raise RuntimeError(f"-n {n} failed:\n{done.stdout.decode()[-3000:]}")
    return median(walls[0]), median(walls[workers]), walls[0], walls[workers]


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
    figures.append(_parallel_suite_figure(quick, say))
    return figures


def _parallel_suite_figure(quick: bool, say: Callable[[str], None]) -> Figure:
    count, rounds = 16, (1 if quick else 3)
    say(f"  example suite: {count} tests on one rivosim serve via --rivosim-url, -n 0 and -n 4, x{rounds}…")
    try:
        serial, parallel, serial_runs, parallel_runs = parallel_suite(count, rounds)
    except Exception as exc:  # a failing suite is the figure's failure, not the section's
        return Figure(f"example suite of {count}: pytest -n 4 vs -n 0, one server", "failed", "-", "-", "passes",
                      False, str(exc)[-300:])
    say(f"    -n 0 {serial:.1f} s, -n 4 {parallel:.1f} s (medians)")
    runs = ", ".join(f"{t:.1f}" for t in serial_runs) + " / " + ", ".join(f"{t:.1f}" for t in parallel_runs)
    return Figure(f"example suite of {count}: pytest -n 4 vs -n 0, one server (median of {rounds})",
                  f"{parallel:.1f} s", f"{serial:.1f} s", f"{parallel / serial:.2f}x", "passes", True,
                  f"each test its own rivosim_shop advancing its own clock a year, asserting its receiver's "
                  f"birthday delivery and the Rivo API; both pass; per round -n 0 / -n 4: {runs} s (whole pytest "
                  "runs, start-up of 4 workers included; 2 shared cores)")

