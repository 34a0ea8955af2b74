"""Simulator time: a virtual clock (a heap of due callbacks) and a wall clock you can move forward.

Every part of rivosim asks its clock for ``now()``; nothing reads the wall clock directly. ``advance`` runs
everything that falls due, in ``(due, seq)`` order, with ``now()`` equal to each callback's due time — so a
two-year scenario runs in milliseconds and one seed replays byte for byte.
"""

from __future__ import annotations

import heapq
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = [
    "Clock",
    "Duration",
    "Timer",
    "VirtualClock",
    "WallClock",
    "add_months",
    "parse_duration",
    "parse_instant",
    "rolling_year_exits",
]

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

_DURATION_RE = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO-8601 duration with calendar parts: months and years move the calendar, the rest is exact."""

    months: int = 0
    seconds: float = 0.0

    def after(self, instant: datetime) -> datetime:
        """The instant this duration after ``instant`` (calendar months first, then the exact part)."""
        try:
            return add_months(instant, self.months) + timedelta(seconds=self.seconds)
        except OverflowError as exc:  # past year 9999: a bad duration, not a simulator crash
            raise ValueError(f"{instant.isoformat()} plus this duration is out of range") from exc


def parse_duration(value: str | int | float | timedelta | Duration) -> Duration:
    """Parse ``P1Y2M3DT4H5M6S``/``P2W``, plain seconds, or a ``timedelta``. Raises ``ValueError`` otherwise."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError("a duration cannot be negative")
        return _bounded(Duration(seconds=value.total_seconds()))
    if isinstance(value, bool):
        raise ValueError("a duration is an ISO-8601 string such as 'P30D' or a number of seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"a duration must be a finite number of seconds, not {value!r}")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(Duration(seconds=float(value)))
    if not isinstance(value, str):
        raise ValueError("a duration is an ISO-8601 string such as 'P30D' or a number of seconds")
    match = _DURATION_RE.match(value.strip().upper())
    if not match:
        raise ValueError(f"{value!r} is not an ISO-8601 duration such as 'P30D', 'PT1H' or 'P1Y2M'")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    months = int(parts["years"]) * 12 + int(parts["months"])
    seconds = (
        parts["weeks"] * 7 * 86400
        + parts["days"] * 86400
        + parts["hours"] * 3600
        + parts["minutes"] * 60
        + parts["seconds"]
    )
    return _bounded(Duration(months=months, seconds=seconds))


MAX_YEARS = 1000


def _bounded(duration: Duration) -> Duration:
    # Refuse here, where callers turn ValueError into a 422, rather than as an overflow deep in ``advance``.
    if duration.months > MAX_YEARS * 12 or duration.seconds > MAX_YEARS * 366 * 86400:
        raise ValueError(f"a duration cannot be longer than {MAX_YEARS} years")
    return duration


def parse_instant(value: str) -> datetime:
    """Parse an ISO-8601 instant; a naive one is taken as UTC. Raises ``ValueError`` when malformed."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is before datetime.min in UTC
        raise ValueError(f"{value!r} is out of range") from exc


def add_months(instant: datetime, months: int) -> datetime:
    """Move ``instant`` by calendar months, clamping the day (31 Jan + 1 month = 28/29 Feb)."""
    if months == 0:
        return instant
    total = instant.year * 12 + (instant.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    day = min(instant.day, _days_in_month(year, month))
    return instant.replace(year=year, month=month, day=day)


def rolling_year_exits(at: datetime) -> tuple[datetime, ...]:
    """When what happened at ``at`` stops counting in a rolling year ``(now - 12 months, now]``: at ``at`` + 12
    months, the instant a manual override set at ``at`` ends — and, for 29 February (clamped to 28 February a
    year on, when the window still reaches back past it), also at the following midnight, when it really leaves."""
    ends = add_months(at, 12)
    if add_months(ends, -12) >= at:
        return (ends,)
    return ends, ends.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - datetime(year, month, 1)).days


@dataclass(order=True, slots=True)
class Timer:
    """A callback due at an instant; ``cancel()`` keeps it in the heap but makes it a no-op."""

    due: datetime
    seq: int
    callback: Callable[[], object] = field(compare=False)
    label: str = field(default="", compare=False)
    cancelled: bool = field(default=False, compare=False)
    # Work (a delivery, a retry, a sync) is what run_until_idle waits for; timekeeping (a daily tick, an
    # expiry date) merely happens when time passes and never keeps the clock "busy".
    work: bool = field(default=True, compare=False)
    done: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = _nothing  # let go of what the callback holds (a deleted shop) before the heap does


def _nothing() -> None:
    return None


class Clock:
    """Base clock: ``now()`` plus a heap of timers that ``advance``/``run_due`` fire in ``(due, seq)`` order."""

    kind = "abstract"

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._work: list[Timer] = []
        self._seq = 0
        self._running = False
        self._stopped = False

    # -- time ------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        raise NotImplementedError

    def hold(self) -> datetime:
        """Read the time once for a unit of work (one request) and return it; until the matching
        :meth:`release`, ``now()`` keeps answering that instant unless the clock is moved. A virtual clock
        stands still anyway; a wall clock then gives one request one timestamp, as a database transaction
        would, and skips reading the system clock a dozen times per request."""
        return self.now()

    def release(self) -> None:
        """End a :meth:`hold`."""

    def _set_at_least(self, instant: datetime) -> None:
        """Make ``now()`` at least ``instant`` (the wall clock moves its offset, the virtual clock jumps)."""
        raise NotImplementedError

    # -- timers ----------------------------------------------------------------------------------------
    def call_at(self, due: datetime, callback: Callable[[], object], label: str = "", *,
                work: bool = True) -> Timer:
        """Run ``callback`` when the clock reaches ``due`` (at once on the next run if it is already past).
        ``work=False`` marks timekeeping that ``run_until_idle`` does not wait for."""
        if due.tzinfo is None:
            # A naive instant cannot be ordered against the heap's aware ones (TypeError deep in heapq).
            raise ValueError("call_at needs an aware datetime")
        self._seq += 1
        timer = Timer(due=due, seq=self._seq, callback=callback, label=label, work=work)
        heapq.heappush(self._heap, timer)
        if work:
            heapq.heappush(self._work, timer)
        return timer

    def next_work_due(self, only: Callable[[Timer], bool] | None = None) -> datetime | None:
        """When the next piece of work (not timekeeping) is due — of the work ``only`` accepts, when given — or
        None when there is none."""
        while self._work and (self._work[0].cancelled or self._work[0].done):
            heapq.heappop(self._work)
        if only is None:
            return self._work[0].due if self._work else None
        # Queued work is a handful of deliveries and syncs: a scan is cheaper than a heap per filter.
        return min((t.due for t in self._work if not t.cancelled and not t.done and only(t)), default=None)

    def call_after(self, after: float | str | timedelta | Duration, callback: Callable[[], object],
                   label: str = "") -> Timer:
        return self.call_at(parse_duration(after).after(self.now()), callback, label)

    def cancel_where(self, matches: Callable[[Timer], bool]) -> int:
        """Cancel every live timer ``matches`` accepts (a deleted shop's, by label); returns how many."""
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
    def stopped_early(self) -> bool:
        """Whether the last ``advance`` ended before its target because its ``stop`` said so."""
        return self._stopped

    def advance_to(self, instant: datetime) -> datetime:
        if instant > self.now():
            self._run_until(instant, move=True)
            self._set_at_least(instant)
        return self.now()

    def run_until_idle(self, limit: int = 100_000, *, only: Callable[[Timer], bool] | None = None) -> datetime:
        """Run queued work (deliveries, retries, syncs) one after another, moving time only as far as each
        needs, until none is left; timekeeping due on the way (daily ticks, expiries) runs in order too. With
        ``only``, stop when no work it accepts is left (other work due on the way still runs: time cannot pass a
        timer without running it)."""
        if self._running:
            # Called from inside a timer callback: the outer run is already draining the heap (looping here
            # would spin forever, since the re-entrancy guard makes every inner run a no-op).
            return self.now()
        ran = 0
        while (due := self.next_work_due(only)) is not None and ran < limit:
            # Run up to ``due`` itself rather than up to ``now()``: a wall clock's float offset can land a
            # microsecond short of ``due``, which would leave the timer in the heap and loop forever.
            ran += self._run_until(max(due, self.now()), move=True)
        return self.now()

    def _run_until(self, target: datetime, *, move: bool, stop: Callable[[], bool] | None = None) -> int:
        # Re-entrancy guard: a callback that advances the clock would run timers out of order.
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
                timer.done = True
                timer.callback()
                ran += 1
                if stop is not None and stop():
                    self._stopped = True
                    break
        finally:
            self._running = False
        return ran


class VirtualClock(Clock):
    """Time that moves only when told to. Starts at 2026-01-01T00:00:00Z unless given ``start``."""

    kind = "virtual"

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        start = start or DEFAULT_START
        if start.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def _set_at_least(self, instant: datetime) -> None:
        if instant > self._now:
            self._now = instant


class WallClock(Clock):
    """Real UTC time plus an offset; ``advance`` moves the offset forward (time travel) and runs what fell due.

    This is the only place in rivosim that reads the wall clock.
    """

    kind = "wall"

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._source = source
        self._offset = 0.0
        self._held = 0  # nested holds (a request made while serving a request, in-process)
        self._frozen: datetime | None = None

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
