"""Shared helpers: the result row, free ports, child processes that are always killed, HTTP polling, RSS."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PYTHON",
    "ROOT",
    "Figure",
    "OutOfTime",
    "child_env",
    "free_port",
    "http_get",
    "median",
    "pinned",
    "rss_kb",
    "running",
    "wait_http",
]

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Figure:
    """One row of the final table. ``ok`` is True/False against a target, None for information only."""

    name: str
    rivosim: str
    baseline: str
    ratio: str
    target: str
    ok: bool | None
    note: str = ""


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def rss_kb() -> int:
    """This process's resident set size in KiB (``VmRSS`` from /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        match = re.search(r"^VmRSS:\s+(\d+)\s+kB", fh.read(), re.MULTILINE)
    if match is None:  # pragma: no cover - not Linux
        raise RuntimeError("VmRSS not found in /proc/self/status")
    return int(match.group(1))


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (for servers that cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int) -> list[str]:
    """``taskset -c <cpu>`` when taskset exists and the CPU is ours to use; otherwise nothing (unpinned)."""
    if shutil.which("taskset") is None:
        return []
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return []
    if len(allowed) < 2 or cpu not in allowed:
        return []
    return ["taskset", "-c", str(cpu)]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: the repo root importable (for ``benchmarks._servers``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra)
    return env


@contextlib.contextmanager
def running(argv: list[str], *, log: Path | None = None, env: dict[str, str] | None = None) -> Iterator[
        subprocess.Popen[bytes]]:
    """Start ``argv`` in its own process group and always end that group (SIGTERM, then SIGKILL)."""
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed in finally
    try:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env or child_env(), cwd=ROOT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            stop_group(proc)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def stop_group(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """End the process group we started for ``proc`` (granian forks workers, so the group, not the pid)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)
    # Workers may outlive a leader that exited on its own; the group id is still the leader's pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def http_get(port: int, path: str, headers: dict[str, str] | None = None, *, method: str = "GET",
             body: bytes | None = None, timeout: float = 5.0) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request on a fresh connection: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def wait_http(port: int, path: str, *, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None,
              interval: float = 0.005, want_2xx: bool = True) -> float:
    """Poll until ``GET path`` answers (2xx unless ``want_2xx`` is False); returns the monotonic time it did."""
    deadline = time.perf_counter() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before answering")
        try:
            status, _, _ = http_get(port, path, timeout=1.0)
            if not want_2xx or 200 <= status < 300:
                return time.perf_counter()
        except (OSError, http.client.HTTPException):
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no answer from 127.0.0.1:{port}{path} within {timeout:.0f} s")
        time.sleep(interval)


class OutOfTime(Exception):
    """A measured side ran past its time cap."""
