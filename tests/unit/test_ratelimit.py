"""Token buckets on simulator time: burst, refill, Retry-After that is honest, and the window bound."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rivosim.faults.ratelimit import BucketSpec, RateLimiter, TokenBucket
from rivosim.kernel.clock import DEFAULT_START


def test_burst_then_refusal_then_refill() -> None:
    now = DEFAULT_START
    bucket = TokenBucket(rate=15, burst=15, now=now)
    assert all(bucket.take(now).allowed for _ in range(15))
    refused = bucket.take(now)
    assert not refused.allowed and 1 / 15 <= refused.retry_after < 1 / 15 + 1e-6
    assert bucket.take(now + timedelta(seconds=refused.retry_after)).allowed


def test_shopify_figures_used_over_bucket() -> None:
    # shopify-api.md §3: a header of 39/40 becomes 19/40 after 10 s at 2/s.
    now = DEFAULT_START
    bucket = TokenBucket(rate=2, burst=40, now=now)
    for _ in range(39):
        decision = bucket.take(now)
    assert decision.used == 39 and decision.limit == 40
    later = bucket.take(now + timedelta(seconds=10), cost=0)
    assert round(later.used) == 19


def test_limiter_keys_are_independent_and_disabled_specs_do_nothing() -> None:
    limiter = RateLimiter()
    spec = BucketSpec(rate=1, burst=1)
    now = DEFAULT_START
    assert limiter.check("a", spec, now).allowed
    assert not limiter.check("a", spec, now).allowed
    assert limiter.check("b", spec, now).allowed
    assert limiter.check("a", BucketSpec(1, 1, enabled=False), now) is None


def test_a_cost_above_the_bucket_is_never_allowed() -> None:
    bucket = TokenBucket(rate=100, burst=1000, now=DEFAULT_START)
    decision = bucket.take(DEFAULT_START, cost=1001)
    assert not decision.allowed and decision.retry_after == float("inf")


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0.5, 50), burst=st.integers(1, 40), gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=300),
       window=st.floats(0.1, 20))
def test_accepted_requests_never_exceed_burst_plus_rate_times_window(rate: float, burst: int, gaps: list[float],
                                                                     window: float) -> None:
    now = DEFAULT_START
    bucket = TokenBucket(rate=rate, burst=burst, now=now)
    accepted = []
    for gap in gaps:
        now += timedelta(seconds=gap)
        if bucket.take(now).allowed:
            accepted.append(now)
    for i, start in enumerate(accepted):
        inside = sum(1 for t in accepted[i:] if (t - start).total_seconds() <= window)
        assert inside <= burst + rate * window + 1e-6


def test_a_client_that_honours_retry_after_is_never_refused_twice_in_a_row() -> None:
    rng = random.Random(3)
    now = DEFAULT_START
    bucket = TokenBucket(rate=15, burst=15, now=now)
    previous_refused = False
    for _ in range(2000):
        decision = bucket.take(now)
        if decision.allowed:
            previous_refused = False
            now += timedelta(seconds=rng.choice([0, 0, 0.01, 0.05]))
        else:
            assert not previous_refused
            previous_refused = True
            now += timedelta(seconds=decision.retry_after)
