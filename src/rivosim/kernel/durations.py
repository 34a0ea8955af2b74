"""Calendar arithmetic for simulator time: ISO-8601 durations with calendar parts, instants, month steps and
the rolling-year window's exits. Pure functions of their arguments (no clock is read here)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "DEFAULT_START",
    "MAX_YEARS",
    "Duration",
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
