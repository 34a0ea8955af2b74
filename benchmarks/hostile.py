"""Server mode under hostile and careless clients (issue 14), four figures in one run:

- p99 of a well-behaved client (wrk, GET customer, 4 connections) alone, and while 500 slowloris connections
  dribble header bytes (reopened as the server closes them) and one client sends 40,000-header requests back to
  back (target ≤ 2x alone): interleaved runs of 12 s (each attacked one holds a timeout wave), medians;
- GET customer throughput of ``rivosim serve`` next to the bare-Flask ceiling under granian, in the same run
  (target ≥ 75 %: the hardening may not cost throughput);
- RSS per pending webhook delivery: 20,000 deliveries to a black-hole receiver queued in the fair sender, minus
  the same world without a subscription (target ≤ 4 KB);
- RSS drift over 1,000,000 mixed requests (Rivo, Shopify and control reads, refused writes) through the full
  pipeline in-process (unmatched paths included), with ``serve``'s GC policy: RSS after the last request against
  RSS after the first 10 % (target ≤ 10 %). ``--quick``: 100,000 requests. The child reports every 5 %; the run
  has a time budget (``RIVOSIM_BENCH_DRIFT_SECONDS``, default 2,400 s) and, when it is cut short, the figure says
  how far it got and is not judged.

The RSS figures come from child processes (``python -m benchmarks.hostile pending|drift N``) so each starts clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

from . import unmatched_cost
from ._common import PYTHON, Figure, child_env, median, rss_kb
from .http_load import (
    CUSTOMERS,
    WrkResult,
    capture,
    granian_argv,
    run_wrk,
    start_bare,
    start_rivosim,
)

__all__ = ["run"]

SLOWLORIS = 500
BOMB_HEADERS = 40_000


# -- attackers -------------------------------------------------------------------------------------------------
@contextmanager
def attack(port: int, say: Callable[[str], None]) -> Iterator[dict[str, int]]:
    """500 slowloris connections (reopened as the server closes them) and one header-bomb client (a 40,000-header
    request, then another 0.2 s after its 431)."""
    stop = threading.Event()
    counts = {"slowloris_opened": 0, "bombs": 0, "bomb_431": 0}

    def slowloris() -> None:
        socks: list[socket.socket] = []
        while not stop.is_set():
            while len(socks) < SLOWLORIS and not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=2)
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                    socks.append(s)
                    counts["slowloris_opened"] += 1
                except OSError:
                    break
            alive = []
            for s in socks:  # one more header byte each, now and then: never finishing
                try:
                    s.sendall(b"X")
                    alive.append(s)
                except OSError:
                    s.close()
            socks = alive
            stop.wait(1.0)
        for s in socks:
            s.close()

    bomb = b"GET " + CUSTOMERS.encode() + b" HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * BOMB_HEADERS + b"\r\n"

    def header_bomb() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    with contextlib.suppress(OSError):  # the server answered 431 and stopped reading
                        s.sendall(bomb)
                    answer = s.recv(64)
                    counts["bombs"] += 1
                    counts["bomb_431"] += answer.startswith(b"HTTP/1.1 431")
            except OSError:
                pass
            stop.wait(0.2)  # one bomb after another, a few a second (not a flood: that is a different test)

    threads = [threading.Thread(target=slowloris, daemon=True), threading.Thread(target=header_bomb, daemon=True)]
    for t in threads:
        t.start()
    time.sleep(1.5)  # let the slowloris connections open
    try:
        yield counts
    finally:
        stop.set()
        for t in threads:
            t.join(10)


# -- child processes for RSS -----------------------------------------------------------------------------------
def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([PYTHON, "-m", "benchmarks.hostile", *args], capture_output=True, text=True,
                          env=child_env(), timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks.hostile {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def pending_child(n: int, subscribe: bool) -> dict[str, Any]:
    import gc

    from rivosim import Simulator
    from rivosim.webhooks.senders import ThreadedSender

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(4096)
    sim = Simulator(seed=1, clock="wall")
    sim.use_sender(ThreadedSender())
    shop = sim.create_shop({"domain": "pending.myshopify.com", "api": {"new_customer_visibility_delay": 0},
                            "webhooks": {"timeout_seconds": 60, "max_attempts": 1}})
    if subscribe:
        shop.rivo.create_subscription({"event_type": "points_event/created",
                                       "url": f"http://127.0.0.1:{hole.getsockname()[1]}/hole"})
    for i in range(200):  # warm every code path (and the sender's threads) first
        shop.shopify.create_customer(email=f"warm{i}@example.com")
    sim.tick()
    time.sleep(0.5)
    gc.collect()
    before = rss_kb()
    for i in range(n):
        shop.shopify.create_customer(email=f"c{i}@example.com")
        if i % 1000 == 999:
            sim.tick()  # as the server's tick does: attempts leave for the sender's per-shop queue
    sim.tick()
    gc.collect()
    after = rss_kb()
    return {"before_kb": before, "after_kb": after, "deliveries": len(sim.outbox.deliveries),
            "waiting": getattr(sim.outbox.sender, "waiting", 0)}


def drift_child(n: int) -> None:
    """Print a JSON line every 5 % of ``n`` requests (``done``, ``rss_kb``, ``seconds``), then the last one with
    ``"final": true``: the parent keeps what arrived when its time budget runs out."""
    from werkzeug.test import EnvironBuilder

    from rivosim import Simulator, create_app
    from rivosim.cli import tune_gc_for_serving
    from rivosim.transports.wsgi import call_app

    sim = Simulator(seed=1, clock="wall")
    shop = sim.create_shop({"domain": "drift.myshopify.com", "customers": 1000,
                            "rate_limits": {"rivo": {"enabled": False}}})
    app = create_app(sim)
    tune_gc_for_serving(sim)
    cid = next(iter(shop.rivo.members))
    rivo = {"Authorization": shop.credentials.rivo_api_key}
    shopify = {"X-Shopify-Access-Token": shop.credentials.shopify_access_token}
    specs: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("GET", f"{CUSTOMERS}/{cid}", rivo, None),
        ("GET", f"{CUSTOMERS}?pagination[per_page]=5", rivo, None),
        ("GET", f"/admin/api/2025-10/customers/{cid}.json", shopify, None),
        ("GET", "/admin/api/2025-10/customers.json?limit=5", shopify, None),
        ("POST", "/merchant_api/v1/points_events", rivo, b'{"customer_identifier": "nobody", "points_amount": "x"}'),
        ("GET", "/_rivosim/clock", {}, None),
        ("GET", "/_rivosim/shops/drift.myshopify.com", {}, None),
        ("POST", "/admin/api/2025-10/customers.json", shopify, b'{"customer": {"email": "not an email"}}'),
        ("GET", "/merchant_api/v1/vip-tiers", rivo, None),  # unmatched: the nearest-route hints
        ("POST", "/admin/api/2025-10/custmers.json", shopify, b"{}"),
    ]
    templates = []
    for method, path, headers, body in specs:
        env = EnvironBuilder(path=path, method=method, headers=headers, data=body,
                             content_type="application/json" if body else None).get_environ()
        templates.append((env, body or b""))
    statuses: dict[str, int] = {}
    step = max(n // 20, 1)
    started = time.perf_counter()

    def report(done: int, **extra: Any) -> None:
        print(json.dumps({"done": done, "rss_kb": rss_kb(), "seconds": round(time.perf_counter() - started, 1),
                          **extra}), flush=True)

    for i in range(n):
        env, body = templates[i % len(templates)]
        environ = env.copy()
        environ["wsgi.input"] = BytesIO(body)
        status = call_app(app, environ)[0]
        if i < len(templates):
            statuses[status] = statuses.get(status, 0) + 1
        if (i + 1) % step == 0 and i + 1 < n:
            report(i + 1)
    report(n, final=True, statuses=statuses, bugs=sim.bugs.total)


def drift_samples(total: int, budget: float, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run the drift child for at most ``budget`` seconds; the samples it printed (the last ``final`` if it ran to
    the end)."""
    proc = subprocess.Popen([PYTHON, "-m", "benchmarks.hostile", "drift", str(total)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())
    samples: list[dict[str, Any]] = []
    timer = threading.Timer(budget, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sample = json.loads(line)
            samples.append(sample)
            if len(samples) % 4 == 0 or sample.get("final"):
                say(f"    {sample['done']:>9,} requests  RSS {sample['rss_kb'] / 1024:6.1f} MiB  "
                    f"{sample['seconds']:6.0f} s")
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if not samples and proc.returncode not in (0, -9):
        raise RuntimeError(f"benchmarks.hostile drift failed:\n{proc.stderr.read()[-2000:] if proc.stderr else ''}")
    return samples


# -- the section -----------------------------------------------------------------------------------------------
def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    started = time.perf_counter()
    figures: list[Figure] = []
    have_wrk = shutil.which("wrk") is not None
    have_granian = shutil.which("granian", path=str(Path(PYTHON).parent)) is not None
    runs, seconds = (1, 3) if quick else (3, 5)
    window = 4 if quick else 12  # p99 windows; 12 s holds one slowloris timeout wave (header timeout 10 s)
    if have_wrk:
        with tempfile.TemporaryDirectory(prefix="rivosim-hostile-") as tmpdir, ExitStack() as stack:
            tmp = Path(tmpdir)
            riv = stack.enter_context(start_rivosim(tmp, label="rivosim"))
            path = f"{CUSTOMERS}/{riv.customer_id}"

            def p99(label: str, i: int, window: int) -> float:
                res = run_wrk(riv.url(path), seconds=window, connections=4, headers=riv.auth)
                say(f"  {label:22} run {i + 1}/{runs} {res.rps:9,.0f} req/s  p99 {res.p99_ms:7.2f} ms"
                    + (f"  non-2xx {res.non_2xx}" if res.non_2xx else ""))
                return res.p99_ms

            run_wrk(riv.url(path), seconds=1, connections=4, headers=riv.auth)  # warm-up
            # Interleaved (alone, attacked, alone, ...) so both see the same machine; each attacked window is
            # longer than the 10 s header timeout, so the slowloris crowd times out and reconnects inside it.
            alone_runs, attacked_runs = [], []
            totals = {"slowloris_opened": 0, "bombs": 0, "bomb_431": 0}
            for i in range(runs):
                alone_runs.append(p99("well-behaved, alone", i, window))
                with attack(riv.port, say) as counts:
                    attacked_runs.append(p99("under attack", i, window))
                for key in totals:
                    totals[key] += counts[key]
            alone, attacked = median(alone_runs), median(attacked_runs)
            say(f"  attack: {totals['slowloris_opened']} slowloris connections opened, {totals['bombs']} header "
                f"bombs ({totals['bomb_431']} answered 431)")
            ratio = attacked / alone
            figures.append(Figure("hostile: p99 under 500 slowloris + header bomb", f"{attacked:.2f} ms",
                                  f"{alone:.2f} ms alone", f"{ratio:.2f}x", "≤ 2x", ratio <= 2.0,
                                  f"median of {runs} interleaved {window} s runs each; "
                                  f"{totals['bomb_431']} bombs answered 431"))
            if have_granian:
                responses = tmp / "responses.json"
                responses.write_text(json.dumps(capture(riv)), "utf-8")
                ceiling = stack.enter_context(start_bare("granian", granian_argv, responses, tmp))
                results: dict[str, list[WrkResult]] = {"rivosim": [], "granian": []}
                for target in (riv, ceiling):
                    run_wrk(target.url(path), seconds=1, headers=riv.auth)
                for i in range(runs):
                    for label, target in (("rivosim", riv), ("granian", ceiling)):
                        res = run_wrk(target.url(path), seconds=seconds, headers=riv.auth)
                        results[label].append(res)
                        say(f"  GET customer {label:8} run {i + 1}/{runs} {res.rps:9,.0f} req/s")
                ours, ceil = (median([r.rps for r in results[k]]) for k in ("rivosim", "granian"))
                figures.append(Figure("hostile: GET customer / bare-Flask ceiling", f"{ours:,.0f} req/s",
                                      f"{ceil:,.0f} req/s", f"{ours / ceil:.0%}", "≥ 75 %", ours / ceil >= 0.75))
            else:
                figures.append(Figure("hostile: GET customer / bare-Flask ceiling", "-", "-", "-", "≥ 75 %", None,
                                      "SKIPPED: granian not installed"))
    else:
        figures.append(Figure("hostile: p99 under attack", "-", "-", "-", "≤ 2x", None, "SKIPPED: wrk not installed"))

    n = 5_000 if quick else 20_000
    say(f"  RSS per pending delivery: {n:,} deliveries to a black hole, and the same world without them ...")
    with_sub, without = _child(["pending", str(n), "1"]), _child(["pending", str(n), "0"])
    grown = (with_sub["after_kb"] - with_sub["before_kb"]) - (without["after_kb"] - without["before_kb"])
    per = grown * 1024 / max(with_sub["deliveries"], 1)
    say(f"  {with_sub['deliveries']:,} deliveries ({with_sub['waiting']:,} waiting in the sender): "
        f"+{with_sub['after_kb'] - with_sub['before_kb']:,} KiB vs +{without['after_kb'] - without['before_kb']:,} KiB")
    figures.append(Figure("hostile: RSS per pending delivery", f"{per:,.0f} B", f"{n:,} deliveries", "-", "≤ 4 KB",
                          per <= 4096))

    say("  a wrong URL's cost next to a routed one (in-process) ...")
    figures += unmatched_cost.run(quick, say)

    total = 100_000 if quick else 1_000_000
    budget = float(os.environ.get("RIVOSIM_BENCH_DRIFT_SECONDS", "600" if quick else "2400"))
    say(f"  RSS drift: {total:,} mixed requests in-process with serve's GC policy (at most {budget:.0f} s) ...")
    samples = drift_samples(total, budget, say)
    # RSS once the first 10 % ran (the world, the caches and the journal at its cap are built by then) against the
    # last sample, and the highest sample on the way.
    mark = next((x for x in samples if x["done"] >= total // 10), None)
    if mark is None or samples[-1] is mark:
        figures.append(Figure(f"hostile: RSS drift over {total:,} requests", "-", "-", "-", "≤ 10 %", None,
                              f"SKIPPED: only {samples[-1]['done'] if samples else 0:,} requests in {budget:.0f} s"))
    else:
        last = samples[-1]
        change = (last["rss_kb"] - mark["rss_kb"]) / mark["rss_kb"]
        peak = max(x["rss_kb"] for x in samples if x["done"] >= mark["done"])
        done = "" if last.get("final") else f" (cut at {last['done']:,} by the {budget:.0f} s budget)"
        if last.get("final"):
            say(f"  {total:,} requests in {last['seconds']:.0f} s; first statuses {last['statuses']}; "
                f"bugs {last['bugs']}")
        figures.append(Figure(f"hostile: RSS drift over {last['done']:,} requests{done}",
                              f"{last['rss_kb'] / 1024:,.1f} MiB",
                              f"{mark['rss_kb'] / 1024:,.1f} MiB at {mark['done']:,}", f"{change:+.1%}", "≤ 10 %",
                              abs(change) <= 0.10 if last.get("final") else None,
                              f"peak {peak / 1024:,.1f} MiB; {last['done'] / last['seconds']:,.0f} req/s"
                              + ("" if last.get("final") else "; RIVOSIM_BENCH_DRIFT_SECONDS raises the budget")))
    say(f"hostile section: {time.perf_counter() - started:.0f} s")
    return figures


def main(argv: list[str]) -> int:
    kind, n = argv[0], int(argv[1])
    if kind == "drift":
        drift_child(n)
        return 0
    print(json.dumps(pending_child(n, argv[2] == "1")), flush=True)
    os._exit(0)  # the black hole's pending sends need not be waited for


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
