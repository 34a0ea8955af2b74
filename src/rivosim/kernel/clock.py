"""Simulator time: a virtual clock (a heap of due timers) and a wall clock you can move forward. Every part
of rivosim asks its clock for ``now()``; nothing reads the wall clock directly. ``advance`` runs everything
that falls due, in ``(due, seq)`` order, with ``now()`` equal to each timer's due time: a two-year scenario
runs in milliseconds and one seed replays byte for byte.

A timer is data: a named *action* with JSON-able arguments (ids, never objects). The component that owns an
action registers its handler on the clock once (``clock.handle("rivo.expire_lot", fn)``); firing looks the name
up. So a clock's whole state — its time, its sequence counter and its timers — can be exported as JSON and
imported again (``export_state``/``import_state``), which is what saving and restoring a simulator needs.
``call_at`` with a Python callback remains for ad-hoc use (tests, scripts); such a timer cannot be exported.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rivosim.kernel.durations import (
    DEFAULT_START,
    MAX_YEARS,
    Duration,
    add_months,
    parse_duration,
    parse_instant,
    rolling_year_exits,
)
from rivosim.kernel.timers import ARG_TYPES, Arg, SeqSource, Timer, timer_from_dict

__all__ = ["MAX_YEARS", "Clock", "Duration", "SeqSource", "Timer", "VirtualClock", "WallClock", "add_months",
           "parse_duration", "parse_instant", "rolling_year_exits"]


class Clock:
    """Base clock: ``now()`` plus a heap of timers that ``advance``/``run_due`` fire in ``(due, seq)`` order."""

    kind = "abstract"

    def __init__(self, seq: SeqSource | None = None) -> None:
        self._heap: list[Timer] = []
        self._work: list[Timer] = []
        self.seq = seq if seq is not None else SeqSource()
        self._handlers: dict[str, Callable[..., object]] = {}
        self._running = False
        self._stopped = False
        # Told (clock, new head timer or None) when a timer becomes the earliest, and after each run: the
        # timeline keeps its index of which clock wakes next from this (kernel/timeline.py).
        self.watcher: Callable[[Clock, Timer | None], None] | None = None

    # -- time ------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        raise NotImplementedError

    def hold(self) -> datetime:
        """Read the time once for a unit of work (one request); until :meth:`release`, ``now()`` answers that
        instant unless the clock is moved (a wall clock gives one request one timestamp, as a transaction)."""
        return self.now()

    def release(self) -> None:
        """End a :meth:`hold`."""

    def _set_at_least(self, instant: datetime) -> None:
        """Make ``now()`` at least ``instant`` (the wall clock moves its offset, the virtual clock jumps)."""
        raise NotImplementedError

    # -- actions ---------------------------------------------------------------------------------------
    def handle(self, action: str, handler: Callable[..., object]) -> None:
        """Register what firing ``action`` does: ``handler(*args)`` (a later registration replaces it)."""
        self._handlers[action] = handler

    def handlers(self) -> dict[str, Callable[..., object]]:
        """Action name -> what firing it does (a copy): a snapshot names these functions next to the timers."""
        return dict(self._handlers)

    def forget_handlers(self, prefix: str) -> None:
        """Drop every handler whose action name starts with ``prefix`` (a deleted shop's)."""
        for name in [n for n in self._handlers if n.startswith(prefix)]:
            del self._handlers[name]

    # -- timers ----------------------------------------------------------------------------------------
    def schedule(self, due: datetime, action: str, args: tuple[Arg, ...] = (), *, work: bool = True) -> Timer:
        """Fire ``action`` with ``args`` when the clock reaches ``due`` (at once on the next run if it is already
        past). ``work=False`` marks timekeeping that ``run_until_idle`` does not wait for."""
        if action not in self._handlers:
            raise LookupError(f"no handler registered for the timer action {action!r}")
        bad = [a for a in args if not isinstance(a, ARG_TYPES)]
        if bad:
            raise TypeError(f"timer {action!r}: arguments must be str/int/float/bool/None (ids, not objects), "
                            f"not {type(bad[0]).__name__}")
        return self._push(due, action, tuple(args), work, None)

    def call_at(self, due: datetime, callback: Callable[[], object], label: str = "", *,
                work: bool = True) -> Timer:
        """Run a Python ``callback`` at ``due`` (ad-hoc use only: such a timer cannot be exported)."""
        return self._push(due, label, (), work, callback)

    def call_after(self, after: float | str | timedelta | Duration, callback: Callable[[], object],
                   label: str = "") -> Timer:  # ad-hoc, like call_at
        return self.call_at(parse_duration(after).after(self.now()), callback, label)

    def _push(self, due: datetime, action: str, args: tuple[Arg, ...], work: bool,
              callback: Callable[[], object] | None) -> Timer:
        if due.tzinfo is None:
            # A naive instant cannot be ordered against the heap's aware ones (TypeError deep in heapq).
            raise ValueError("a timer needs an aware datetime")
        timer = Timer(due=due, seq=self.seq.next(), action=action, args=args, work=work, callback=callback)
        heapq.heappush(self._heap, timer)
        if work:
            heapq.heappush(self._work, timer)
        if self.watcher is not None and self._heap[0] is timer:
            self.watcher(self, timer)
        return timer

    def head(self) -> Timer | None:
        """The earliest live timer (None when there is none)."""
        return self._heap[0] if self.next_due() is not None else None

    def fire_head(self, *, move: bool) -> Timer:
        """Fire the earliest live timer (the caller checked there is one and that it is due), moving time to its
        due instant when ``move``: one step of a merge over several clocks (kernel/timeline.py)."""
        timer = heapq.heappop(self._heap)
        if move and timer.due > self.now():
            self._set_at_least(timer.due)
        was, self._running = self._running, True
        try:
            self._fire(timer)
        finally:
            self._running = was
        return timer

    def wakes_at(self, due: datetime) -> float | None:
        """The real (epoch) second at which a timer due at ``due`` falls due without anyone advancing this
        clock: -inf when it is due already, None when it never does by itself (virtual time stands still)."""
        return float("-inf") if due <= self.now() else None

    def move_to(self, instant: datetime) -> None:
        """Make ``now()`` at least ``instant`` without firing anything (the timeline fires what lies between)."""
        self._set_at_least(instant)

    def _fire(self, timer: Timer) -> None:
        timer.done = True
        if timer.callback is not None:
            timer.callback()
            return
        handler = self._handlers.get(timer.action)
        if handler is None:
            raise LookupError(f"timer {timer.action!r} is due but no handler is registered for it")
        handler(*timer.args)

    def next_work_due(self, only: Callable[[Timer], bool] | None = None) -> datetime | None:
        """When the next piece of work (not timekeeping) is due — of the work ``only`` accepts, when given — or
        None when there is none."""
        while self._work and (self._work[0].cancelled or self._work[0].done):
            heapq.heappop(self._work)
        if only is None:
            return self._work[0].due if self._work else None
        # Queued work is a handful of deliveries and syncs: a scan is cheaper than a heap per filter.
        return min((t.due for t in self._work if not t.cancelled and not t.done and only(t)), default=None)

    def cancel_where(self, matches: Callable[[Timer], bool]) -> int:
        """Cancel every live timer ``matches`` accepts (a deleted shop's, by action name); returns how many."""
        hit = [t for t in self._heap if not t.cancelled and not t.done and matches(t)]
        for timer in hit:
            timer.cancel()
        return len(hit)

    def pending(self) -> list[Timer]:
        """Live timers, soonest first."""
        return sorted(t for t in self._heap if not t.cancelled)

    def next_due(self) -> datetime | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    def run_due(self) -> int:
        """Fire every timer due at or before ``now()``. Returns how many ran."""
        return self._run_until(self.now(), move=False)

    def advance(self, by: float | str | timedelta | Duration, *, stop: Callable[[], bool] | None = None) -> datetime:
        """Move time forward by ``by``, firing each timer due on the way with ``now()`` equal to its due time.
        ``stop`` is asked after each timer: true ends the advance there, at that timer's due time."""
        target = parse_duration(by).after(self.now())
        self._run_until(target, move=True, stop=stop)
        if not self._stopped:
            self._set_at_least(target)
        return self.now()

    @property
    def stopped_early(self) -> bool:  # the last advance ended before its target because its stop said so
        return self._stopped

    def advance_to(self, instant: datetime, *, stop: Callable[[], bool] | None = None) -> datetime:
        self._stopped = False
        if instant > self.now():
            self._run_until(instant, move=True, stop=stop)
            if not self._stopped:
                self._set_at_least(instant)
        return self.now()

    def run_until_idle(self, limit: int = 100_000, *, only: Callable[[Timer], bool] | None = None) -> datetime:
        """Run queued work (deliveries, retries, syncs) one after another, moving time only as far as each
        needs, until none is left; timekeeping due on the way (daily ticks, expiries) runs in order too. With
        ``only``, stop when no work it accepts is left (other work due on the way still runs: time cannot pass a
        timer without running it)."""
        if self._running:
            # Called from inside a timer: the outer run is already draining the heap (looping here would spin
            # forever, since the re-entrancy guard makes every inner run a no-op).
            return self.now()
        ran = 0
        while (due := self.next_work_due(only)) is not None and ran < limit:
            # Run up to ``due`` itself rather than up to ``now()``: a wall clock's float offset can land a
            # microsecond short of ``due``, which would leave the timer in the heap and loop forever.
            ran += self._run_until(max(due, self.now()), move=True)
        return self.now()

    def _run_until(self, target: datetime, *, move: bool, stop: Callable[[], bool] | None = None) -> int:
        # Re-entrancy guard: a timer that advances the clock would run timers out of order.
        self._stopped = False
        if self._running:
            return 0
        self._running = True
        ran = 0
        try:
            while self._heap and self._heap[0].due <= target:
                timer = heapq.heappop(self._heap)
                if timer.cancelled:
                    continue
                if move and timer.due > self.now():
                    self._set_at_least(timer.due)
                self._fire(timer)
                ran += 1
                if stop is not None and stop():
                    self._stopped = True
                    break
        finally:
            self._running = False
            if self.watcher is not None:
                self.watcher(self, None)
        return ran

    # -- state as data -----------------------------------------------------------------------------------
    def _time_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _check_time_state(self, state: dict[str, Any]) -> Callable[[], None]:  # checks, returns how to apply
        raise NotImplementedError

    def export_state(self) -> dict[str, Any]:
        """The clock as JSON-able data: its kind and time (the instant of a virtual clock, the offset of a wall
        clock), the sequence counter and every live timer, soonest first. Refused (``ValueError``) when a timer
        is an ad-hoc Python callback, which has no name to save."""
        timers = self.pending()
        adhoc = [t for t in timers if t.callback is not None]
        if adhoc:
            raise ValueError(f"{len(adhoc)} timer(s) are Python callbacks (call_at), not named actions, and "
                             f"cannot be saved (first: {adhoc[0].action or 'unlabelled'!r} due "
                             f"{adhoc[0].due.isoformat()})")
        return {"kind": self.kind, **self._time_state(), "seq": self.seq.value,
                "timers": [t.to_dict() for t in timers]}

    def import_state(self, state: dict[str, Any]) -> None:
        """Replace time, sequence counter and timers with ``state`` (as ``export_state`` gives it). Everything is
        checked first: a malformed state, or one naming an action with no handler here, raises ``ValueError``
        and changes nothing."""
        if self._running:
            raise ValueError("a clock cannot be restored from inside one of its own timers")
        if not isinstance(state, dict):
            raise ValueError(f"clock state must be an object, not {type(state).__name__}")
        if state.get("kind") != self.kind:
            raise ValueError(f"clock state: kind must be {self.kind!r} for this clock, not {state.get('kind')!r}")
        apply_time = self._check_time_state(state)
        seq = state.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"clock state: seq must be a non-negative integer, not {seq!r}")
        raw = state.get("timers")
        if not isinstance(raw, list):
            raise ValueError("clock state: timers must be a list")
        timers = [timer_from_dict(item, f"clock state: timers[{i}]", seq, self._handlers)
                  for i, item in enumerate(raw)]
        if len({t.seq for t in timers}) != len(timers):
            raise ValueError("clock state: two timers share one seq")
        apply_time()
        # A counter shared between clocks must not move backwards under the others' feet.
        self.seq.value = max(self.seq.value, seq) if self.seq_shared else seq
        self._heap = sorted(timers)
        self._work = [t for t in self._heap if t.work]
        self._stopped = False
        if self.watcher is not None:
            self.watcher(self, None)

    seq_shared = False  # set by the timeline that shares one SeqSource between clocks

class VirtualClock(Clock):
    """Time that moves only when told to. Starts at 2026-01-01T00:00:00Z unless given ``start``."""

    kind = "virtual"

    def __init__(self, start: datetime | None = None, *, seq: SeqSource | None = None) -> None:
        super().__init__(seq)
        start = start or DEFAULT_START
        if start.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def _set_at_least(self, instant: datetime) -> None:
        if instant > self._now:
            self._now = instant

    def _time_state(self) -> dict[str, Any]:
        return {"now": self._now.isoformat()}

    def _check_time_state(self, state: dict[str, Any]) -> Callable[[], None]:
        try:
            instant = parse_instant(state["now"]) if isinstance(state.get("now"), str) else None
        except ValueError:
            instant = None
        if instant is None:
            raise ValueError(f"clock state: now must be an ISO-8601 instant, not {state.get('now')!r}")
        return lambda: setattr(self, "_now", instant)


class WallClock(Clock):
    """Real UTC time plus an offset; ``advance`` moves the offset forward (time travel) and runs what fell due.

    This is the only place in rivosim that reads the wall clock.
    """

    kind = "wall"

    def __init__(self, source: Callable[[], float] = time.time, *, offset: float = 0.0,
                 seq: SeqSource | None = None) -> None:
        super().__init__(seq)
        self._source = source
        self._offset = float(offset)
        self._held = 0  # nested holds (a request made while serving a request, in-process)
        self._frozen: datetime | None = None

    @staticmethod
    def real_seconds() -> float:
        """Real time in epoch seconds (what a wall clock adds its offset to)."""
        return time.time()

    @property
    def offset(self) -> float:
        """Seconds this clock runs ahead of real time."""
        return self._offset

    def now(self) -> datetime:
        frozen = self._frozen
        if frozen is not None:
            return frozen
        return datetime.fromtimestamp(self._source() + self._offset, tz=UTC)

    def hold(self) -> datetime:
        if not self._held:
            self._frozen = datetime.fromtimestamp(self._source() + self._offset, tz=UTC)
        self._held += 1
        return self._frozen  # type: ignore[return-value]

    def release(self) -> None:
        if self._held:
            self._held -= 1
            if not self._held:
                self._frozen = None

    def _set_at_least(self, instant: datetime) -> None:
        gap = instant.timestamp() - (self._source() + self._offset)
        if gap > 0:
            self._offset += gap
        if self._held:  # moved while held (time travel, a timer's due time): re-read, never backwards
            current = datetime.fromtimestamp(self._source() + self._offset, tz=UTC)
            if self._frozen is None or current > self._frozen:
                self._frozen = current

    def wakes_at(self, due: datetime) -> float | None:
        return due.timestamp() - self._offset

    def _time_state(self) -> dict[str, Any]:
        return {"offset": self._offset}

    def _check_time_state(self, state: dict[str, Any]) -> Callable[[], None]:
        offset = state.get("offset")
        if isinstance(offset, bool) or not isinstance(offset, int | float) or offset != offset \
                or abs(offset) > MAX_YEARS * 366 * 86400:
            raise ValueError(f"clock state: offset must be a number of seconds, not {offset!r}")
        return lambda: setattr(self, "_offset", float(offset))
