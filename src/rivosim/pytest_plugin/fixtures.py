"""The plugin's fixtures: ``rivosim`` (a fresh simulator per test on a virtual clock), ``rivosim_shop`` (a fresh
shop's credentials on it), ``rivosim_server`` (one real server per session — per xdist worker — with a fresh shop
per test), ``rivosim_config`` (the document fresh shops are made from) and ``rivosim_mock`` (in-process mode for
``requests``, ``httpx`` and ``aiohttp``)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from rivosim.domain.config import merge_patch
from rivosim.kernel.clock import Duration
from rivosim.pytest_plugin.checks import watch
from rivosim.pytest_plugin.options import (
    add_faults,
    allow_unmatched,
    make_shop,
    options,
    passthrough,
    run_scenario_for,
    seed_for,
)
from rivosim.pytest_plugin.shops import LocalShop, RemoteShop
from rivosim.testing.helpers import JournalView, PluginSimulator, ShopCredentials, Webhooks, node_domain

if TYPE_CHECKING:
    from rivosim.transports.server import Server

__all__ = ["ServerHandle", "rivosim", "rivosim_config", "rivosim_mock", "rivosim_server", "rivosim_session_server",
           "rivosim_shop"]

SESSION_SEED = 0  # the session server's seed when --rivosim-seed is not given (one per worker, all alike)


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture
def rivosim_config() -> dict[str, Any]:
    """The shop configuration document fresh shops are made from (a merge patch over rivosim's defaults).
    Override it in a conftest or a test module; ``@pytest.mark.rivosim(config=...)`` patches it per test."""
    return {}


@pytest.fixture
def rivosim(request: pytest.FixtureRequest) -> Iterator[PluginSimulator]:
    """A fresh simulator for this test on a virtual clock (time moves only when the test says so)."""
    opts = options(request.node)
    seed = seed_for(request, opts)
    sim = PluginSimulator(seed=seed)
    watch(request, sim, "rivosim", seed, allow_unmatched(request.config, opts))
    if opts.scenario:
        sim.scenario_result = run_scenario_for(request, opts.scenario, sim=sim)
    if "rivosim_shop" not in request.fixturenames:
        add_faults(sim, opts.faults, None)
    yield sim
    sim.outbox.close()


@pytest.fixture
def rivosim_shop(rivosim_config: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[LocalShop | RemoteShop]:
    """A fresh shop on its own clock, made from ``rivosim_config`` and the marker's config: on ``rivosim`` (the
    test's simulator), or with ``--rivosim-url URL`` on that shared server (made through the control API and
    deleted afterwards). ``rivosim_shop.advance("P1Y")`` moves this shop's clock alone. The marker's faults are
    scoped to this shop (in-process)."""
    opts = options(request.node)
    doc = merge_patch(rivosim_config, opts.config)
    url = request.config.getoption("--rivosim-url")
    if url:
        if opts.faults:
            pytest.fail("@pytest.mark.rivosim(faults=...) applies in-process only; against --rivosim-url add "
                        "them with POST /_rivosim/faults", pytrace=False)
        remote = RemoteShop.create(url, {"domain": node_domain(request.node.nodeid), **doc})
        yield remote
        remote.delete()
        return
    rivosim: PluginSimulator = request.getfixturevalue("rivosim")
    creds = make_shop(rivosim, doc, node_domain(request.node.nodeid))
    add_faults(rivosim, opts.faults, creds.domain)
    yield creds


class _SessionServer:
    """The session's (the xdist worker's) simulator and real server, started on first use."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.sim: PluginSimulator | None = None
        self.server: Server | None = None

    def get(self) -> tuple[PluginSimulator, Server]:
        if self.sim is None or self.server is None:
            from rivosim.transports.server import Server

            sim = PluginSimulator(seed=self.seed, clock="wall")

            def on_error(exc: BaseException, environ: dict[str, Any] | None) -> None:
                where = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}" if environ else "tick"
                sim.server_errors.append(f"{where}: {''.join(traceback.format_exception(exc)).rstrip()}")

            server = Server(sim.app, tick=sim.tick, on_app_error=on_error).start()
            self.sim, self.server = sim, server
        return self.sim, self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.sim is not None:
            self.sim.outbox.close()


@pytest.fixture(scope="session")
def rivosim_session_server(request: pytest.FixtureRequest) -> Iterator[_SessionServer]:
    """One real server for the session (each xdist worker has its own session, so its own port)."""
    given = request.config.getoption("--rivosim-seed")
    holder = _SessionServer(SESSION_SEED if given is None else int(given))
    yield holder
    holder.stop()


class ServerHandle:
    """This test's view of the session's real server: its URLs, its fresh shop, and helpers scoped to both."""

    def __init__(self, sim: PluginSimulator, server: Server, creds: ShopCredentials, journal_since: int) -> None:
        self.sim = sim
        self.server = server
        self.shop = creds
        self.domain = creds.domain
        self.url = server.url
        self.rivo_url = server.url + "/merchant_api/v1"
        self.control_url = server.url + "/_rivosim"
        self.shop_url = f"{server.url}/_rivosim/shops/{creds.domain}"
        self.journal = JournalView(sim.journal, journal_since, creds.domain)
        self.webhooks = Webhooks(sim, creds.domain)
        self.scenario_result: Any = None

    def advance(self, by: float | str | timedelta | Duration) -> Any:
        """Jump the server's clock forward (for every shop on it: the clock is the session's)."""
        return self.sim.advance(by)

    def run_until_idle(self) -> Any:
        return self.sim.run_until_idle()

    def __repr__(self) -> str:
        return f"ServerHandle(url={self.url!r}, domain={self.domain!r})"


@pytest.fixture
def rivosim_server(rivosim_session_server: _SessionServer, rivosim_config: dict[str, Any],
                   request: pytest.FixtureRequest) -> Iterator[ServerHandle]:
    """The session's real server (wall clock), with a fresh shop named after this test; removed afterwards."""
    sim, server = rivosim_session_server.get()
    opts = options(request.node)
    if opts.seed is not None:
        pytest.fail("@pytest.mark.rivosim(seed=...) cannot apply to rivosim_server: its simulator is the "
                    "session's (use --rivosim-seed)", pytrace=False)
    watched = watch(request, sim, "rivosim_server", sim.seed, allow_unmatched(request.config, opts))
    domain = node_domain(request.node.nodeid)
    with sim.lock:
        if domain in sim.shops:  # a rerun of the same test in this session: start it afresh
            sim.delete_shop(domain)
        creds = make_shop(sim, merge_patch(rivosim_config, opts.config), domain)
        add_faults(sim, opts.faults, creds.domain)
    watched.notes.append(f"shop {creds.domain} on {server.url} (session seed; ids are per shop)")
    handle = ServerHandle(sim, server, creds, watched.journal_since)
    if opts.scenario:
        handle.scenario_result = run_scenario_for(request, opts.scenario, against=server.url)
    yield handle
    with sim.lock:
        sim.faults.clear(shop=creds.domain)
        if creds.domain in sim.shops:
            sim.delete_shop(creds.domain)


@pytest.fixture
def rivosim_mock(rivosim: PluginSimulator, request: pytest.FixtureRequest) -> Iterator[Any]:
    """In-process mode for this test: calls from ``requests``, ``httpx`` (sync and async) and ``aiohttp``
    (whichever are installed) to the Rivo API host and ``*.myshopify.com`` go to ``rivosim`` (no sockets, the
    virtual clock). Yields the active :class:`rivosim.transports.inprocess.MockApis` (``rivo_url``,
    ``shopify_url(domain)``, ``add``/``add_callback`` to mock your own webhook receiver, ``aiohttp`` for your own
    aiohttp mocks). Other hosts pass through unless ``@pytest.mark.rivosim(passthrough=False)`` or the ini's
    ``rivosim_mock_passthrough = false`` refuse them."""
    from rivosim.transports.inprocess import mock_apis

    with mock_apis(rivosim, app=rivosim.app, passthrough=passthrough(request.config, options(request.node))) as apis:
        yield apis
