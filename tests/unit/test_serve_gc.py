"""``rivosim serve``'s garbage-collection policy (cli.tune_gc_for_serving): old state is frozen so no pass
re-scans it, yet a reset or a deleted shop — whole worlds full of reference cycles — is really freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from rivosim import Simulator
from rivosim.cli import tune_gc_for_serving


@pytest.fixture
def serving_gc() -> Iterator[None]:
    thresholds, callbacks = gc.get_threshold(), list(gc.callbacks)
    try:
        yield
    finally:  # the policy is process-wide: give the test process its own back
        gc.callbacks[:] = callbacks
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def test_a_deleted_shop_is_freed_although_it_was_frozen(serving_gc: None) -> None:
    sim = Simulator(seed=1)
    shop = sim.create_shop({"domain": "gone.myshopify.com"}, customers=20)
    tune_gc_for_serving(sim)  # freezes the shop, as a server start does
    assert gc.get_freeze_count() > 0
    ref = weakref.ref(shop)
    del shop
    sim.delete_shop("gone.myshopify.com")
    assert ref() is None  # the shop and its cycles went with the deletion


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
