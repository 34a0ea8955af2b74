"""The pytest plugin (registered through the ``pytest11`` entry point, so installing rivosim enables it).

Fixtures: ``rivosim`` (a fresh simulator per test on a virtual clock), ``rivosim_shop`` (a fresh shop's
credentials on it), ``rivosim_server`` (one real server per session — per xdist worker — with a fresh shop per
test), ``rivosim_config`` (the document fresh shops are made from) and ``rivosim_mock`` (in-process mode).
Marker: ``@pytest.mark.rivosim(seed=, config=, faults=, scenario=, allow_unmatched=)``. After each test that
used them, a simulator bug (a 500 nobody injected) or a request that matched no route fails the test, with
the server-side traceback or the "nearest routes" explanation; the seed is printed with any failure.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from rivosim.domain.config import merge_patch
from rivosim.engine import Simulator
from rivosim.kernel.clock import Duration
from rivosim.kernel.errors import SimError
from rivosim.kernel.journal import Journal
from rivosim.testing.helpers import JournalView, PluginSimulator, ShopCredentials, Webhooks, node_domain, node_seed

if TYPE_CHECKING:
    from rivosim.transports.server import Server

__all__ = [
    "JournalView",
    "PluginSimulator",
    "ServerHandle",
    "ShopCredentials",
    "Webhooks",
    "node_domain",
    "node_seed",
]

MARKER_KEYS = ("seed", "config", "faults", "scenario", "allow_unmatched")
SESSION_SEED = 0  # the session server's seed when --rivosim-seed is not given (one per worker, all alike)


# -- per-test bookkeeping ------------------------------------------------------------------------------------------
@dataclass
class _Watch:
    """One simulator a test used, and where its journal and bug list stood when the test started."""

    sim: Simulator
    label: str
    seed: int
    journal_since: int
    bugs_since: int
    errors_since: int
    allow_unmatched: bool
    notes: list[str] = field(default_factory=list)
    reported: bool = False


_WATCHES = pytest.StashKey[list[_Watch]]()


def _journal_seq(journal: Journal) -> int:
    return int(getattr(journal, "_seq", 0))


def _watch(request: pytest.FixtureRequest, sim: Simulator, label: str, seed: int, allow_unmatched: bool) -> _Watch:
    errors = getattr(sim, "server_errors", [])
    watch = _Watch(sim, label, seed, _journal_seq(sim.journal), sim.bugs.total, len(errors), allow_unmatched)
    request.node.stash.setdefault(_WATCHES, []).append(watch)
    return watch


def _problems(watch: _Watch) -> list[str]:
    """What the test did wrong by the simulator's account (and marks it reported)."""
    sim = watch.sim
    out: list[str] = []
    with sim.lock:
        bugs = sim.bugs.since(watch.bugs_since)
        errors = list(getattr(sim, "server_errors", [])[watch.errors_since:])
        unmatched = [] if watch.allow_unmatched else [
            e for e in sim.journal.calls(since=watch.journal_since) if e.route is None and e.api in ("rivo", "shopify")]
    watch.bugs_since = sim.bugs.total
    watch.errors_since += len(errors)
    if unmatched:
        watch.journal_since = unmatched[-1].seq
    if bugs or errors:
        lines = [f"rivosim: simulator bug during this test ({watch.label}) — a 500 nobody injected; the simulator, "
                 "not your client, is at fault. Server-side error(s):"]
        for bug in bugs:
            lines.append(f"  {bug['where']}: {bug['error']}")
            if bug.get("traceback"):
                lines.extend("    " + line for line in bug["traceback"].splitlines())
        lines.extend(f"  {err}" for err in errors)
        out.append("\n".join(lines))
    if unmatched:
        lines = [f"rivosim: {len(unmatched)} request(s) matched no route ({watch.label}):"]
        for e in unmatched[:20]:
            lines.append(f"  {e.method} {e.path} -> {e.status}: {'; '.join(e.notes) or 'no route'}")
        lines.append("(expected? mark the test @pytest.mark.rivosim(allow_unmatched=True), pass "
                     "--rivosim-allow-unmatched, or set rivosim_fail_on_unmatched = false in the ini file)")
        out.append("\n".join(lines))
    return out


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    try:
        result = yield
    except BaseException:
        # The test failed on its own: keep its failure, add what the simulator saw as a report section.
        found = [p for w in item.stash.get(_WATCHES, []) for p in _problems(w)]
        if found:
            item.add_report_section("call", "rivosim", "\n\n".join(found))
        raise
    found = [p for w in item.stash.get(_WATCHES, []) for p in _problems(w)]
    if found:
        pytest.fail("\n\n".join(found), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    watches = item.stash.get(_WATCHES, [])
    if report.failed and watches:
        lines = []
        for w in watches:
            if w.reported:
                continue
            w.reported = True
            lines.append(f"{w.label}: seed {w.seed}" + (f" — {'; '.join(w.notes)}" if w.notes else ""))
        if lines:
            seed = watches[0].seed
            lines.append(f"replay: pytest '{item.nodeid}' --rivosim-seed={seed}")
            report.sections.append(("rivosim", "\n".join(lines)))
    return report


# -- options and marker --------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rivosim", "rivosim simulator")
    group.addoption("--rivosim-seed", type=int, default=None, metavar="N",
                    help="seed every rivosim simulator with N (default: derived from each test's node id)")
    group.addoption("--rivosim-allow-unmatched", action="store_true", default=False,
                    help="do not fail tests whose requests matched no simulator route")
    parser.addini("rivosim_fail_on_unmatched", type="bool", default=True,
                  help="fail a test whose requests to the simulator matched no route (default: true)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rivosim(seed=None, config=None, faults=None, scenario=None, allow_unmatched=False): "
                   "seed, shop configuration (a merge patch over rivosim_config), fault rules and a scenario for "
                   "the rivosim fixtures")


@dataclass
class _Options:
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    scenario: str | None = None
    allow_unmatched: bool | None = None


def _options(node: pytest.Item) -> _Options:
    opts = _Options()
    # Farthest first (module, class, then function) so the closest marker wins and configs merge inward.
    for marker in reversed(list(node.iter_markers("rivosim"))):
        if marker.args:
            pytest.fail("@pytest.mark.rivosim takes keyword arguments only: "
                        f"{', '.join(MARKER_KEYS)}", pytrace=False)
        unknown = set(marker.kwargs) - set(MARKER_KEYS)
        if unknown:
            pytest.fail(f"@pytest.mark.rivosim: unknown argument {sorted(unknown)[0]!r}; accepted: "
                        f"{', '.join(MARKER_KEYS)}", pytrace=False)
        kw = marker.kwargs
        if "seed" in kw:
            if isinstance(kw["seed"], bool) or not isinstance(kw["seed"], int):
                pytest.fail("@pytest.mark.rivosim(seed=...) must be an integer", pytrace=False)
            opts.seed = kw["seed"]
        if "config" in kw:
            if not isinstance(kw["config"], dict):
                pytest.fail("@pytest.mark.rivosim(config=...) must be a dict (a shop configuration document)",
                            pytrace=False)
            opts.config = merge_patch(opts.config, kw["config"])
        if "faults" in kw:
            faults = kw["faults"]
            if not isinstance(faults, list | tuple) or not all(isinstance(f, dict) for f in faults):
                pytest.fail("@pytest.mark.rivosim(faults=...) must be a list of fault rule dicts", pytrace=False)
            opts.faults = [copy.deepcopy(f) for f in faults]
        if "scenario" in kw:
            opts.scenario = str(kw["scenario"])
        if "allow_unmatched" in kw:
            opts.allow_unmatched = bool(kw["allow_unmatched"])
    return opts


def _allow_unmatched(config: pytest.Config, opts: _Options) -> bool:
    if opts.allow_unmatched is not None:
        return opts.allow_unmatched
    return bool(config.getoption("--rivosim-allow-unmatched")) or not config.getini("rivosim_fail_on_unmatched")


def _seed_for(request: pytest.FixtureRequest, opts: _Options) -> int:
    if opts.seed is not None:
        return opts.seed
    given = request.config.getoption("--rivosim-seed")
    return int(given) if given is not None else node_seed(request.node.nodeid)


def _add_faults(sim: Simulator, faults: list[dict[str, Any]], domain: str | None) -> list[str]:
    ids = []
    for i, raw in enumerate(faults):
        rule = copy.deepcopy(raw)
        if domain is not None:
            rule["match"] = {"shop": domain, **(rule.get("match") or {})}
        try:
            ids.append(sim.faults.add(rule, sim.now(), where=f"faults[{i}]").id)
        except SimError as exc:
            problem = str(exc)
        else:
            continue
        pytest.fail(f"@pytest.mark.rivosim(faults=...): {problem}", pytrace=False)
    return ids


def _make_shop(sim: Simulator, doc: dict[str, Any], domain: str) -> ShopCredentials:
    doc = dict(doc)
    doc.setdefault("domain", domain)
    try:
        shop = sim.create_shop(doc)
    except SimError as exc:
        problem = str(exc)
    else:
        return ShopCredentials(shop.domain, shop.credentials)
    pytest.fail(f"rivosim: the shop configuration was refused: {problem}", pytrace=False)


def _scenario_path(request: pytest.FixtureRequest, path: str) -> str:
    """A scenario path as written, or relative to the test file's folder, or to the rootdir."""
    from pathlib import Path

    for candidate in (Path(path), Path(request.path).parent / path, Path(str(request.config.rootpath)) / path):
        if candidate.is_file():
            return str(candidate)
    pytest.fail(f"@pytest.mark.rivosim(scenario={path!r}): no such file (looked beside the test and in the rootdir)",
                pytrace=False)


def _scenario(request: pytest.FixtureRequest, path: str, *, sim: Simulator | None = None,
              against: str | None = None) -> Any:
    """Run a scenario file in this test's simulator (in-process, reset to the test's seed first) or against the
    session's server (a new shop named after the scenario); a failed scenario fails the test."""
    from rivosim.scenarios import LoadError, load_scenario, run_scenario
    from rivosim.scenarios.report import format_failure
    from rivosim.transports.runner import InProcessTransport

    file = _scenario_path(request, path)
    try:
        scenario = load_scenario(file)
    except LoadError as exc:
        problem = str(exc)
    else:
        if sim is not None:
            result = run_scenario(scenario, seed=sim.seed, in_process=InProcessTransport(sim))
        else:
            result = run_scenario(scenario, against=against)
        if not result.passed:
            pytest.fail(f"rivosim scenario {file} failed:\n{format_failure(result)}", pytrace=False)
        return result
    pytest.fail(f"@pytest.mark.rivosim(scenario={path!r}): {problem}", pytrace=False)


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture
def rivosim_config() -> dict[str, Any]:
    """The shop configuration document fresh shops are made from (a merge patch over rivosim's defaults).
    Override it in a conftest or a test module; ``@pytest.mark.rivosim(config=...)`` patches it per test."""
    return {}


@pytest.fixture
def rivosim(request: pytest.FixtureRequest) -> Iterator[PluginSimulator]:
    """A fresh simulator for this test on a virtual clock (time moves only when the test says so)."""
    opts = _options(request.node)
    seed = _seed_for(request, opts)
    sim = PluginSimulator(seed=seed)
    _watch(request, sim, "rivosim", seed, _allow_unmatched(request.config, opts))
    if opts.scenario:
        sim.scenario_result = _scenario(request, opts.scenario, sim=sim)
    if "rivosim_shop" not in request.fixturenames:
        _add_faults(sim, opts.faults, None)
    yield sim
    sim.outbox.close()


@pytest.fixture
def rivosim_shop(rivosim: PluginSimulator, rivosim_config: dict[str, Any],
                 request: pytest.FixtureRequest) -> ShopCredentials:
    """The credentials of a fresh shop on ``rivosim``, made from ``rivosim_config`` and the marker's config.
    The marker's faults are scoped to this shop."""
    opts = _options(request.node)
    creds = _make_shop(rivosim, merge_patch(rivosim_config, opts.config), node_domain(request.node.nodeid))
    _add_faults(rivosim, opts.faults, creds.domain)
    return creds


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
    opts = _options(request.node)
    if opts.seed is not None:
        pytest.fail("@pytest.mark.rivosim(seed=...) cannot apply to rivosim_server: its simulator is the "
                    "session's (use --rivosim-seed)", pytrace=False)
    watch = _watch(request, sim, "rivosim_server", sim.seed, _allow_unmatched(request.config, opts))
    domain = node_domain(request.node.nodeid)
    with sim.lock:
        if domain in sim.shops:  # a rerun of the same test in this session: start it afresh
            sim.delete_shop(domain)
        creds = _make_shop(sim, merge_patch(rivosim_config, opts.config), domain)
        _add_faults(sim, opts.faults, creds.domain)
    watch.notes.append(f"shop {creds.domain} on {server.url} (session seed; ids are per shop)")
    handle = ServerHandle(sim, server, creds, watch.journal_since)
    if opts.scenario:
        handle.scenario_result = _scenario(request, opts.scenario, against=server.url)
    yield handle
    with sim.lock:
        sim.faults.clear(shop=creds.domain)
        if creds.domain in sim.shops:
            sim.delete_shop(creds.domain)



@pytest.fixture
def rivosim_mock(rivosim: PluginSimulator) -> Iterator[Any]:
    """In-process mode for this test: ``requests`` calls to the Rivo API host and ``*.myshopify.com`` go to
    ``rivosim`` (no sockets, the virtual clock); yields the active :class:`rivosim.transports.inprocess.MockApis`
    (``rivo_url``, ``shopify_url(domain)``, and ``add``/``add_callback`` to mock your own webhook receiver)."""
    from rivosim.transports.inprocess import mock_apis

    with mock_apis(rivosim, app=rivosim.app) as apis:
        yield apis
