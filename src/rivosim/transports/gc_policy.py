"""The garbage-collection policy of a long-running ``rivosim serve``: freeze what is old so no collection re-scans
it, and still free the worlds that resets and deleted shops leave behind."""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rivosim.engine import Simulator

__all__ = ["REFREEZE_AFTER_DELETIONS", "REFREEZE_AFTER_SECONDS", "tune_gc_for_serving"]


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info["generation"] == 2:  # the collection is over: what is left is alive
        gc.freeze()


# A deleted (or reset) shop's cycles sit in the frozen generation until the next refreeze, which costs one full
# collection of the whole heap (hundreds of ms on a big server). A shared CI server deletes a shop after every test,
# so the refreeze is amortised: after this many deletions, or this long after the last one, whichever comes first.
REFREEZE_AFTER_DELETIONS = 16
REFREEZE_AFTER_SECONDS = 10.0


def tune_gc_for_serving(sim: Simulator) -> None:
    """GC for a long-running server (README, "What POST pays for"): the seeded world is frozen after start-up (and
    again after a reset, and after deleted shops, which first collects the old worlds' cycles), then whatever
    survives each full collection, so none re-scans the ever-growing heap (POST: ~40 -> ~15 µs a request, pauses
    200+ -> < 55 ms); the request in flight then, if cyclic, is never collected. Freezing after young passes kept every
    young cycle. Deleted shops are freed in batches (``REFREEZE_AFTER_DELETIONS`` / ``REFREEZE_AFTER_SECONDS``)."""
    gc.collect()
    gc.freeze()
    pending = [0, time.monotonic()]  # deletions not yet collected, when the last refreeze ran

    def refreeze(*_: object) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        pending[:] = [0, time.monotonic()]

    def deleted(_domain: str) -> None:
        pending[0] += 1
        if pending[0] >= REFREEZE_AFTER_DELETIONS or time.monotonic() - pending[1] >= REFREEZE_AFTER_SECONDS:
            refreeze()

    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)
    sim.on_reset.append(refreeze)
    sim.on_shop_deleted.append(deleted)
