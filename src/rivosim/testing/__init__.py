"""Testing Rivo workflows: ``strategies`` (hypothesis strategies for customers, orders, refunds, programs, tier
structures, points events, time steps, fault plans), ``LoyaltyMachine`` (a stateful test of one shop through the
public API against a model of the README's rules; subclass it for your own workflow) and ``helpers`` (what the
pytest plugin's fixtures hand out). Imported lazily: the pytest plugin needs ``helpers`` without hypothesis.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KNOWN_DEVIATIONS", "LoyaltyMachine", "strategies"]


def __getattr__(name: str) -> Any:
    from importlib import import_module

    if name == "strategies":
        return import_module(f"{__name__}.strategies")
    if name in ("LoyaltyMachine", "KNOWN_DEVIATIONS"):
        return getattr(import_module(f"{__name__}.machine"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
