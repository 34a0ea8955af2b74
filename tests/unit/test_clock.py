"""The clock: virtual time, calendar durations, timers fired in (due, seq) order, and the wall clock's offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rivosim.kernel.clock import Duration, VirtualClock, WallClock, add_months, parse_duration, parse_instant

START = datetime(2026, 1, 1, tzinfo=UTC)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- virtual time ----------------------------------------------------------------------------------------------------
def test_virtual_clock_starts_on_new_year_2026_utc() -> None:
    clock = VirtualClock()
    assert clock.now() == START
    assert clock.now().utcoffset() == timedelta(0)


def test_virtual_clock_stands_still_until_told() -> None:
    clock = VirtualClock()
    assert clock.now() == clock.now() == START


def test_virtual_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError):
        VirtualClock(datetime(2026, 1, 1))


@pytest.mark.parametrize(("by", "expected"), [
    ("P30D", at(2026, 1, 31)),
    (3600, at(2026, 1, 1, 1)),
    (1.5, START + timedelta(seconds=1.5)),
    (timedelta(hours=2), at(2026, 1, 1, 2)),
    ("PT1H30M", at(2026, 1, 1, 1, 30)),
    ("P2W", at(2026, 1, 15)),
    ("P1DT2H3M4S", at(2026, 1, 2, 2, 3, 4)),
    ("p1d", at(2026, 1, 2)),
    ("P1Y", at(2027, 1, 1)),
    ("P1Y2M", at(2027, 3, 1)),
    (Duration(months=1), at(2026, 2, 1)),
    (0, START),
])
def test_advance_moves_time_by_the_duration(by: object, expected: datetime) -> None:
    clock = VirtualClock()
    assert clock.advance(by) == expected  # type: ignore[arg-type]
    assert clock.now() == expected


def test_advance_accumulates() -> None:
    clock = VirtualClock()
    clock.advance("P30D")
    clock.advance(3600)
    assert clock.now() == at(2026, 1, 31, 1)


@pytest.mark.parametrize(("start", "months", "expected"), [
    (at(2026, 1, 31), 1, at(2026, 2, 28)),  # not a leap year: clamps to the 28th
    (at(2028, 1, 31), 1, at(2028, 2, 29)),  # leap year
    (at(2026, 3, 31), 1, at(2026, 4, 30)),
    (at(2026, 12, 15, 8, 30), 1, at(2027, 1, 15, 8, 30)),
    (at(2028, 2, 29), 12, at(2029, 2, 28)),
    (at(2026, 3, 31), -1, at(2026, 2, 28)),
    (at(2026, 1, 31), -13, at(2024, 12, 31)),
])
def test_add_months_moves_the_calendar_and_clamps_the_day(start: datetime, months: int, expected: datetime) -> None:
    assert add_months(start, months) == expected


def test_one_calendar_month_from_january_31st_is_the_end_of_february() -> None:
    clock = VirtualClock(at(2026, 1, 31, 12))
    assert clock.advance("P1M") == at(2026, 2, 28, 12)
    leap = VirtualClock(at(2028, 1, 31))
    assert leap.advance("P1M") == at(2028, 2, 29)


def test_one_year_from_a_leap_day_is_the_28th_of_february() -> None:
    assert VirtualClock(at(2028, 2, 29)).advance("P1Y") == at(2029, 2, 28)


def test_calendar_months_apply_before_the_exact_part() -> None:
    # 30 Jan + 1 month = 28 Feb, + 1 day = 1 Mar (days first would give 31 Jan + 1 month = 28 Feb).
    assert parse_duration("P1MT24H").after(at(2026, 1, 30)) == at(2026, 3, 1)


@pytest.mark.parametrize("bad", [
    "", "P", "PT", "30D", "P1.5D", "-P1D", "P1H", "PT1D", "P1S", "soon", "P1Y2Y", -1, -0.5, True, None, [1],
    float("nan"), float("inf"), timedelta(seconds=-1), "P99999999Y", 1e308,
])
def test_bad_durations_raise_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["soon", -5, float("inf"), "P100000Y"])
def test_advance_with_a_bad_duration_raises_and_leaves_time_alone(bad: object) -> None:
    clock = VirtualClock()
    fired: list[str] = []
    clock.call_after(10, lambda: fired.append("x"))
    with pytest.raises(ValueError):
        clock.advance(bad)  # type: ignore[arg-type]
    assert clock.now() == START
    assert fired == []


def test_parse_instant_reads_z_offsets_and_naive_as_utc() -> None:
    assert parse_instant("2026-03-01T10:00:00Z") == at(2026, 3, 1, 10)
    assert parse_instant("2026-03-01T12:00:00+02:00") == at(2026, 3, 1, 10)
    assert parse_instant("2026-03-01T10:00:00") == at(2026, 3, 1, 10)
    with pytest.raises(ValueError):
        parse_instant("yesterday")
    with pytest.raises(ValueError):
        parse_instant("0001-01-01T00:00:00+01:00")  # before datetime.min once in UTC


# -- timers ----------------------------------------------------------------------------------------------------------
def test_timers_fire_in_due_order_with_now_equal_to_their_due_time() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, datetime]] = []
    clock.call_at(at(2026, 1, 3), lambda: seen.append(("c", clock.now())))
    clock.call_at(at(2026, 1, 2), lambda: seen.append(("b", clock.now())))
    clock.call_after("PT1H", lambda: seen.append(("a", clock.now())))
    clock.advance("P30D")
    assert seen == [("a", at(2026, 1, 1, 1)), ("b", at(2026, 1, 2)), ("c", at(2026, 1, 3))]
    assert clock.now() == at(2026, 1, 31)


def test_timers_at_the_same_instant_fire_in_scheduling_order() -> None:
    clock = VirtualClock()
    seen: list[int] = []
    for i in range(20):
        clock.call_at(at(2026, 1, 2), lambda i=i: seen.append(i))
    clock.advance("P1D")
    assert seen == list(range(20))


def test_a_timer_due_exactly_at_the_target_fires_and_a_later_one_waits() -> None:
    clock = VirtualClock()
    seen: list[str] = []
    clock.call_after(60, lambda: seen.append("on time"))
    clock.call_after(61, lambda: seen.append("late"))
    clock.advance(60)
    assert seen == ["on time"]
    assert [t.label for t in clock.pending()] == [""]
    clock.advance(1)
    assert seen == ["on time", "late"]


def test_cancelled_timers_never_fire() -> None:
    clock = VirtualClock()
    seen: list[str] = []
    keep = clock.call_after(10, lambda: seen.append("keep"), label="keep")
    drop = clock.call_after(5, lambda: seen.append("drop"), label="drop")
    drop.cancel()
    assert clock.pending() == [keep]
    assert clock.next_due() == keep.due
    clock.advance(60)
    assert seen == ["keep"]


def test_a_callback_can_cancel_a_later_timer_in_the_same_window() -> None:
    clock = VirtualClock()
    seen: list[str] = []
    later = clock.call_after(20, lambda: seen.append("later"))
    clock.call_after(10, lambda: (seen.append("first"), later.cancel()))
    clock.advance(60)
    assert seen == ["first"]


def test_a_timer_scheduled_inside_the_window_by_a_callback_also_runs() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, datetime]] = []

    def first() -> None:
        seen.append(("first", clock.now()))
        clock.call_after("PT1H", lambda: seen.append(("second", clock.now())))
        clock.call_after("P2D", lambda: seen.append(("outside", clock.now())))

    clock.call_after("PT1H", first)
    clock.advance("P1D")
    assert seen == [("first", at(2026, 1, 1, 1)), ("second", at(2026, 1, 1, 2))]
    assert clock.next_due() == at(2026, 1, 3, 1)


def test_a_timer_in_the_past_fires_on_the_next_run_without_moving_time_back() -> None:
    clock = VirtualClock(at(2026, 6, 1))
    seen: list[datetime] = []
    clock.call_at(at(2026, 1, 1), lambda: seen.append(clock.now()))
    assert clock.run_due() == 1
    assert seen == [at(2026, 6, 1)]


def test_run_due_fires_only_what_is_due_now() -> None:
    clock = VirtualClock()
    seen: list[str] = []
    clock.call_at(START, lambda: seen.append("now"))
    clock.call_after(1, lambda: seen.append("later"))
    assert clock.run_due() == 1
    assert seen == ["now"]
    assert clock.now() == START


def test_call_at_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError):
        VirtualClock().call_at(datetime(2026, 1, 2), lambda: None)


def test_run_until_idle_moves_only_as_far_as_the_last_timer() -> None:
    clock = VirtualClock()
    seen: list[datetime] = []
    clock.call_after("PT5M", lambda: seen.append(clock.now()))
    clock.call_after("PT2M", lambda: seen.append(clock.now()))
    assert clock.run_until_idle() == at(2026, 1, 1, 0, 5)
    assert seen == [at(2026, 1, 1, 0, 2), at(2026, 1, 1, 0, 5)]
    assert clock.pending() == []


def test_run_until_idle_follows_chains_of_timers() -> None:
    clock = VirtualClock()
    seen: list[int] = []

    def retry(n: int) -> None:
        seen.append(n)
        if n < 4:
            clock.call_after(2 ** n, lambda: retry(n + 1))

    clock.call_after(1, lambda: retry(0))
    clock.run_until_idle()
    assert seen == [0, 1, 2, 3, 4]
    assert clock.now() == START + timedelta(seconds=1 + 1 + 2 + 4 + 8)


def test_run_until_idle_with_nothing_queued_leaves_time_alone() -> None:
    clock = VirtualClock()
    assert clock.run_until_idle() == START


def test_run_until_idle_called_from_a_callback_returns_instead_of_spinning() -> None:
    clock = VirtualClock()
    seen: list[str] = []

    def nested() -> None:
        clock.run_until_idle()  # the outer run is already draining the heap
        seen.append("nested")

    clock.call_after(1, nested)
    clock.call_after(2, lambda: seen.append("after"))
    clock.run_until_idle()
    assert seen == ["nested", "after"]


def test_run_until_idle_stops_at_the_limit() -> None:
    clock = VirtualClock()
    count = [0]

    def forever() -> None:
        count[0] += 1
        clock.call_after(1, forever)

    clock.call_after(1, forever)
    clock.run_until_idle(limit=50)
    assert count[0] == 50


def test_advance_to_runs_what_falls_due_and_ignores_the_past() -> None:
    clock = VirtualClock()
    seen: list[datetime] = []
    clock.call_at(at(2026, 2, 1), lambda: seen.append(clock.now()))
    assert clock.advance_to(at(2026, 3, 1)) == at(2026, 3, 1)
    assert seen == [at(2026, 2, 1)]
    assert clock.advance_to(at(2026, 1, 1)) == at(2026, 3, 1)


# -- wall clock ------------------------------------------------------------------------------------------------------
class FakeTime:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


def test_wall_clock_reads_its_source() -> None:
    source = FakeTime(START.timestamp())
    clock = WallClock(source=source)
    assert clock.now() == START
    source.value += 90
    assert clock.now() == START + timedelta(seconds=90)


def test_wall_clock_advance_moves_its_offset_and_fires_due_timers() -> None:
    source = FakeTime(START.timestamp())
    clock = WallClock(source=source)
    seen: list[datetime] = []
    clock.call_after(600, lambda: seen.append(clock.now()))
    clock.call_after(7200, lambda: seen.append(clock.now()))
    assert clock.advance(3600) == at(2026, 1, 1, 1)
    assert seen == [at(2026, 1, 1, 0, 10)]
    # The offset stays: real time passing adds to it.
    source.value += 60
    assert clock.now() == at(2026, 1, 1, 1, 1)
    clock.advance("PT1H")
    assert seen == [at(2026, 1, 1, 0, 10), at(2026, 1, 1, 2)]
    assert clock.now() == at(2026, 1, 1, 2, 1)


def test_wall_clock_run_due_fires_timers_as_real_time_reaches_them() -> None:
    source = FakeTime(START.timestamp())
    clock = WallClock(source=source)
    seen: list[str] = []
    clock.call_after(30, lambda: seen.append("x"))
    assert clock.run_due() == 0
    source.value += 30
    assert clock.run_due() == 1
    assert seen == ["x"]


def test_wall_clock_run_until_idle_jumps_to_each_timer() -> None:
    source = FakeTime(START.timestamp() + 0.3)  # a fractional source must not leave a timer behind
    clock = WallClock(source=source)
    seen: list[datetime] = []
    due = clock.now() + timedelta(minutes=5)
    clock.call_at(due, lambda: seen.append(clock.now()))
    clock.run_until_idle()
    assert seen and seen[0] >= due
    assert abs((seen[0] - due).total_seconds()) < 0.001
    assert clock.pending() == []


class _FakeTime:
    def __init__(self) -> None:
        self.value = 1_800_000_000.0

    def __call__(self) -> float:
        return self.value


def test_a_held_wall_clock_gives_one_request_one_instant_then_reads_live_again() -> None:
    fake = _FakeTime()
    clock = WallClock(source=fake)
    at = clock.hold()
    fake.value += 0.25  # real time passes while the request runs
    assert clock.now() == at
    clock.release()
    assert clock.now() == at + timedelta(seconds=0.25)


def test_nested_holds_keep_the_outer_instant_until_the_last_release() -> None:
    fake = _FakeTime()
    clock = WallClock(source=fake)
    outer = clock.hold()
    fake.value += 1
    assert clock.hold() == outer  # a request made while serving one (in-process) shares its instant
    clock.release()
    assert clock.now() == outer
    clock.release()
    assert clock.now() == outer + timedelta(seconds=1)


def test_moving_a_held_wall_clock_moves_what_it_answers_and_never_backwards() -> None:
    fake = _FakeTime()
    clock = WallClock(source=fake)
    at = clock.hold()
    clock.advance(3600)  # POST /_rivosim/clock/advance inside a request
    assert clock.now() == at + timedelta(hours=1)
    fake.value -= 5  # the system clock steps back: the held instant does not
    clock.advance_to(at)
    assert clock.now() == at + timedelta(hours=1)
    clock.release()


def test_a_virtual_clock_hold_is_just_its_time() -> None:
    clock = VirtualClock()
    assert clock.hold() == clock.now()
    clock.advance(10)
    clock.release()
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)


def test_an_advance_stops_where_its_stop_says_and_reports_it() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    clock.call_after(60, lambda: fired.append("a"))
    clock.call_after(120, lambda: fired.append("b"))
    clock.advance(3600, stop=lambda: fired == ["a"])
    assert fired == ["a"] and clock.now() == START + timedelta(minutes=1) and clock.stopped_early
    clock.advance(3600, stop=lambda: False)
    assert fired == ["a", "b"] and clock.now() == START + timedelta(minutes=61) and not clock.stopped_early
