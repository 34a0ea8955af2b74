"""Timers as data: a clock's state exported as JSON and imported again fires the same actions in the same order;
a malformed state, or one naming an action nobody handles, is refused and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from rivosim import Simulator
from rivosim.kernel.clock import Clock, SeqSource, VirtualClock, WallClock


def recording_clock(clock: Clock, seen: list[tuple[str, Any]]) -> Clock:
    clock.handle("ping", lambda *args: seen.append(("ping", (clock.now().isoformat(), *args))))
    clock.handle("pong", lambda *args: seen.append(("pong", (clock.now().isoformat(), *args))))
    return clock


def test_a_timer_is_a_named_action_with_json_arguments() -> None:
    clock = recording_clock(VirtualClock(), [])
    timer = clock.schedule(datetime(2026, 1, 2, tzinfo=UTC), "ping", ("a", 1, 2.5, True, None))
    assert timer.to_dict() == {"due": "2026-01-02T00:00:00+00:00", "seq": 1, "action": "ping",
                               "args": ["a", 1, 2.5, True, None], "work": True}


def test_an_object_argument_or_an_unknown_action_is_refused_when_scheduled() -> None:
    clock = recording_clock(VirtualClock(), [])
    with pytest.raises(TypeError, match="ids, not objects"):
        clock.schedule(clock.now(), "ping", (object(),))  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="no handler"):
        clock.schedule(clock.now(), "nobody.handles.this")
    assert clock.pending() == []


def test_export_import_round_trip_fires_the_same_actions_in_the_same_order() -> None:
    seen_a: list[tuple[str, Any]] = []
    a = recording_clock(VirtualClock(datetime(2026, 3, 1, tzinfo=UTC)), seen_a)
    a.schedule(datetime(2026, 3, 5, tzinfo=UTC), "ping", ("late",))
    a.schedule(datetime(2026, 3, 2, tzinfo=UTC), "pong", (7,), work=False)
    a.schedule(datetime(2026, 3, 2, tzinfo=UTC), "ping", ("same instant, later seq",))
    gone = a.schedule(datetime(2026, 3, 3, tzinfo=UTC), "ping", ("cancelled",))
    gone.cancel()
    state = json.loads(json.dumps(a.export_state()))  # JSON through and through
    assert state["kind"] == "virtual" and state["now"] == "2026-03-01T00:00:00+00:00" and state["seq"] == 4
    assert [t["args"] for t in state["timers"]] == [[7], ["same instant, later seq"], ["late"]]

    seen_b: list[tuple[str, Any]] = []
    b = recording_clock(VirtualClock(), seen_b)
    b.import_state(state)
    assert b.now() == a.now() and b.export_state() == state
    a.advance("P10D")
    b.advance("P10D")
    assert seen_b == seen_a and len(seen_a) == 3
    assert b.next_work_due() is None
    # The counter carried over: a timer scheduled after the restore orders after the restored ones.
    assert b.schedule(b.now(), "ping").seq == 5


def test_a_wall_clock_exports_its_offset() -> None:
    clock = WallClock(source=lambda: 1_000_000.0)
    clock.advance(3600)
    state = clock.export_state()
    assert state == {"kind": "wall", "offset": 3600.0, "seq": 0, "timers": []}
    other = WallClock(source=lambda: 1_000_000.0)
    other.import_state(state)
    assert other.now() == clock.now()


def test_an_ad_hoc_callback_cannot_be_exported() -> None:
    clock = VirtualClock()
    clock.call_after(10, lambda: None, "adhoc")
    with pytest.raises(ValueError, match="Python callbacks"):
        clock.export_state()


GOOD = {"kind": "virtual", "now": "2026-02-01T00:00:00Z", "seq": 3,
        "timers": [{"due": "2026-02-02T00:00:00Z", "seq": 3, "action": "ping", "args": [], "work": True}]}


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "wall"}, "kind"),
    ({"now": "not a date"}, "now must be"),
    ({"now": None}, "now must be"),
    ({"seq": -1}, "seq must be"),
    ({"seq": True}, "seq must be"),
    ({"timers": {}}, "timers must be a list"),
    ({"timers": [1]}, r"timers\[0\] must be an object"),
    ({"timers": [{**GOOD["timers"][0], "action": "missing"}]}, "has no handler"),
    ({"timers": [{**GOOD["timers"][0], "due": "2026-13-01"}]}, "due must be"),
    ({"timers": [{**GOOD["timers"][0], "seq": 9}]}, "seq must be"),
    ({"timers": [{**GOOD["timers"][0], "args": [{"obj": 1}]}]}, "args must be"),
    ({"timers": [{**GOOD["timers"][0], "work": "yes"}]}, "work must be"),
    ({"timers": [{**GOOD["timers"][0], "extra": 1}]}, "unknown field"),
    ({"timers": [GOOD["timers"][0], GOOD["timers"][0]]}, "share one seq"),
])
def test_a_malformed_state_is_refused_and_changes_nothing(change: dict[str, Any], message: str) -> None:
    clock = recording_clock(VirtualClock(), [])
    clock.schedule(datetime(2026, 1, 5, tzinfo=UTC), "ping", ("kept",))
    before = clock.export_state()
    with pytest.raises(ValueError, match=message):
        clock.import_state({**GOOD, **change})
    assert clock.export_state() == before
    clock.import_state(GOOD)  # the good one is accepted
    assert clock.now() == datetime(2026, 2, 1, tzinfo=UTC) and len(clock.pending()) == 1


def test_a_state_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        VirtualClock().import_state([])  # type: ignore[arg-type]


def test_clocks_sharing_a_sequence_interleave_by_due_then_seq() -> None:
    seq = SeqSource()
    a, b = VirtualClock(seq=seq), VirtualClock(seq=seq)
    for clock in (a, b):
        clock.handle("ping", lambda: None)
    assert [a.schedule(a.now(), "ping").seq, b.schedule(b.now(), "ping").seq, a.schedule(a.now(), "ping").seq] \
        == [1, 2, 3]


def test_a_simulator_schedules_only_named_actions() -> None:
    """Nothing in rivosim itself schedules a closure: a busy shop's clock exports whole."""
    sim = Simulator(seed=3)
    shop = sim.create_shop({"program": {"expiry": {"enabled": True, "months": 1}}}, customers=5)
    shop.syncs.request("tagging")
    shop.syncs.request("theme")
    sim.advance("PT1S")
    state = sim.clock.export_state()
    actions = {t["action"].split(":", 1)[1] for t in state["timers"]}
    assert {"rivo.daily", "sync.tagging_chunk", "sync.finish"} <= actions
    json.dumps(state)
