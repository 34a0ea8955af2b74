"""The simulator's one seeded source of randomness and ids, split into independent per-shop streams.

A stream is derived from ``(seed, shop domain, purpose)`` by hashing, so what happens in one shop never
changes another shop's ids or draws, and the same seed replays a run byte for byte.
"""

from __future__ import annotations

import hashlib
import random
import string

__all__ = ["IdSource", "Randomness"]

_HEX = "0123456789abcdef"
_ALNUM = string.ascii_uppercase + string.digits


class Randomness:
    """Derives independent ``random.Random`` streams from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def stream(self, *names: str) -> random.Random:
        digest = hashlib.sha256(":".join([str(self.seed), *names]).encode()).digest()
        return random.Random(int.from_bytes(digest[:16], "big"))


class IdSource:
    """Ids and secrets for one shop: ascending integer ids per kind, tokens, codes.

    Each id kind starts from its own base drawn from the shop's stream, then counts up — ascending ids are
    what cursor pagination (``since_id``) relies on, as on the real APIs.
    """

    # kind -> (low, high) range the base is drawn from; Shopify ids are 13 digits like the real ones.
    BASES: dict[str, tuple[int, int]] = {
        "shopify_customer": (7_000_000_000_000, 9_000_000_000_000),
        "shopify_order": (5_000_000_000_000, 6_000_000_000_000),
        "shopify_line_item": (13_000_000_000_000, 14_000_000_000_000),
        "shopify_refund": (900_000_000_000, 990_000_000_000),
        "shopify_transaction": (6_000_000_000_000, 7_000_000_000_000),
        "shopify_metafield": (20_000_000_000_000, 21_000_000_000_000),
        "shopify_webhook": (1_000_000_000_000, 1_100_000_000_000),
        "shopify_theme": (120_000_000_000, 130_000_000_000),
        "shop": (50_000_000_000, 90_000_000_000),
    }
    DEFAULT_BASE = (100_000, 900_000)

    def __init__(self, randomness: Randomness, domain: str) -> None:
        self._tag = f"{randomness.seed}:{domain}"
        self._secrets = randomness.stream(domain, "secrets")
        self._counters: dict[str, int] = {}
        self.streams: dict[str, random.Random] = {}
        """Purpose -> the shop's stream for it (``stream``): kept here, with the shop, so they go where it goes."""

    def stream(self, purpose: str) -> random.Random:
        """The shop's own stream for ``purpose`` (sample webhook ids, say), made on first use — the one
        ``Randomness.stream(domain, purpose)`` gives — and kept: later calls continue it, a snapshot of the shop
        saves its position, a new shop (after a reset) starts it again."""
        stream = self.streams.get(purpose)
        if stream is None:
            digest = hashlib.sha256(f"{self._tag}:{purpose}".encode()).digest()
            stream = self.streams[purpose] = random.Random(int.from_bytes(digest[:16], "big"))
        return stream

    def next(self, kind: str) -> int:
        """The next id of ``kind``; each kind's base is a pure function of (seed, domain, kind)."""
        current = self._counters.get(kind)
        if current is None:
            low, high = self.BASES.get(kind, self.DEFAULT_BASE)
            digest = hashlib.sha256(f"{self._tag}:{kind}".encode()).digest()
            current = low + int.from_bytes(digest[:8], "big") % (high - low)
        current += 1
        self._counters[kind] = current
        return current

    def peek(self, kind: str) -> int | None:
        """The last id handed out for ``kind`` (None before the first)."""
        return self._counters.get(kind)

    def hex(self, length: int) -> str:
        return "".join(self._secrets.choice(_HEX) for _ in range(length))

    def alnum(self, length: int) -> str:
        return "".join(self._secrets.choice(_ALNUM) for _ in range(length))

    def token(self, prefix: str, length: int = 32) -> str:
        return prefix + self.hex(length)
