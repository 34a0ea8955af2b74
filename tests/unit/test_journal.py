"""The request journal: bounded (oldest dropped), filterable, and assertions that explain what was called."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rivosim.kernel.journal import Journal, JournalEntry

AT = datetime(2026, 1, 1, tzinfo=UTC)


def record(journal: Journal, route: str | None = "rivo.customers.get", **overrides: Any) -> JournalEntry:
    fields: dict[str, Any] = {"at": AT, "shop": "a.myshopify.com", "api": "rivo", "route": route, "method": "GET",
                              "path": "/merchant_api/v1/customers/1", "query": "", "status": 200,
                              "duration_ms": 1.5}
    fields.update(overrides)
    return journal.record(**fields)


def test_entries_are_numbered_and_kept_in_order() -> None:
    journal = Journal()
    entries = [record(journal) for _ in range(3)]
    assert [e.seq for e in entries] == [1, 2, 3]
    assert journal.entries() == entries
    assert len(journal) == 3


def test_the_cap_drops_the_oldest_first() -> None:
    journal = Journal(cap=3)
    for i in range(5):
        record(journal, path=f"/p/{i}")
    assert len(journal) == 3
    assert [e.path for e in journal.entries()] == ["/p/2", "/p/3", "/p/4"]
    assert [e.seq for e in journal.entries()] == [3, 4, 5]  # numbering continues


def test_clear_empties_but_numbering_continues() -> None:
    journal = Journal()
    record(journal)
    journal.clear()
    assert len(journal) == 0 and journal.entries() == []
    assert record(journal).seq == 2


def test_calls_filters_by_route_shop_status_method_and_since() -> None:
    journal = Journal()
    a = record(journal)
    b = record(journal, route="rivo.points_events.create", method="POST", status=201)
    c = record(journal, route="rivo.points_events.create", method="POST", status=422, shop="b.myshopify.com")
    d = record(journal, route=None, api="unmatched", method="GET", path="/nope", status=404)
    assert journal.calls() == [a, b, c, d]
    assert journal.calls("rivo.points_events.create") == [b, c]
    assert journal.calls(status=422) == [c]
    assert journal.calls(shop="a.myshopify.com") == [a, b, d]
    assert journal.calls(method="POST", shop="a.myshopify.com") == [b]
    assert journal.calls(since=b.seq) == [c, d]
    assert journal.calls("rivo.rewards.list") == []


def test_assert_called_returns_the_matches() -> None:
    journal = Journal()
    entry = record(journal, route="rivo.points_events.create", method="POST", status=201,
                   request_json={"customer_identifier": "a@example.com", "points_amount": 5, "extra": {"k": 1}})
    assert journal.assert_called("rivo.points_events.create") == [entry]
    assert journal.assert_called("rivo.points_events.create", times=1, status=201) == [entry]
    assert journal.assert_called("rivo.points_events.create", json={"points_amount": 5, "extra": {}}) == [entry]


def test_assert_called_message_lists_what_was_called() -> None:
    journal = Journal()
    record(journal, route="rivo.customers.get")
    record(journal, route="rivo.rewards.list")
    record(journal, route=None, api="unmatched", method="POST", path="/merchant_api/v1/nope")
    with pytest.raises(AssertionError) as info:
        journal.assert_called("rivo.points_events.create")
    message = str(info.value)
    assert "expected rivo.points_events.create to be called at least once, found 0" in message
    assert "rivo.customers.get" in message and "rivo.rewards.list" in message
    assert "(unmatched) POST /merchant_api/v1/nope" in message


def test_assert_called_checks_times_and_json() -> None:
    journal = Journal()
    record(journal, request_json={"a": 1})
    record(journal, request_json={"a": 2})
    with pytest.raises(AssertionError, match=r"1 time\(s\), found 2"):
        journal.assert_called("rivo.customers.get", times=1)
    with pytest.raises(AssertionError, match=r"with \{'a': 3\}, found 0"):
        journal.assert_called("rivo.customers.get", json={"a": 3})
    assert len(journal.assert_called("rivo.customers.get", json={"a": 2}, times=1)) == 1
    assert journal.assert_called("rivo.customers.get", times=0, status=500) == []


def test_assert_called_on_an_empty_journal_says_none() -> None:
    with pytest.raises(AssertionError, match="routes called: none"):
        Journal().assert_called("rivo.customers.get")


def test_to_dict_is_json_friendly() -> None:
    entry = record(Journal(), notes=["fault: latency"])
    out = entry.to_dict()
    assert out["at"] == "2026-01-01T00:00:00+00:00"
    assert out["notes"] == ["fault: latency"] and out["seq"] == 1
