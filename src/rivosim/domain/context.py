"""What a backend needs from its shop: time, ids, randomness, the event bus and the live (typed) settings;
and the shop's credentials, which the parts that sign or check tokens are handed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rivosim.domain.events import EventBus
from rivosim.domain.settings import ShopSettings
from rivosim.kernel.ids import IdSource


@dataclass(slots=True)
class Credentials:
    """A shop's secrets: its Rivo API key and webhook signing key, and the Shopify app's token, key and secret."""

    rivo_api_key: str
    webhook_secret: str
    shopify_access_token: str
    shopify_api_key: str
    shopify_api_secret: str


@dataclass(slots=True)
class ShopContext:
    domain: str
    now: Callable[[], datetime]
    ids: IdSource
    rng: random.Random
    bus: EventBus
    settings: Callable[[], ShopSettings]
    """The shop's configuration as it stands (typed; re-parsed whenever the document changes)."""
    schedule: Callable[[datetime, Callable[[], object], str], object]
    """Queue background *work* at an instant (``run_until_idle`` waits for it: deliveries, syncs)."""
    keep_time: Callable[[datetime, Callable[[], object], str], object]
    """Schedule *timekeeping* (a daily tick, an expiry date): runs when time passes, never keeps anyone busy."""
