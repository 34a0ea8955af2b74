"""rivosim: a local, deterministic, stateful simulator of the Rivo loyalty merchant API and the Shopify Admin
slice it lives on. Start with ``Simulator`` and ``create_app``; see README.md."""

from __future__ import annotations

from .clock import VirtualClock, WallClock, parse_duration
from .config import default_config, validate_config
from .engine import Simulator
from .errors import SimError
from .http.app import create_app

__all__ = [
    "SimError",
    "Simulator",
    "VirtualClock",
    "WallClock",
    "create_app",
    "default_config",
    "parse_duration",
    "validate_config",
]

__version__ = "0.1.0"
