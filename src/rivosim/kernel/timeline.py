"""Every clock of one simulator: its default clock and one clock per shop, sharing one sequence counter.

A shop's own advance runs only its clock's heap (O(its due timers)). Moving *every* clock — the global advance,
``run_until_idle`` over all shops, the server's tick — is a k-way merge over the clocks' heaps: timers fire in
order of how far each clock has moved to reach them, then by their shared ``seq``. When all clocks stand at the
same instant (every shop on the simulator's default time) that is exactly the ``(due, seq)`` order one shared
clock would fire them in, so receivers see the same interleaving as before clocks were per shop.

The tick index: a heap of (real second a clock's earliest timer falls due by itself, seq, key), fed by the
clocks' watchers, so a wall-clock server's tick finds due work without looking at every shop.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from rivosim.kernel.clock import Clock, Duration, VirtualClock, WallClock, parse_duration, parse_instant
from rivosim.kernel.timers import Timer

__all__ = ["Timeline", "shop_clock"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def shop_clock(spec: object, start: datetime | None, default: Clock) -> Clock:
    """A shop's own clock: virtual from ``start`` when given, else as its document's ``clock`` says (``"wall"``,
    ``{"start": ...}``), else of the kind of the simulator's ``default`` clock, from its now."""
    if start is not None:
        return VirtualClock(start)
    if spec == "wall":
        return WallClock()
    if isinstance(spec, dict):
        return VirtualClock(parse_instant(spec["start"]))
    if isinstance(default, WallClock):
        return WallClock(offset=default.offset)
    return VirtualClock(default.now())


class Timeline:
    """The default clock (key ``""``) plus any number of keyed clocks (a shop's domain)."""

    def __init__(self, default: Clock, real: Callable[[], float] = WallClock.real_seconds) -> None:
        self.default = default
        self.seq = default.seq
        self._clocks: dict[str, Clock] = {}
        self._keys: dict[int, str] = {}
        self._real = real
        self._wake: list[tuple[float, int, str]] = []
        # While a merge runs: its heap and each clock's base instant (so new heads join it).
        self._merge: list[tuple[timedelta, int, str]] | None = None
        self._base: dict[str, datetime] = {}
        self._target: dict[str, datetime] = {}
        self._stopped = False
        self._attach("", default)

    # -- membership ----------------------------------------------------------------------------------------
    def _attach(self, key: str, clock: Clock) -> None:
        clock.seq = self.seq
        clock.seq_shared = True
        clock.watcher = self._watch
        self._keys[id(clock)] = key
        self._watch(clock, None)

    def add(self, key: str, clock: Clock, *, renumber: bool = False) -> Clock:
        """Make ``clock`` part of this timeline under ``key`` (it draws from the shared counter from now on).
        ``renumber``: its timers (a copy of a template's) take new numbers from the counter, in their own order,
        as if they had just been scheduled — so they interleave with other clocks' as a fresh clock's would."""
        if not key:
            raise ValueError("the empty key is the default clock's")
        if renumber:
            for timer in sorted(clock._heap, key=lambda t: t.seq):
                timer.seq = self.seq.next()
        self.remove(key)
        self._clocks[key] = clock
        self._attach(key, clock)
        return clock

    def remove(self, key: str) -> None:
        clock = self._clocks.pop(key, None)
        if clock is not None:
            clock.watcher = None
            self._keys.pop(id(clock), None)

    def get(self, key: str) -> Clock | None:
        return self.default if key == "" else self._clocks.get(key)

    def clocks(self) -> list[tuple[str, Clock]]:
        return [("", self.default), *self._clocks.items()]

    # -- the tick index --------------------------------------------------------------------------------------
    def _watch(self, clock: Clock, timer: Timer | None) -> None:
        key = self._keys.get(id(clock))
        if key is None:
            return
        head = timer if timer is not None else clock.head()
        if head is None:
            return
        merge = self._merge
        if merge is not None and key in self._target and head.due <= self._target[key]:
            heapq.heappush(merge, (head.due - self._base[key], head.seq, key))
        wake = clock.wakes_at(head.due)
        if wake is not None:
            heapq.heappush(self._wake, (wake, head.seq, key))
            if len(self._wake) > 4 * (len(self._clocks) + 16):
                self._rebuild_wake()

    def _rebuild_wake(self) -> None:
        fresh = []
        for key, clock in self.clocks():
            head = clock.head()
            wake = clock.wakes_at(head.due) if head is not None else None
            if wake is not None:
                fresh.append((wake, head.seq, key))  # type: ignore[union-attr]
        heapq.heapify(fresh)
        self._wake = fresh

    def run_due(self) -> int:
        """Fire what is due on every clock (the server's tick), in (due, seq) order across clocks; only the
        clocks the index says are due are looked at."""
        real = self._real()
        due: set[str] = set()
        wake = self._wake
        while wake and wake[0][0] <= real:
            due.add(heapq.heappop(wake)[2])
        if not due:
            return 0
        picked = [(key, clock) for key in sorted(due) if (clock := self.get(key)) is not None]
        ran = self._run_merged(picked, {key: clock.now() for key, clock in picked}, move=False, relative=False)
        for _, clock in picked:
            self._watch(clock, None)
        return ran

    # -- moving every clock --------------------------------------------------------------------------------
    @property
    def stopped_early(self) -> bool:
        return self._stopped

    def advance(self, by: float | str | timedelta | Duration, *, stop: Callable[[], bool] | None = None) -> None:
        """Move every clock forward by ``by`` (each from its own instant), firing the timers on the way in
        merge order. ``stop`` is asked after each timer: true ends the advance there — every clock then stands
        as far past its start as the clock that fired it."""
        duration = parse_duration(by)
        clocks = self.clocks()
        targets = {key: duration.after(clock.now()) for key, clock in clocks}
        self._advance(clocks, targets, stop)

    def _advance(self, clocks: list[tuple[str, Clock]], targets: dict[str, datetime],
                 stop: Callable[[], bool] | None) -> None:
        starts = {key: clock.now() for key, clock in clocks}
        self._stopped = False
        try:
            self._run_merged(clocks, targets, move=True, relative=True, stop=stop)
        except BaseException:
            # A timer raised (an in-process receiver unwinding the run at a delivery): the world stands where
            # that timer fired, every clock as far past its start as that one, with what is left still queued.
            for key, clock in clocks:
                clock.move_to(min(starts[key] + self._reached, targets[key]))
            self._rebuild_wake()
            raise
        if self._stopped:
            reached = self._reached
            for key, clock in clocks:
                clock.move_to(min(starts[key] + reached, targets[key]))
        else:
            for key, clock in clocks:
                clock.move_to(targets[key])
        self._rebuild_wake()

    def advance_by_elapsed(self, elapsed: timedelta, *, stop: Callable[[], bool] | None = None) -> None:
        """Move every clock forward by the exact span ``elapsed`` (no calendar months)."""
        clocks = self.clocks()
        self._advance(clocks, {key: clock.now() + elapsed for key, clock in clocks}, stop)

    def run_until_idle(self, limit: int = 100_000) -> None:
        """Run queued work on every clock: all move together, as far as the next piece of work on any of them
        needs (as one shared clock did), so work of different shops keeps its interleaving."""
        for _ in range(limit):
            gap = self.next_work_in()
            if gap is None:
                return
            self.advance_by_elapsed(gap)

    def next_work_in(self, only: Iterable[tuple[str, Clock]] | None = None) -> timedelta | None:
        """How far the clocks must move until the next queued work (not timekeeping) on any of them."""
        best: timedelta | None = None
        for _, clock in only if only is not None else self.clocks():
            due = clock.next_work_due()
            if due is not None:
                gap = max(due - clock.now(), timedelta(0))
                best = gap if best is None or gap < best else best
        return best

    def _run_merged(self, clocks: list[tuple[str, Clock]], targets: dict[str, datetime], *, move: bool,
                    relative: bool, stop: Callable[[], bool] | None = None) -> int:
        if self._merge is not None:
            return 0  # a timer moving time from inside a merge would fire timers out of order
        base = {key: (clock.now() if relative else _EPOCH) for key, clock in clocks}
        heap: list[tuple[timedelta, int, str]] = []
        for key, clock in clocks:
            head = clock.head()
            if head is not None and head.due <= targets[key]:
                heap.append((head.due - base[key], head.seq, key))
        heapq.heapify(heap)
        self._merge, self._base, self._target = heap, base, targets
        self._reached = timedelta(0)
        ran = 0
        try:
            while heap:
                offset, seq, key = heapq.heappop(heap)
                clock = self._clocks.get(key) if key else self.default
                if clock is None:
                    continue
                head = clock.head()
                if head is None or head.seq != seq:
                    continue  # stale: that clock's head changed, and its new head was pushed when it did
                if head.due > targets[key]:
                    continue
                self._reached = offset
                clock.fire_head(move=move)
                ran += 1
                nxt = clock.head()
                if nxt is not None and nxt.due <= targets[key]:
                    heapq.heappush(heap, (nxt.due - base[key], nxt.seq, key))
                if stop is not None and stop():
                    self._stopped = True
                    break
        finally:
            self._merge, self._base, self._target = None, {}, {}
        return ran
