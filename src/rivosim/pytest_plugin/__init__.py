"""The pytest plugin (registered through the ``pytest11`` entry point, so installing rivosim enables it).

Fixtures (``fixtures``): ``rivosim`` (a fresh simulator per test on a virtual clock), ``rivosim_shop`` (a fresh
shop's credentials on it), ``rivosim_server`` (one real server per session — per xdist worker — with a fresh shop
per test), ``rivosim_config`` (the document fresh shops are made from) and ``rivosim_mock`` (in-process mode for
``requests``, ``httpx`` and ``aiohttp``). Marker (``options``): ``@pytest.mark.rivosim(seed=, config=, faults=,
scenario=, allow_unmatched=, passthrough=)``. After each test that used them (``checks``), a simulator bug (a 500
nobody injected) or a request that matched no route fails the test, with the server-side traceback or the "nearest
routes" explanation; the seed is printed with any failure.
"""

from __future__ import annotations

from rivosim.pytest_plugin.checks import pytest_runtest_call, pytest_runtest_makereport
from rivosim.pytest_plugin.fixtures import (
    ServerHandle,
    rivosim,
    rivosim_config,
    rivosim_mock,
    rivosim_server,
    rivosim_session_server,
    rivosim_shop,
)
from rivosim.pytest_plugin.options import pytest_addoption, pytest_configure
from rivosim.testing.helpers import JournalView, PluginSimulator, ShopCredentials, Webhooks, node_domain, node_seed

__all__ = [
    "JournalView",
    "PluginSimulator",
    "ServerHandle",
    "ShopCredentials",
    "Webhooks",
    "node_domain",
    "node_seed",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "rivosim",
    "rivosim_config",
    "rivosim_mock",
    "rivosim_server",
    "rivosim_session_server",
    "rivosim_shop",
]
