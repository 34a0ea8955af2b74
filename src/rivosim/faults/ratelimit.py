"""Rate limits as data: token buckets refilled on the simulator clock, shared by the Rivo limit (15 req/s per
key, rivo-api.md §1.7), Shopify's REST leaky bucket (40, leaking 2/s) and its GraphQL cost bucket.

A leaky bucket of size B leaking r/s is the same machine as a token bucket of size B refilling r/s: the
"used" figure Shopify reports (``X-Shopify-Shop-Api-Call-Limit: 32/40``) is ``B - tokens``. Because buckets
refill on simulator time, in-process tests never sleep, and over any window ``[t, t + w]`` the accepted cost
never exceeds ``burst + rate * w``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["BucketSpec", "Decision", "RateLimiter", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class BucketSpec:
    rate: float  # tokens restored per second
    burst: float  # bucket size
    enabled: bool = True

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> BucketSpec:
        return cls(rate=float(raw.get("rate", 1)), burst=float(raw.get("burst", 1)),
                   enabled=bool(raw.get("enabled", True)))


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until ``cost`` tokens are available (0 when allowed)
    used: float  # burst - tokens after this decision (Shopify's "used" figure)
    limit: float
    remaining: float


class TokenBucket:
    __slots__ = ("_at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: datetime) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._at = now

    def _refill(self, now: datetime) -> None:
        elapsed = (now - self._at).total_seconds()
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self._at = now

    def peek(self, now: datetime) -> float:
        self._refill(now)
        return self.tokens

    def take(self, now: datetime, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens if there are enough; otherwise refuse and say how long to wait."""
        self._refill(now)
        if cost <= self.tokens + 1e-9:
            self.tokens -= cost
            return Decision(True, 0.0, self.burst - self.tokens, self.burst, self.tokens)
        if cost > self.burst:
            return Decision(False, math.inf, self.burst - self.tokens, self.burst, self.tokens)
        # Round up to the clock's resolution (1 µs): a client that waits exactly this long must get through.
        wait = math.ceil((cost - self.tokens) / self.rate * 1e6) / 1e6
        return Decision(False, wait, self.burst - self.tokens, self.burst, self.tokens)


class RateLimiter:
    """Buckets by key (e.g. ``rivo:<api key>``, ``shopify_rest:<token>``); a spec change resets that bucket."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[BucketSpec, TokenBucket]] = {}

    def check(self, key: str, spec: BucketSpec, now: datetime, cost: float = 1.0) -> Decision | None:
        """None when the spec is disabled; otherwise the bucket's decision (tokens taken when allowed)."""
        if not spec.enabled:
            return None
        entry = self._buckets.get(key)
        if entry is None or entry[0] != spec:
            entry = (spec, TokenBucket(spec.rate, spec.burst, now))
            self._buckets[key] = entry
        return entry[1].take(now, cost)

    def peek(self, key: str, now: datetime) -> float | None:
        entry = self._buckets.get(key)
        return None if entry is None else entry[1].peek(now)

    def export_state(self, *needles: str) -> dict[str, Any]:
        """The buckets whose key names any of ``needles`` (a shop's domain, its API key or token): its share, for
        a snapshot of the shop."""
        return {"limiter": {k: v for k, v in self._buckets.items() if any(n in k for n in needles)}}

    def import_state(self, state: dict[str, Any]) -> None:
        self._buckets.update(state.get("limiter") or {})

    def forget(self, prefix: str = "") -> None:
        for key in [k for k in self._buckets if k.startswith(prefix)]:
            del self._buckets[key]
