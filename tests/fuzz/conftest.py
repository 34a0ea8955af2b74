"""A live ``rivosim serve`` for schemathesis, and the case counts printed at the end of the run."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.processes import stop


def record_result(config: pytest.Config, line: str) -> None:
    """Keep one API run's line (cases, operations, failures) for the terminal summary; under xdist the workers
    write and the controller prints, so the lines go through pytest's cache directory."""
    assert config.cache is not None
    path = config.cache.mkdir("rivosim-schemathesis") / "results.txt"
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput") and session.config.cache is not None:
        (session.config.cache.mkdir("rivosim-schemathesis") / "results.txt").unlink(missing_ok=True)




def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server() -> Iterator[str]:
    """A fresh ``rivosim serve`` (virtual clock: nothing fires on its own) on a free 127.0.0.1 port."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rivosim", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--no-demo", "--clock", "virtual", "--seed", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/_rivosim/clock", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rivosim serve did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.05)
        yield base
    finally:
        stop(proc)


def make_shop(base: str) -> dict[str, Any]:
    """A Scale shop with 20 customers and the rate limits off (a fuzzer is not a polite client)."""
    resp = requests.post(base + "/_rivosim/shops", json={
        "customers": 20, "rate_limits": {"rivo": {"enabled": False}, "shopify_rest": {"enabled": False},
                                         "shopify_graphql": {"enabled": False}}}, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if config.cache is None:
        return
    path = config.cache.mkdir("rivosim-schemathesis") / "results.txt"
    if path.exists():
        terminalreporter.section("schemathesis against rivosim serve")
        for line in path.read_text("utf-8").splitlines():
            terminalreporter.write_line(line)
