"""The trigger log keeps the newest ``cap`` triggers and drops the oldest in O(1) (issue 14): it answers what the
list it replaced answered (order, indexes, slices, equality with a list)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from rivosim.webhooks.rivo_topics import TriggerLog

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _fire(log: TriggerLog, n: int) -> None:
    for _ in range(n):
        log.append(at=AT, topic="points_event/created", customer_id=1, cause="test", delivery_id=None, payload={})


def test_the_log_keeps_the_newest_cap_triggers_in_order() -> None:
    log = TriggerLog(cap=5)
    assert log.items == [] and not log.items and log.cap == 5
    _fire(log, 12)
    assert [t.seq for t in log.items] == [8, 9, 10, 11, 12]
    assert log.items[-1].seq == 12 and log.items[0].seq == 8
    assert [t.seq for t in log.items[1:3]] == [9, 10] and isinstance(log.items[1:3], list)
    assert log.items == list(log.items) and len(log.items) == 5


def test_trimming_at_the_cap_costs_what_appending_below_it_costs() -> None:
    """Generous bound: deleting the oldest of 100,000 list entries moved them all on every trigger (≥ 10x)."""
    log = TriggerLog()
    started = time.perf_counter()
    _fire(log, log.cap)  # up to the cap: nothing to trim
    filling = time.perf_counter() - started
    started = time.perf_counter()
    _fire(log, log.cap)  # at the cap: every trigger drops the oldest
    trimming = time.perf_counter() - started
    assert len(log.items) == log.cap and log.items[0].seq == log.cap + 1
    assert trimming <= 4 * filling + 0.5, (filling, trimming)
