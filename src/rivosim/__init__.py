"""rivosim: a local, deterministic, stateful simulator of the Rivo loyalty merchant API and the Shopify Admin
slice it lives on. Start with ``Simulator`` and ``create_app``; see README.md."""

from __future__ import annotations

from rivosim.domain.config import default_config
from rivosim.engine import Simulator
from rivosim.engine import validate_shop_document as validate_config
from rivosim.http.app import create_app
from rivosim.kernel.clock import VirtualClock, WallClock, parse_duration
from rivosim.kernel.errors import SimError

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
