"""Scenarios: YAML files that replay customer lifecycles against rivosim and check what triggers fired, what
was delivered and what a MESA-style workflow client did (``rivosim run``; format in scenarios/README.md).

Modules: ``schema`` (the published JSON Schema), ``loader`` (YAML with file:line errors: ``yaml_positions``
composes, ``validation`` checks meaning), ``expr`` (filters and templates), ``transport`` (in-process or HTTP),
``runner`` (``ScenarioRunner``: set-up, steps, failures, many scenarios; the step kinds are registered on the
runner), ``context`` (what steps see, settling), ``steps`` (what each step kind does), ``expectations``,
``matching`` (expected-subset comparisons), ``report`` (terminal and JUnit XML).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LoadError", "Scenario", "ScenarioResult", "ScenarioRunner", "load_paths", "load_scenario", "run_scenario",
           "run_scenarios"]

_LAZY = {"LoadError": "loader", "Scenario": "loader", "load_paths": "loader", "load_scenario": "loader",
         "ScenarioResult": "runner", "ScenarioRunner": "runner", "run_scenario": "runner", "run_scenarios": "runner"}


def __getattr__(name: str) -> Any:
    # Lazy, so ``rivosim.workflows`` can use ``scenarios.expr`` without importing the runner (which imports it).
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(name)
