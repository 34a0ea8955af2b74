"""``rivosim run --against URL --jobs N`` (issue 15): scenarios side by side against one real ``rivosim serve``
(a subprocess on a free 127.0.0.1 port), each in its own shop on its own clock. ``--jobs 2`` gives the same
per-scenario results and transcripts as ``--jobs 1`` on a fresh server with the same seed, and no scenario's
``advance`` moves the server's (or another shop's) time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from rivosim.cli import main
from rivosim.kernel.clock import parse_instant
from tests.processes import stop

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"
# Long advances (a year and more) with deliveries on the way; the transcripts compare whole.
SAMPLE = ("birthday-campaign", "anniversary-reward", "points-expiry-alerts", "welcome-series", "referral-follow-up",
          "tier-override-rolling-year")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        creds = tmp_path / f"creds-{len(procs)}.json"
        proc = subprocess.Popen([sys.executable, "-m", "rivosim", "serve", "--host", "127.0.0.1", "--port", "0",
                                 "--clock", "virtual", "--seed", "3", "--customers", "2",
                                 "--credentials-json", str(creds)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        deadline = time.monotonic() + 60
        while not creds.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "rivosim serve never became ready"
            time.sleep(0.05)
        return str(json.loads(creds.read_text("utf-8"))["url"])

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc)


# Scenarios whose transcripts once differed between --jobs 1 and --jobs 4 (another scenario's latency moved every
# clock; a shop's deliveries raced on two sender threads; a receipt was stamped with whatever clock reading the
# receiver had last), and two with injected latency (a fault's and the service-time model's).
MIXED = ("mesa-trigger-payloads", "social-engagement-bonus", "win-back-offer", "trouble-timeout-errors",
         "trouble-slow-workflow-high-traffic", "review-incentive")


def _plain(value: Any) -> Any:
    """What legitimately differs between two servers: their ports, and real (wall) durations of deliveries."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in ("duration_ms", "outbox")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return re.sub(r"127\.0\.0\.1:\d+", "<host>", value) if isinstance(value, str) else value


def _transcript_bytes(path: Path) -> dict[str, list[str]]:
    """Each scenario's transcript lines as written, with only the receiver's and server's ports and the delivery
    attempts' wall-clock ``duration_ms`` blanked (everything else, the per-shop ``outbox`` counts included, must
    be byte for byte the same)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text("utf-8").splitlines():
        line = re.sub(r'"duration_ms":\s*[0-9.]+', '"duration_ms":0', re.sub(r"127\.0\.0\.1:\d+", "<host>", line))
        out.setdefault(json.loads(line)["scenario"], []).append(line)
    return out


def _run(url: str, jobs: int, out: Path, capsys: pytest.CaptureFixture[str],
         names: tuple[str, ...] = SAMPLE) -> tuple[str, dict[str, list[Any]]]:
    code = main(["run", "--against", url, "--jobs", str(jobs), "--keep-going", "--transcript", str(out),
                 *(str(LIBRARY / f"{name}.yaml") for name in names)])
    report = capsys.readouterr().out
    assert code == 0, report
    by_scenario: dict[str, list[Any]] = {name: [] for name in names}
    for line in out.read_text("utf-8").splitlines():
        item = json.loads(line)
        by_scenario[item.pop("scenario")].append(_plain(item))
    return report, by_scenario


def _statuses(report: str) -> dict[str, str]:
    return {m[0]: m[1] for m in re.findall(r"^(\S+)\s+\d+/\d+\s+(\w+)", report, re.M)}


def test_jobs_2_gives_the_results_and_transcripts_of_jobs_1(serve: Any, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    serial_url, parallel_url = serve(), serve()
    started = parse_instant(requests.get(parallel_url + "/_rivosim/clock", timeout=10).json()["now"])
    serial_report, serial = _run(serial_url, 1, tmp_path / "serial.jsonl", capsys)
    parallel_report, parallel = _run(parallel_url, 2, tmp_path / "parallel.jsonl", capsys)
    assert _statuses(parallel_report) == _statuses(serial_report) == dict.fromkeys(SAMPLE, "passed")
    for name in SAMPLE:
        assert parallel[name] == serial[name], name
    # Each scenario moved its own shop's clock (a year and more); the server's own clock stayed where it was.
    server_now = parse_instant(requests.get(parallel_url + "/_rivosim/clock", timeout=10).json()["now"])
    assert server_now - started < timedelta(days=1)
    shop = requests.get(parallel_url + "/_rivosim/shops/birthday-campaign.myshopify.com/clock", timeout=10).json()
    assert parse_instant(shop["now"]) - started > timedelta(days=300)


def test_jobs_3_transcripts_are_byte_identical_to_jobs_1_latency_included(serve: Any, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    serial_url, parallel_url = serve(), serve()
    started = time.monotonic()
    serial_report, _ = _run(serial_url, 1, tmp_path / "serial.jsonl", capsys, MIXED)
    parallel_report, _ = _run(parallel_url, 3, tmp_path / "parallel.jsonl", capsys, MIXED)
    assert time.monotonic() - started < 300  # a bound against a hang, not a speed target
    assert _statuses(parallel_report) == _statuses(serial_report) == dict.fromkeys(MIXED, "passed")
    serial, parallel = _transcript_bytes(tmp_path / "serial.jsonl"), _transcript_bytes(tmp_path / "parallel.jsonl")
    assert set(serial) == set(MIXED)
    for name in MIXED:
        assert parallel[name] == serial[name], name
    # Latency moved only the slow scenarios' own shops: the servers' clocks never moved.
    for url in (serial_url, parallel_url):
        assert requests.get(url + "/_rivosim/clock", timeout=10).json()["now"].startswith("2026-01-01T00:00:00")


def test_jobs_needs_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--jobs", "2", str(LIBRARY / "welcome-series.yaml")]) == 2
    assert "--jobs N (N >= 1) needs --against URL" in capsys.readouterr().err
