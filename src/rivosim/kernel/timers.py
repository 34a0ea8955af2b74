"""Timers as data: a named action with JSON-able arguments due at an instant, the sequence counter that orders
timers due at the same instant, and the reading of a timer back from its JSON form."""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rivosim.kernel.durations import parse_instant

__all__ = ["ARG_TYPES", "Arg", "SeqSource", "Timer", "timer_from_dict"]

Arg = str | int | float | bool | None
ARG_TYPES = (str, int, float, bool, type(None))


class SeqSource:
    """The counter that orders timers due at the same instant. Clocks that must interleave exactly (every shop's
    clock of one simulator) share one, so their timers merge in the order one clock would have fired them."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def next(self) -> int:
        self.value += 1
        return self.value


@dataclass(order=True, slots=True)
class Timer:
    """An action due at an instant; ``cancel()`` keeps it in the heap but makes it a no-op."""

    due: datetime
    seq: int
    action: str = field(compare=False)
    args: tuple[Arg, ...] = field(default=(), compare=False)
    # Work (a delivery, a retry, a sync) is what run_until_idle waits for; timekeeping (a daily tick, an
    # expiry date) merely happens when time passes and never keeps the clock "busy".
    work: bool = field(default=True, compare=False)
    cancelled: bool = field(default=False, compare=False)
    done: bool = field(default=False, compare=False)
    # Only for ad-hoc ``call_at`` callbacks (never used by rivosim itself): such a timer cannot be exported.
    callback: Callable[[], object] | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return self.action

    def cancel(self) -> None:
        self.cancelled = True
        if self.callback is not None:
            self.callback = _nothing  # let go of what the callback holds before the heap does

    def to_dict(self) -> dict[str, Any]:
        return {"due": self.due.isoformat(), "seq": self.seq, "action": self.action, "args": list(self.args),
                "work": self.work}


def _nothing() -> None:
    return None


def timer_from_dict(item: Any, where: str, seq: int, handlers: Container[str]) -> Timer:
    """A timer read back from ``Timer.to_dict`` data, checked in full (``ValueError`` names the field): its seq
    at most ``seq`` and its action one of ``handlers``."""
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(item) - {"due", "seq", "action", "args", "work"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        due = parse_instant(item["due"]) if isinstance(item.get("due"), str) else None
    except ValueError:
        due = None
    if due is None:
        raise ValueError(f"{where}.due must be an ISO-8601 instant, not {item.get('due')!r}")
    number = item.get("seq")
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number <= seq:
        raise ValueError(f"{where}.seq must be an integer from 1 to the state's seq ({seq}), not {number!r}")
    action = item.get("action")
    if not isinstance(action, str) or action not in handlers:
        raise ValueError(f"{where}.action {action!r} has no handler on this clock")
    args = item.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, ARG_TYPES) for a in args):
        raise ValueError(f"{where}.args must be a list of strings, numbers, booleans or nulls")
    work = item.get("work", True)
    if not isinstance(work, bool):
        raise ValueError(f"{where}.work must be true or false")
    return Timer(due=due, seq=number, action=action, args=tuple(args), work=work)
