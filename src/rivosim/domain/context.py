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
from rivosim.kernel.timers import Arg


def _never_refused(url: str) -> str | None:
    return None


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
    handle: Callable[[str, Callable[..., object]], None]
    """Register the handler of a named timer action (once, by the component that owns the action)."""
    schedule: Callable[[datetime, str, tuple[Arg, ...]], object]
    """Queue background *work* at an instant: a named action and its JSON-able arguments (ids, not objects);
    ``run_until_idle`` waits for it (deliveries, syncs)."""
    keep_time: Callable[[datetime, str, tuple[Arg, ...]], object]
    """Schedule *timekeeping* (a daily tick, an expiry date): runs when time passes, never keeps anyone busy."""
    webhook_url_refusal: Callable[[str], str | None] = _never_refused
    """Why a webhook URL may not be subscribed (it points at the simulator's own server), or None."""
