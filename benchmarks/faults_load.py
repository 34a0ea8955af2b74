"""Faults in server mode (``rivosim serve``, wall clock, pinned to CPU 0):

- delayed requests never hold each other up: 64 concurrent requests under a 1 s latency rule finish in about 1 s,
  while undelayed requests on another route keep their normal latency (measured next to the same requests with
  no delayed load);
- the cost of being ready: with 100 fault rules configured, none matching, GET customer keeps >= 90 % of the
  throughput of the same server without rules (wrk, interleaved, median of 5 runs);
- latency fidelity over a socket: measured percentiles of lognormal and percentile rules next to the configured
  ones (a one-thread asyncio client over 16 keep-alive connections: client overhead and queueing in the
  one-process server stay around a millisecond; with 64 connections queueing adds up to 64 x the service time).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from statistics import quantiles
from typing import Any

from ._common import Figure, http_get, median
from .http_load import CUSTOMERS, run_wrk, start_rivosim

__all__ = ["hundred_rules", "run"]

LOGNORMAL = {"type": "latency", "distribution": "lognormal", "median_ms": 40, "sigma": 0.5}
PERCENTILES = {"type": "latency", "distribution": "percentiles", "p50_ms": 30, "p95_ms": 90, "p99_ms": 200}


def hundred_rules() -> list[dict[str, Any]]:
    """100 rules that never match ``GET /customers/<id>`` of the bench shop, in the ways a rule can miss: another
    route, another method on the route, another shop, another API."""
    rules: list[dict[str, Any]] = []
    others = ["rivo.rewards.list", "rivo.vip_tiers.list", "rivo.points_events.*", "rivo.webhooks.*",
              "rivo.referrals.create"]
    for i in range(25):
        rules.append({"id": f"route-{i}", "match": {"route": others[i % len(others)]},
                      "action": {"type": "error", "status": 503}})
        rules.append({"id": f"method-{i}", "match": {"route": "rivo.customers.get", "method": "PUT"},
                      "action": {"type": "latency", "ms": 100}})
        rules.append({"id": f"shop-{i}", "match": {"route": "rivo.customers.*", "shop": f"other-{i}.myshopify.com"},
                      "action": {"type": "timeout"}})
        rules.append({"id": f"api-{i}", "match": {"api": "shopify", "route": "shopify.customers.*"},
                      "action": {"type": "reset"}})
    return rules


# -- a small asyncio HTTP/1.1 client (keep-alive, Content-Length bodies) ---------------------------------------------
async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, key: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {key}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _timed(port: int, path: str, key: str, count: int, out: list[float]) -> None:
    reader, writer = await _open(port)
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            status = await _request(reader, writer, path, key)
            out.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
    finally:
        writer.close()


def concurrent_delays(port: int, key: str, delayed: str, plain: str, concurrency: int = 64) -> dict[str, float]:
    """``concurrency`` delayed requests at once, and meanwhile plain requests one after another on another route."""

    async def main() -> dict[str, float]:
        conns = [await _open(port) for _ in range(concurrency)]
        probe: list[float] = []
        done = asyncio.Event()

        async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
            status = await _request(reader, writer, delayed, key)
            if status != 200:
                raise RuntimeError(f"GET {delayed} answered {status}")
            return time.perf_counter()

        async def probing() -> None:
            reader, writer = await _open(port)
            while not done.is_set():
                t0 = time.perf_counter()
                await _request(reader, writer, plain, key)
                probe.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.01)
            writer.close()

        prober = asyncio.ensure_future(probing())
        start = time.perf_counter()
        finished = await asyncio.gather(*(one(r, w) for r, w in conns))
        done.set()
        await prober
        for _, w in conns:
            w.close()
        return {"total_s": max(finished) - start, "first_s": min(finished) - start,
                "probe_p50_ms": median(probe) if probe else float("nan"), "probes": float(len(probe))}

    return asyncio.run(main())


def percentiles_over_socket(port: int, key: str, path: str, total: int, concurrency: int = 16) -> list[float]:
    """Client-side latencies (ms) of ``total`` requests over ``concurrency`` keep-alive connections."""

    async def main() -> list[float]:
        out: list[float] = []
        each, extra = divmod(total, concurrency)
        await asyncio.gather(*(_timed(port, path, key, each + (1 if i < extra else 0), out)
                               for i in range(concurrency)))
        return out

    return asyncio.run(main())


def plain_latency(port: int, key: str, path: str, count: int = 200) -> float:
    async def main() -> list[float]:
        out: list[float] = []
        await _timed(port, path, key, count, out)
        return out

    return median(asyncio.run(main()))


def _add_rule(port: int, rule: dict[str, Any]) -> None:
    status, _, body = http_get(port, "/_rivosim/faults", {"Content-Type": "application/json"}, method="POST",
                               body=json.dumps(rule).encode())
    if status != 201:
        raise RuntimeError(f"adding a fault rule answered {status}: {body[:300]!r}")


def _pct(values: list[float]) -> tuple[float, float, float]:
    cuts = quantiles(values, n=100)
    return cuts[49], cuts[94], cuts[98]


# -- the benchmark ---------------------------------------------------------------------------------------------------
def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    from rivosim.faults.fault_set import distribution_percentile

    figures: list[Figure] = []
    runs, seconds = (3, 2) if quick else (5, 5)
    with tempfile.TemporaryDirectory(prefix="rivosim-faults-") as tmpdir, ExitStack() as stack:
        tmp = Path(tmpdir)
        plain = stack.enter_context(start_rivosim(tmp))
        ruled = stack.enter_context(start_rivosim(tmp, faults=hundred_rules(), label="ruled"))
        customer = f"{CUSTOMERS}/{plain.customer_id}"
        status, _, body = http_get(ruled.port, "/_rivosim/faults")
        assert status == 200 and len(json.loads(body)["faults"]) == 100

        # 1. 100 rules, none matching -------------------------------------------------------------------------
        if shutil.which("wrk"):
            rps: dict[str, list[float]] = {"rivosim": [], "ruled": []}
            for target in (plain, ruled):
                run_wrk(target.url(customer), seconds=1, headers=target.auth)
            for i in range(runs):
                for target in (plain, ruled):  # interleaved
                    res = run_wrk(target.url(customer), seconds=seconds, headers=target.auth)
                    if res.non_2xx or res.socket_errors:
                        raise RuntimeError(f"{target.label}: non-2xx {res.non_2xx}, socket errors "
                                           f"{res.socket_errors}")
                    rps[target.label].append(res.rps)
                say(f"  100 non-matching rules run {i + 1}/{runs}: no rules {rps['rivosim'][-1]:,.0f} req/s, "
                    f"100 rules {rps['ruled'][-1]:,.0f} req/s")
            a, b = median(rps["ruled"]), median(rps["rivosim"])
            figures.append(Figure(f"100 non-matching rules / no rules (GET customer, median of {runs})",
                                  f"{a:,.0f} req/s", f"{b:,.0f} req/s", f"{a / b:.0%}", "≥ 90 %", a / b >= 0.90,
                                  "runs: " + "; ".join(f"{k} " + "/".join(f"{v:,.0f}" for v in vs)
                                                       for k, vs in rps.items())))
        else:
            figures.append(Figure("100 non-matching rules / no rules", "-", "-", "-", "≥ 90 %", None,
                                  "SKIPPED: wrk not installed"))

        # 2. delayed requests never hold each other up ---------------------------------------------------------
        normal = plain_latency(plain.port, plain.key, "/merchant_api/v1/vip_tiers")
        _add_rule(plain.port, {"id": "second", "match": {"route": "rivo.customers.get"},
                               "action": {"type": "latency", "ms": 1000}})
        got = concurrent_delays(plain.port, plain.key, customer, "/merchant_api/v1/vip_tiers")
        say(f"  64 x 1 s latency: all done in {got['total_s']:.3f} s (first {got['first_s']:.3f} s); undelayed "
            f"p50 {got['probe_p50_ms']:.2f} ms over {got['probes']:.0f} probes vs {normal:.2f} ms without load")
        figures.append(Figure("64 concurrent requests under a 1 s latency rule", f"{got['total_s']:.3f} s",
                              "1.000 s", f"{got['total_s']:.2f}x", "≈ 1 s (≤ 1.2 s)", got["total_s"] <= 1.2,
                              "server shell waits on its event loop; no thread held"))
        figures.append(Figure("undelayed requests meanwhile: p50 latency", f"{got['probe_p50_ms']:.2f} ms",
                              f"{normal:.2f} ms", f"{got['probe_p50_ms'] / normal:.2f}x", "info", None,
                              f"{got['probes']:.0f} sequential GET /vip_tiers while the 64 waited"))

        # 3. measured percentiles next to configured ones ------------------------------------------------------
        total = 600 if quick else 3000
        overhead = plain_latency(plain.port, plain.key, "/merchant_api/v1/rewards")
        for name, action, route, path in (
                ("lognormal median 40 ms sigma 0.5", LOGNORMAL, "rivo.rewards.list", "/merchant_api/v1/rewards"),
                ("percentiles p50 30 / p95 90 / p99 200 ms", PERCENTILES, "rivo.earning_rules.list",
                 "/merchant_api/v1/earning_rules")):
            _add_rule(plain.port, {"match": {"route": route}, "action": action})
            measured = _pct(percentiles_over_socket(plain.port, plain.key, path, total))
            configured = tuple(distribution_percentile(action, q) for q in (0.50, 0.95, 0.99))
            say(f"  server mode, {name}: measured p50/p95/p99 " + "/".join(f"{v:.1f}" for v in measured)
                + " ms vs configured " + "/".join(f"{v:.1f}" for v in configured) + " ms")
            figures.append(Figure(f"server mode {name}: p50/p95/p99",
                                  "/".join(f"{v:.1f}" for v in measured) + " ms",
                                  "/".join(f"{v:.1f}" for v in configured) + " ms",
                                  "/".join(f"{m / c:.2f}" for m, c in zip(measured, configured, strict=True)),
                                  "info", None,
                                  f"{total} requests over 16 connections, client-side; an undelayed request "
                                  f"takes {overhead:.2f} ms"))
    return figures

