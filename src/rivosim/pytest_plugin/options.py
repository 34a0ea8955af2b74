"""The plugin's command-line and ini options, the ``@pytest.mark.rivosim`` marker, and what the fixtures build
from them: seeds, fault rules, shops and scenarios (a refused one fails the test with the reason)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from rivosim.domain.config import merge_patch
from rivosim.engine import Simulator
from rivosim.kernel.errors import SimError
from rivosim.pytest_plugin.shops import LocalShop
from rivosim.testing.helpers import node_seed

__all__ = ["MARKER_KEYS", "Options", "add_faults", "allow_unmatched", "make_shop", "options", "passthrough",
           "pytest_addoption",
           "pytest_configure", "run_scenario_for", "seed_for"]

MARKER_KEYS = ("seed", "config", "faults", "scenario", "allow_unmatched", "passthrough")


# -- options and marker --------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rivosim", "rivosim simulator")
    group.addoption("--rivosim-seed", type=int, default=None, metavar="N",
                    help="seed every rivosim simulator with N (default: derived from each test's node id)")
    group.addoption("--rivosim-url", default=None, metavar="URL",
                    help="make each rivosim_shop on this running server (one shared by every worker), each shop "
                         "on its own clock")
    group.addoption("--rivosim-allow-unmatched", action="store_true", default=False,
                    help="do not fail tests whose requests matched no simulator route")
    parser.addini("rivosim_fail_on_unmatched", type="bool", default=True,
                  help="fail a test whose requests to the simulator matched no route (default: true)")
    parser.addini("rivosim_mock_passthrough", type="bool", default=True,
                  help="rivosim_mock: let calls to hosts it does not simulate reach the network, for every client "
                       "(default: true; false refuses them with each client's connection error)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rivosim(seed=None, config=None, faults=None, scenario=None, allow_unmatched=False, "
                   "passthrough=None): "
                   "seed, shop configuration (a merge patch over rivosim_config), fault rules and a scenario for "
                   "the rivosim fixtures")


@dataclass
class Options:
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    scenario: str | None = None
    allow_unmatched: bool | None = None
    passthrough: bool | None = None


def options(node: pytest.Item) -> Options:
    opts = Options()
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
        if "passthrough" in kw:
            opts.passthrough = bool(kw["passthrough"])
    return opts


def allow_unmatched(config: pytest.Config, opts: Options) -> bool:
    if opts.allow_unmatched is not None:
        return opts.allow_unmatched
    return bool(config.getoption("--rivosim-allow-unmatched")) or not config.getini("rivosim_fail_on_unmatched")


def passthrough(config: pytest.Config, opts: Options) -> bool:
    """Whether ``rivosim_mock`` lets unsimulated hosts through: the marker's word, else the ini's."""
    if opts.passthrough is not None:
        return opts.passthrough
    return bool(config.getini("rivosim_mock_passthrough"))


def seed_for(request: pytest.FixtureRequest, opts: Options) -> int:
    if opts.seed is not None:
        return opts.seed
    given = request.config.getoption("--rivosim-seed")
    return int(given) if given is not None else node_seed(request.node.nodeid)


def add_faults(sim: Simulator, faults: list[dict[str, Any]], domain: str | None) -> list[str]:
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


def make_shop(sim: Simulator, doc: dict[str, Any], domain: str) -> LocalShop:
    doc = dict(doc)
    doc.setdefault("domain", domain)
    try:
        shop = sim.create_shop(doc)
    except SimError as exc:
        problem = str(exc)
    else:
        return LocalShop(sim, shop.domain, shop.credentials)
    pytest.fail(f"rivosim: the shop configuration was refused: {problem}", pytrace=False)


def _scenario_path(request: pytest.FixtureRequest, path: str) -> str:
    """A scenario path as written, or relative to the test file's folder, or to the rootdir."""
    from pathlib import Path

    for candidate in (Path(path), Path(request.path).parent / path, Path(str(request.config.rootpath)) / path):
        if candidate.is_file():
            return str(candidate)
    pytest.fail(f"@pytest.mark.rivosim(scenario={path!r}): no such file (looked beside the test and in the rootdir)",
                pytrace=False)


def run_scenario_for(request: pytest.FixtureRequest, path: str, *, sim: Simulator | None = None,
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

