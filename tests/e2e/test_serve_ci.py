"""``rivosim serve`` made for CI (issue 15): ``--credentials-json FILE`` written once the server accepts
connections (atomically, mode 0600, removed on exit), and ``GET /_rivosim/health`` open to a probe without the
control token while revealing nothing else. Real ``rivosim serve`` processes on a free 127.0.0.1 port."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import rivosim
from tests.processes import stop

TOKEN = "ci-secret-token"


def wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float = 30.0) -> dict[str, Any]:
    """What a CI script does: wait for the file, then read it (it appears whole or not at all)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"rivosim serve exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the credentials file never appeared"
        time.sleep(0.02)
    return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]


def read_if_there(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]
    except FileNotFoundError:  # removed (the stale one) and not written yet
        return None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*flags: str, stale: str | None = None) -> tuple[subprocess.Popen[bytes], Path]:
        path = tmp_path / f"creds-{len(procs)}.json"
        if stale is not None:  # an earlier run's file, left behind
            path.write_text(stale, "utf-8")
        env = {k: v for k, v in os.environ.items() if k != "RIVOSIM_CONTROL_TOKEN"}
        proc = subprocess.Popen([sys.executable, "-m", "rivosim", "serve", "--host", "127.0.0.1", "--port", "0",
                                 "--clock", "virtual", "--seed", "3", "--customers", "2",
                                 "--credentials-json", str(path), *flags],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        procs.append(proc)
        return proc, path

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc)


def test_the_credentials_file_is_enough_to_call_both_apis(serve: Any) -> None:
    proc, path = serve()
    creds = wait_for(path, proc)
    assert set(creds) == {"url", "shops"}  # no control token: none in the file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # the temporary file was renamed
    url, (shop,) = creds["url"], creds["shops"]
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")  # --port 0: the port it really got
    assert shop["domain"] == "rivosim-demo.myshopify.com"
    # The file appears once the server accepts connections: the first request needs no retry.
    customers = requests.get(f"{url}/merchant_api/v1/customers", headers={"Authorization": shop["rivo_api_key"]},
                             timeout=10)
    assert customers.status_code == 200 and len(customers.json()["data"]) == 2
    admin = requests.get(f"{url}/admin/api/2024-10/shop.json", timeout=10,
                         headers={"X-Shopify-Access-Token": shop["shopify_access_token"]})
    assert admin.status_code == 200
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    assert not path.exists()  # removed on exit: a later script never reads a dead server's URL


def test_health_needs_no_token_and_tells_nothing_else(serve: Any) -> None:
    proc, path = serve("--control-token", TOKEN)
    creds = wait_for(path, proc)
    assert creds["control_token"] == TOKEN
    url = creds["url"]
    first = requests.get(f"{url}/_rivosim/health", timeout=10)
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/json"
    body = first.json()
    assert set(body) == {"status", "version", "uptime_s"}
    assert body["status"] == "ok" and body["version"] == rivosim.__version__
    assert isinstance(body["uptime_s"], float | int) and body["uptime_s"] >= 0
    time.sleep(0.05)
    assert requests.get(f"{url}/_rivosim/health", timeout=10).json()["uptime_s"] > body["uptime_s"]
    # Everything else of the control API still wants the token.
    assert requests.get(f"{url}/_rivosim/shops", timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    shops = requests.get(f"{url}/_rivosim/shops", headers=auth, timeout=10)
    assert shops.status_code == 200 and shops.json()["shops"] == creds["shops"]
    # Probes are not journaled: a probe a second would push out the entries a test reads.
    journal = requests.get(f"{url}/_rivosim/journal", headers=auth, params={"route": "control.health"}, timeout=10)
    assert journal.json()["entries"] == []


def test_a_stale_file_is_replaced_and_an_unwritable_path_stops_the_server(serve: Any, tmp_path: Path) -> None:
    proc, path = serve(stale='{"url": "http://127.0.0.1:1", "shops": []}')
    deadline = time.monotonic() + 30
    while (creds := read_if_there(path)) is None or creds["url"] == "http://127.0.0.1:1":
        assert time.monotonic() < deadline and proc.poll() is None, "the stale file was never replaced"
        time.sleep(0.02)
    assert requests.get(creds["url"] + "/_rivosim/health", timeout=10).status_code == 200
    bad = subprocess.run([sys.executable, "-m", "rivosim", "serve", "--port", "0", "--no-demo",
                          "--credentials-json", str(tmp_path / "no-such-dir" / "creds.json")],
                         capture_output=True, timeout=60)
    assert bad.returncode == 2 and b"--credentials-json" in bad.stderr
