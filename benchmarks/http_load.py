"""HTTP throughput through the full request path, next to a ceiling, plus the lost-update checks.

Servers (each its own process, pinned to CPU 0; wrk pinned to CPU 1, ``-t1 -c16``, median of 3 runs):
- rivosim: ``python -m rivosim serve`` with one shop (rate limits off, 1,000 seeded customers), wall clock;
- ceiling: a bare Flask app returning the bytes rivosim returned, under granian (WSGI, 1 worker, 1 thread);
- shell: the same bare Flask app under rivosim's own server shell (tells shell cost from pipeline cost).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import PYTHON, Figure, child_env, free_port, http_get, median, pinned, running, wait_http

__all__ = ["WrkResult", "parse_wrk", "run"]

LUA_POST = Path(__file__).resolve().parent / "wrk" / "post_points_event.lua"
SHOP_DOMAIN = "bench.myshopify.com"
SHOP_CONFIG: dict[str, Any] = {"domain": SHOP_DOMAIN, "customers": 1000, "rate_limits": {"rivo": {"enabled": False}}}
CUSTOMERS = "/merchant_api/v1/customers"
POINTS_EVENTS = "/merchant_api/v1/points_events"
LIST_PAGE = f"{CUSTOMERS}?pagination[per_page]=25"  # one page of 25 customers, about 27 KB
# rivosim's throughput as a share of the bare-Flask ceiling, per benchmarked request.
TARGETS = {"GET customer": 0.75, "POST points_event": 0.75, "GET customers page": 0.60}
_DROP_HEADERS = frozenset({"date", "server", "content-length", "connection", "transfer-encoding", "keep-alive"})
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(text: str) -> WrkResult:
    """Read wrk's ``--latency`` report (and our Lua ``status <code>: <n>`` lines)."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", text, re.MULTILINE)
    if rps is None or total is None:
        raise ValueError(f"not a wrk report:\n{text[-2000:]}")
    pct = {m.group(1): _ms(m.group(2), m.group(3))
           for m in re.finditer(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)}
    if "50" not in pct or "99" not in pct:
        raise ValueError("wrk report has no latency distribution (run wrk with --latency)")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    statuses = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"^status (\d+): (\d+)$", text, re.MULTILINE)}
    return WrkResult(rps=float(rps.group(1)), p50_ms=pct["50"], p99_ms=pct["99"], requests=int(total.group(1)),
                     non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
                     socket_errors=sum(int(g) for g in sock.groups()) if sock else 0, statuses=statuses)


def run_wrk(url: str, *, seconds: int, connections: int = 16, headers: dict[str, str] | None = None,
            script: Path | None = None, env: dict[str, str] | None = None) -> WrkResult:
    argv = [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, env=env or child_env())
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk(proc.stdout)


# -- servers ---------------------------------------------------------------------------------------------------
@dataclass
class Target:
    label: str
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass
class Rivosim(Target):
    key: str = ""
    customer_id: int = 0

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": self.key}

    def tally(self) -> int:
        status, _, body = http_get(self.port, f"{CUSTOMERS}/{self.customer_id}", self.auth)
        if status != 200:
            raise RuntimeError(f"GET customer answered {status}: {body[:300]!r}")
        return int(json.loads(body)["data"]["attributes"]["points_tally"])

    def ledger(self) -> tuple[int, int]:
        """(events, sum of points_diff) for the customer, read in cursor mode 250 at a time."""
        since, events, points = 0, 0, 0
        while True:
            path = (f"{POINTS_EVENTS}?filters[customer_identifier]={self.customer_id}"
                    f"&pagination[since_id]={since}&pagination[limit]=250")
            status, _, body = http_get(self.port, path, self.auth, timeout=30)
            if status != 200:
                raise RuntimeError(f"GET points_events answered {status}: {body[:300]!r}")
            doc = json.loads(body)
            events += len(doc["data"])
            points += sum(int(e["attributes"]["points_diff"]) for e in doc["data"])
            since = doc["links"].get("next_since_id")
            if not since:
                return events, points


@contextmanager
def start_rivosim(tmp: Path, *, faults: list[dict[str, Any]] | None = None, label: str = "rivosim") -> Iterator[
        Rivosim]:
    """``rivosim serve`` with the benchmark shop (and ``faults``, the config file's top-level rules)."""
    config = tmp / f"{label}.json"
    config.write_text(json.dumps({"seed": 1, "shops": [SHOP_CONFIG], "faults": faults or []}), "utf-8")
    log = tmp / f"{label}.log"
    argv = [*pinned(0), PYTHON, "-m", "rivosim", "serve", "--port", "0", "--no-demo", "--clock", "wall",
            "--config", str(config)]
    with running(argv, log=log) as proc:
        deadline = time.perf_counter() + 60
        text = ""
        while "Ctrl-C stops the server." not in text:
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"rivosim serve did not start:\n{log.read_text('utf-8', 'replace')[-2000:]}")
            time.sleep(0.05)
            text = log.read_text("utf-8", "replace")
        port = int(re.search(r"server on http://[^:]+:(\d+)", text).group(1))  # type: ignore[union-attr]
        key = re.search(r'"rivo_api_key": "(\w+)"', text).group(1)  # type: ignore[union-attr]
        target = Rivosim(label, port, key=key)
        wait_http(port, "/_rivosim/clock", proc=proc)
        # The newest seeded customer: no seeded order history, so its ledger starts empty.
        status, _, body = http_get(port, f"{CUSTOMERS}?pagination[per_page]=1&sort[order_type]=id"
                                         "&sort[order_direction]=desc", target.auth)
        if status != 200:
            raise RuntimeError(f"listing customers answered {status}: {body[:300]!r}")
        target.customer_id = int(json.loads(body)["data"][0]["id"])
        yield target


def capture(target: Rivosim) -> dict[str, dict[str, Any]]:
    """The exact responses rivosim sends for the two benchmarked requests (minus per-connection headers)."""
    out: dict[str, dict[str, Any]] = {}
    requests_ = {
        "get": ("GET", f"{CUSTOMERS}/{target.customer_id}", None, 200),
        "post": ("POST", POINTS_EVENTS, json.dumps(post_body(target.customer_id)).encode(), 201),
        "list": ("GET", LIST_PAGE, None, 200),
    }
    for name, (method, path, body, want) in requests_.items():
        headers = {**target.auth, "Content-Type": "application/json"}
        status, resp_headers, resp_body = http_get(target.port, path, headers, method=method, body=body)
        if status != want:
            raise RuntimeError(f"{method} {path} answered {status}, expected {want}: {resp_body[:300]!r}")
        out[name] = {"status": status, "body": resp_body.decode("utf-8"),
                     "headers": [[k, v] for k, v in resp_headers if k.lower() not in _DROP_HEADERS]}
    return out


def post_body(customer_id: int) -> dict[str, Any]:
    return {"customer_identifier": str(customer_id), "source": "manual", "points_amount": 1, "credits_amount": 0}


@contextmanager
def start_bare(label: str, argv_for_port: Callable[[int], list[str]], responses: Path, tmp: Path
               ) -> Iterator[Target]:
    port = free_port()
    log = tmp / f"{label}.log"
    with running(argv_for_port(port), log=log, env=child_env(RIVOSIM_BENCH_RESPONSES=str(responses))) as proc:
        try:
            wait_http(port, "/", proc=proc, timeout=30)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{label}: {exc}\n{log.read_text('utf-8', 'replace')[-2000:]}") from exc
        yield Target(label, port)


def granian_argv(port: int) -> list[str]:
    exe = shutil.which("granian", path=str(Path(PYTHON).parent)) or shutil.which("granian") or "granian"
    return [*pinned(0), exe, "--interface", "wsgi", "--workers", "1", "--blocking-threads", "1",
            "--host", "127.0.0.1", "--port", str(port), "--no-ws", "--log-level", "warning",
            "benchmarks._servers:app"]


def shell_argv(port: int) -> list[str]:
    return [*pinned(0), PYTHON, "-m", "benchmarks._servers", "--port", str(port)]


# -- checks ----------------------------------------------------------------------------------------------------
def concurrent_writers(target: Rivosim, threads: int = 8, each: int = 200) -> tuple[int, int, int]:
    """``threads`` x ``each`` POSTs with requests; returns (201s seen, other responses, tally growth)."""
    import requests

    body = post_body(target.customer_id)
    url = target.url(POINTS_EVENTS)

    def worker(_: int) -> tuple[int, int]:
        ok = other = 0
        with requests.Session() as session:
            for _ in range(each):
                try:
                    resp = session.post(url, json=body, headers=target.auth, timeout=10)
                except requests.RequestException:
                    other += 1
                    continue
                if resp.status_code == 201:
                    ok += 1
                else:
                    other += 1
        return ok, other

    before = target.tally()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(worker, range(threads)))
    after = target.tally()
    return sum(r[0] for r in results), sum(r[1] for r in results), after - before


# -- the benchmark ---------------------------------------------------------------------------------------------
def _fmt_rps(value: float) -> str:
    return f"{value:,.0f} req/s"


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    figures: list[Figure] = []
    have_wrk = shutil.which("wrk") is not None
    have_granian = shutil.which("granian", path=str(Path(PYTHON).parent)) is not None or shutil.which("granian")
    if not have_wrk:
        say("wrk is not installed (apt-get install wrk, or `make bench`): throughput figures SKIPPED")
    if not have_granian:
        say("granian is not installed (pip install -e '.[bench]'): the granian ceiling is SKIPPED")
    runs, seconds, warmup = (1, 2, 1) if quick else (3, 5, 1)
    if not pinned(0):
        say("taskset unavailable or fewer than 2 CPUs: servers and wrk run unpinned")

    with tempfile.TemporaryDirectory(prefix="rivosim-bench-") as tmpdir, ExitStack() as stack:
        tmp = Path(tmpdir)
        riv = stack.enter_context(start_rivosim(tmp))
        say(f"rivosim on :{riv.port}, customer {riv.customer_id}")
        captured = capture(riv)
        responses = tmp / "responses.json"
        responses.write_text(json.dumps(captured), "utf-8")
        start_tally = riv.tally()
        start_ledger = riv.ledger()

        targets: list[Target] = [riv]
        if have_granian:
            targets.append(stack.enter_context(start_bare("granian", granian_argv, responses, tmp)))
        targets.append(stack.enter_context(start_bare("shell", shell_argv, responses, tmp)))
        # The ceiling must answer with rivosim's bytes, or the comparison is not like for like.
        for t in targets[1:]:
            status, _, body = http_get(t.port, f"{CUSTOMERS}/{riv.customer_id}")
            if status != 200 or body.decode() != captured["get"]["body"]:
                raise RuntimeError(f"{t.label} does not replay rivosim's response")

        lost_total = inflight_total = seen_total = grew_total = 0
        if have_wrk:
            post_env = child_env(RIVOSIM_BENCH_CUSTOMER=str(riv.customer_id), RIVOSIM_BENCH_KEY=riv.key)
            endpoints = {
                "GET customer": dict(path=f"{CUSTOMERS}/{riv.customer_id}", headers=riv.auth, script=None,
                                     env=None),
                "POST points_event": dict(path=POINTS_EVENTS, headers=None, script=LUA_POST, env=post_env),
                "GET customers page": dict(path=LIST_PAGE, headers=riv.auth, script=None, env=None),
            }
            for name, spec in endpoints.items():
                results: dict[str, list[WrkResult]] = {t.label: [] for t in targets}

                def once(t: Target, secs: int, spec: dict[str, Any] = spec) -> WrkResult:
                    return run_wrk(t.url(spec["path"]), seconds=secs, headers=spec["headers"],
                                   script=spec["script"], env=spec["env"])

                for t in targets:
                    once(t, warmup)
                for i in range(runs):
                    for t in targets:  # interleaved, so drift in the machine hits every server alike
                        before = riv.tally() if t is riv and name.startswith("POST") else 0
                        res = once(t, seconds)
                        results[t.label].append(res)
                        extra = ""
                        if t is riv and name.startswith("POST"):
                            grew = riv.tally() - before
                            seen = res.statuses.get(201, 0)
                            lost_total += max(0, seen - grew)
                            inflight_total += max(0, grew - seen)
                            seen_total += seen
                            grew_total += grew
                            extra = f", 201s seen {seen:,}, tally +{grew:,}"
                        bad = f", non-2xx {res.non_2xx}" if res.non_2xx else ""
                        bad += f", socket errors {res.socket_errors}" if res.socket_errors else ""
                        say(f"  {name:18} run {i + 1}/{runs} {t.label:8} {res.rps:10,.0f} req/s  "
                            f"p50 {res.p50_ms:6.2f} ms  p99 {res.p99_ms:6.2f} ms{bad}{extra}")
                figures += _throughput_figures(name, results)
        else:
            figures.append(Figure("HTTP throughput", "-", "-", "-", "≥ 75 %", None, "SKIPPED: wrk not installed"))

        say("  concurrent writers: 8 threads x 200 POSTs with requests ...")
        ok, other, grew = concurrent_writers(riv)
        events, points = riv.ledger()
        final_tally = riv.tally()
        ledger_ok = (events - start_ledger[0] == final_tally - start_tally
                     and points - start_ledger[1] == final_tally - start_tally)
        say(f"  concurrent writers: 201s {ok:,}, other {other}, tally +{grew:,}; ledger {events:,} events / "
            f"{points:,} points vs tally {final_tally:,}")
        if have_wrk:
            figures.append(Figure(
                "lost updates: wrk POST load", f"{lost_total}", f"{seen_total:,} 201s", f"tally +{grew_total:,}",
                "= 0", lost_total == 0 and ledger_ok,
                f"{inflight_total} applied after wrk stopped reading (in flight); ledger == tally: {ledger_ok}"))
        figures.append(Figure(
            "lost updates: 8 threads x 200 POSTs", f"{max(0, ok - grew)}", f"{ok:,} 201s", f"tally +{grew:,}",
            "= 0", ok == grew and other == 0 and ledger_ok, f"non-201 responses {other}"))
        say(f"lost updates: {lost_total + max(0, ok - grew)}")
    return figures


def _throughput_figures(name: str, results: dict[str, list[WrkResult]]) -> list[Figure]:
    med = {label: (median([r.rps for r in rs]), median([r.p50_ms for r in rs]), median([r.p99_ms for r in rs]))
           for label, rs in results.items()}
    riv = med["rivosim"]
    target = TARGETS[name]
    out: list[Figure] = []
    if "granian" in med:
        ceil = med["granian"]
        ratio = riv[0] / ceil[0]
        spread = "; ".join(f"{label} " + "/".join(f"{r.rps:,.0f}" for r in rs) for label, rs in results.items())
        out.append(Figure(f"{name}: rivosim / granian ceiling", _fmt_rps(riv[0]), _fmt_rps(ceil[0]),
                          f"{ratio:.0%}", f"≥ {target:.0%}", ratio >= target, f"runs (req/s): {spread}"))
        out.append(Figure(f"{name}: p50 latency", f"{riv[1]:.2f} ms", f"{ceil[1]:.2f} ms",
                          f"{riv[1] / ceil[1]:.2f}x", "info", None))
        out.append(Figure(f"{name}: p99 latency", f"{riv[2]:.2f} ms", f"{ceil[2]:.2f} ms",
                          f"{riv[2] / ceil[2]:.2f}x", "info", None))
        shell = med["shell"]
        out.append(Figure(f"{name}: shell+bare Flask / ceiling", _fmt_rps(shell[0]), _fmt_rps(ceil[0]),
                          f"{shell[0] / ceil[0]:.0%}", "info (shell cost)", None))
    else:
        out.append(Figure(f"{name}: rivosim / granian ceiling", _fmt_rps(riv[0]), "-", "-", f"≥ {target:.0%}", None,
                          "SKIPPED: granian not installed"))
    shell = med["shell"]
    out.append(Figure(f"{name}: rivosim / shell+bare Flask", _fmt_rps(riv[0]), _fmt_rps(shell[0]),
                      f"{riv[0] / shell[0]:.0%}", "info (pipeline cost)", None))
    return out
