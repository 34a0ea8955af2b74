"""``rivosim serve --save-state FILE`` writes the whole simulator on a clean shutdown (SIGTERM here) and
``rivosim serve --state FILE`` starts from it: two real server processes, the second answering exactly as the
first stopped. A file that is not a snapshot keeps the server from starting, with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import requests

from tests.unit.test_snapshot import without_time


@contextmanager
def serving(*flags: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([sys.executable, "-m", "rivosim", "serve", "--port", "0", "--no-demo", "--clock",
                             "virtual", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RIVOSIM_CONTROL_TOKEN": ""})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert " on " in first, (first, proc.stderr.read() if proc.stderr else "")
        yield proc, first.split(" on ", 1)[1].split(" ", 1)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    return rc, proc.stderr.read() if proc.stderr else ""


def test_save_state_on_sigterm_then_start_from_it(tmp_path: Path) -> None:
    state_file = tmp_path / "case.json"
    http = requests.Session()
    with serving("--save-state", str(state_file)) as (proc, base):
        made = http.post(f"{base}/_rivosim/shops", json={"domain": "case.myshopify.com", "plan": "plus"}, timeout=30)
        assert made.status_code == 201
        key = made.json()["rivo_api_key"]
        for i in range(3):
            assert http.post(f"{base}/_rivosim/shops/case.myshopify.com/customers",
                             json={"email": f"c{i}@example.com", "visibility_delay": 0}, timeout=30).status_code == 201
        assert http.post(f"{base}/_rivosim/clock/advance", json={"duration": "P3D"}, timeout=30).status_code == 200
        customers = http.get(f"{base}/merchant_api/v1/customers", headers={"Authorization": key}, timeout=30)
        before = http.get(f"{base}/_rivosim/snapshot", timeout=30).json()
        rc, stderr = _stop(proc)
    assert rc == 0, stderr
    assert "state saved to" in stderr, stderr
    assert not list(tmp_path.glob(".case.json.*.tmp")), "the temporary file was left behind"
    saved = orjson.loads(state_file.read_bytes())
    assert saved["journal"] is not None  # --save-state keeps the journal too

    with serving("--state", str(state_file)) as (proc, base):
        after = http.get(f"{base}/_rivosim/snapshot", timeout=30).json()
        again = http.get(f"{base}/merchant_api/v1/customers", headers={"Authorization": key}, timeout=30)
        _stop(proc)
    # The same state (but for the time each was taken).
    assert without_time(after) == without_time(before)
    # The same answer (its links name the new server's port).
    assert (again.status_code, again.json()["data"]) == (customers.status_code, customers.json()["data"])
    http.close()


def test_a_bad_state_file_keeps_the_server_from_starting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "rivosim-snapshot", "version": 7}')
    proc = subprocess.run([sys.executable, "-m", "rivosim", "serve", "--port", "0", "--no-demo", "--state", str(bad)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "RIVOSIM_CONTROL_TOKEN": ""})
    assert proc.returncode == 2
    assert "unknown snapshot version 7" in proc.stderr and str(bad) in proc.stderr
