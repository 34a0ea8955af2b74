"""What a backend needs from its shop: time, ids, randomness, the event bus and the live configuration."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rivosim.domain.events import EventBus
from rivosim.kernel.ids import IdSource


def _never_refused(url: str) -> str | None:
    return None


@dataclass(slots=True)
class ShopContext:
    domain: str
    now: Callable[[], datetime]
    ids: IdSource
    rng: random.Random
    bus: EventBus
    config: Callable[[], dict[str, Any]]
    schedule: Callable[[datetime, Callable[[], object], str], object]
    """Queue background *work* at an instant (``run_until_idle`` waits for it: deliveries, syncs)."""
    keep_time: Callable[[datetime, Callable[[], object], str], object]
    """Schedule *timekeeping* (a daily tick, an expiry date): runs when time passes, never keeps anyone busy."""
    webhook_url_refusal: Callable[[str], str | None] = _never_refused
    """Why a webhook URL may not be subscribed (it points at the simulator's own server), or None."""
