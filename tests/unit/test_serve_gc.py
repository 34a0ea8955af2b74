"""``rivosim serve``'s garbage-collection policy (cli.tune_gc_for_serving): old state is frozen so no pass
re-scans it, yet a reset or a deleted shop — whole worlds full of reference cycles — is really freed."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from rivosim import Simulator
from rivosim.cli import tune_gc_for_serving
from rivosim.transports import gc_policy
from rivosim.transports.gc_policy import REFREEZE_AFTER_DELETIONS, REFREEZE_AFTER_SECONDS


@pytest.fixture
def serving_gc() -> Iterator[None]:
    thresholds, callbacks = gc.get_threshold(), list(gc.callbacks)
    try:
        yield
    finally:  # the policy is process-wide: give the test process its own back
        gc.callbacks[:] = callbacks
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def test_deleted_shops_are_freed_in_batches_although_they_were_frozen(serving_gc: None) -> None:
    # One full collection of the whole heap per deleted shop made a shared server's per-test shop cleanup cost
    # hundreds of ms: deletions are collected together, after REFREEZE_AFTER_DELETIONS of them.
    sim = Simulator(seed=1)
    shops = [sim.create_shop({"domain": f"gone{i}.myshopify.com"}, customers=5)
             for i in range(REFREEZE_AFTER_DELETIONS)]
    tune_gc_for_serving(sim)  # freezes the shops, as a server start does
    assert gc.get_freeze_count() > 0
    refs = [weakref.ref(shop) for shop in shops]
    del shops
    full = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(1)

    gc.callbacks.append(count)
    for i in range(REFREEZE_AFTER_DELETIONS - 1):
        sim.delete_shop(f"gone{i}.myshopify.com")
    assert full == [] and refs[0]() is not None  # not yet: no full collection per deletion
    sim.delete_shop(f"gone{REFREEZE_AFTER_DELETIONS - 1}.myshopify.com")
    assert len(full) == 1 and all(ref() is None for ref in refs)  # the batch went with one collection


def test_a_lone_deletion_is_freed_once_the_interval_has_passed(
        serving_gc: None, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop({"domain": "late.myshopify.com"}, customers=5)
    tune_gc_for_serving(sim)
    ref = weakref.ref(shop)
    del shop
    later = time.monotonic() + REFREEZE_AFTER_SECONDS + 1
    monkeypatch.setattr(gc_policy.time, "monotonic", lambda: later)
    sim.delete_shop("late.myshopify.com")
    assert ref() is None


def test_a_reset_frees_the_old_world(serving_gc: None) -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop({"domain": "old.myshopify.com"}, customers=20)
    tune_gc_for_serving(sim)
    ref = weakref.ref(shop)
    del shop
    sim.reset()
    assert ref() is None


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_only_what_survives_a_full_collection_is_frozen(serving_gc: None) -> None:
    # Freezing what survived every young pass kept young reference cycles forever (RSS grew per request): young
    # passes freeze nothing, the thresholds stay the defaults, and a cycle that is garbage when a full collection
    # runs is collected by it, not frozen.
    thresholds = gc.get_threshold()
    sim = Simulator(seed=1)
    tune_gc_for_serving(sim)
    tune_gc_for_serving(sim)  # idempotent: one callback
    frozen = gc.get_freeze_count()
    assert frozen > 0 and gc.get_threshold() == thresholds
    assert sum(getattr(c, "__name__", "") == "_freeze_survivors" for c in gc.callbacks) == 1
    kept = [[i] for i in range(5000)]
    gc.collect(1)
    assert gc.get_freeze_count() == frozen
    garbage = _Node()
    ref = weakref.ref(garbage)
    del garbage
    gc.collect()
    assert ref() is None  # collected, not frozen
    assert gc.get_freeze_count() >= frozen + 5000 and kept  # the survivors are frozen: no later pass re-scans them
