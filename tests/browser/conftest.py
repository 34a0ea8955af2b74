"""Browser tests: a real headless Chromium (Debian's ``chromium``, which ``make test`` installs) driven by
Playwright through ``executable_path`` (never ``playwright install``: no browser is downloaded). Outside CI they
skip, saying why, when Chromium or Playwright is missing; in CI (``CI`` set) a missing browser fails them.

Each test gets a fresh simulator served on a free 127.0.0.1 port (virtual clock: deliveries are made when time
is advanced), a local webhook receiver, and a page that records console errors; screenshots go to
``test-artifacts/browser/`` (gitignored)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rivosim import Simulator, create_app
from rivosim.transports.server import Server
from tests.receiver import PostReceiver

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str | None:
    for candidate in (os.environ.get("RIVOSIM_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(f"{reason} (make test installs Debian's chromium; CI fails instead of skipping)")


@pytest.fixture(scope="package")  # not the session: sync_playwright keeps an event loop running in this thread
def browser() -> Iterator[Any]:     # while it is open, and later tests that run their own loop must find none
    executable = _chromium()
    if executable is None:
        _unavailable("no Chromium at /usr/bin/chromium or on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield launched
        finally:
            launched.close()


class Receiver(PostReceiver):
    """A webhook receiver on 127.0.0.1: answers ``status`` (200 unless told otherwise), keeps what it got."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[dict[str, Any]] = []
        super().__init__()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        self.received.append({"path": path, "headers": headers, "body": body})
        return self.status


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=17)
    with Server(create_app(sim), tick=sim.tick) as server:
        yield sim, server.url


class Page:
    """A browser page that keeps every console error and uncaught exception, and screenshots by name."""

    def __init__(self, page: Any, base: str, test_name: str) -> None:
        self.page = page
        self.base = base
        self.test_name = test_name
        self.errors: list[str] = []
        self.allowed: list[str] = []  # console errors a test provokes on purpose (a refused request's 4xx)
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"{page.url}: {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: uncaught {exc}"))

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None and response.ok, f"GET {path} -> {response.status if response else None}"
        return self.page

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture()
def page(browser: Any, served: tuple[Simulator, str], request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    wrapped = Page(context.new_page(), served[1], request.node.name)
    try:
        yield wrapped
    finally:
        context.close()
    unexpected = [e for e in wrapped.errors if not any(a in e for a in wrapped.allowed)]
    assert unexpected == [], f"console errors: {unexpected}"
