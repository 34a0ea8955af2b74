"""Snapshot and restore through the Python API: a busy world (shops, customers, orders, subscriptions with
pending and retrying deliveries, fault rules, rate-limit buckets, the journal) survives a round trip byte for
byte, and every refusal (unknown version, corrupt or cut-short JSON, a value of the wrong type, a timer action
with no handler, a class or function outside rivosim's allowlist) explains itself and changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from rivosim import Simulator, create_app
from rivosim.snapshot import VERSION, SnapshotError, snapshot_schema
from rivosim.webhooks.senders import AttemptResult
from tests.snapshots import walk as _walk


class FlakySender:
    """Every other attempt fails (503): deliveries end up delivered, retrying and failed."""

    def __init__(self) -> None:
        self.attempts = 0

    def send(self, request: Any, done: Any) -> None:
        self.attempts += 1
        done(AttemptResult(503 if self.attempts % 2 else 200, None, 1.0))

    def close(self) -> None:
        pass


def busy_world(seed: int = 5) -> Simulator:
    sim = Simulator(seed=seed)
    sim.use_sender(FlakySender())
    client = create_app(sim).test_client()
    shop = sim.create_shop({"domain": "busy.myshopify.com", "plan": "plus"}, customers=20)
    sim.create_shop({"domain": "quiet.myshopify.com"})
    key = {"Authorization": shop.credentials.rivo_api_key}
    for topic in ("points_event/created", "customer/joined"):
        assert client.post("/merchant_api/v1/webhooks", headers=key,
                           json={"event_type": topic, "url": f"https://hooks.example.test/{topic}"}).status_code == 201
    assert client.post("/admin/api/2025-01/webhooks.json",
                       headers={"X-Shopify-Access-Token": shop.credentials.shopify_access_token},
                       json={"webhook": {"topic": "orders/create", "address": "https://hooks.example.test/orders",
                                         "format": "json"}}).status_code == 201
    for i in range(6):
        created = client.post("/_rivosim/shops/busy.myshopify.com/customers", json={"email": f"c{i}@example.com",
                                                                                   "visibility_delay": 0})
        assert created.status_code == 201
        client.post("/_rivosim/shops/busy.myshopify.com/orders",
                    json={"customer_id": created.get_json()["id"], "line_items": [{"title": "tea", "price": "30.00"}]})
    fault = {"match": {"route": "rivo.customers.get"}, "action": {"type": "error", "status": 503}, "probability": 0.5}
    assert client.post("/_rivosim/faults", json=fault).status_code == 201
    for _ in range(5):
        client.get("/merchant_api/v1/customers", headers=key)
    sim.advance("PT5M")  # first attempts made, retries pending
    return sim


@pytest.fixture(scope="module")
def saved() -> bytes:
    return orjson.dumps(busy_world().snapshot(journal=True))


def restored(blob: bytes | dict[str, Any]) -> Simulator:
    sim = Simulator(seed=999)
    sim.use_sender(FlakySender())
    sim.restore(blob)
    return sim


def without_time(doc: dict[str, Any]) -> bytes:
    """A snapshot as compared between two simulators: without its time of taking."""
    return orjson.dumps({k: v for k, v in doc.items() if k != "taken_at"})


def test_a_round_trip_gives_the_same_snapshot_byte_for_byte(saved: bytes) -> None:
    assert without_time(restored(saved).snapshot(journal=True)) == without_time(orjson.loads(saved))


def test_the_restored_world_goes_on_as_the_original(saved: bytes) -> None:
    original, copy_ = busy_world(), restored(saved)
    for sim in (original, copy_):
        sim.advance("P40D")
        sim.run_until_idle()
    assert without_time(original.snapshot()) == without_time(copy_.snapshot())
    # Two runs measure different request durations; everything else in the journal is the same.
    assert [e.comparable() for e in original.journal.entries()] == [e.comparable() for e in copy_.journal.entries()]
    statuses = {d.status for d in copy_.outbox.deliveries.values()}
    assert "delivered" in statuses and len(copy_.outbox.deliveries) > 5


def test_it_holds_what_the_issue_lists(saved: bytes) -> None:
    doc = orjson.loads(saved)
    assert (doc["format"], doc["version"], doc["scope"]) == ("rivosim-snapshot", VERSION, "simulator")
    assert doc["config"] == {"seed": 5, "clock": "virtual", "journal_cap": 10_000}
    state = doc["state"]
    for section in ("shops", "outbox", "faults", "limiter", "triggers", "shopify_webhooks", "lag", "bugs"):
        assert section in state, section
    assert set(state["shops"]) == {"busy.myshopify.com", "quiet.myshopify.com"}
    assert doc["journal"] is not None
    sim = restored(saved)
    assert [r.id for r in sim.faults.rules] and sim.outbox.pending > 0
    assert sim.shops["busy.myshopify.com"].credentials.rivo_api_key == \
        busy_world().shops["busy.myshopify.com"].credentials.rivo_api_key


def test_the_journal_is_optional() -> None:
    sim = busy_world()
    doc = sim.snapshot()
    assert doc["journal"] is None
    target = Simulator()
    create_app(target).test_client().get("/_rivosim/clock")
    target.restore(doc)
    assert len(target.journal) == 1  # a snapshot without a journal keeps the target's own


def test_text_bytes_and_documents_are_all_accepted(saved: bytes) -> None:
    for form in (saved, saved.decode(), orjson.loads(saved)):
        assert restored(form).shops.keys() == {"busy.myshopify.com", "quiet.myshopify.com"}


def test_the_schema_is_a_json_schema_of_the_envelope(saved: bytes) -> None:
    from jsonschema import Draft202012Validator

    schema = snapshot_schema()
    Draft202012Validator.check_schema(schema)
    assert not list(Draft202012Validator(schema).iter_errors(orjson.loads(saved)))


# -- refusals: each explains itself and changes nothing -------------------------------------------------------
def _first(doc: dict[str, Any], class_suffix: str) -> dict[str, Any]:
    return next(n for n in _walk(doc["state"]) if str(n.get("$obj", "")).endswith(class_suffix))


def _members(doc: dict[str, Any]) -> dict[str, Any]:
    """The busy shop's members: a table (format version 2), one column per field."""
    return next(n for n in _walk(doc["state"]) if str(n.get("$table", "")).endswith(":Member"))


def _set_member_field(doc: dict[str, Any], field: str, value: Any, kind: str | None = None) -> None:
    """The first member's ``field`` set to ``value`` (its column of ``kind``, when given: ``node`` for a tag)."""
    table = _members(doc)
    i = table["fields"].index(field)
    if kind is not None:
        table["kinds"][i] = kind
    table["columns"][i][0] = value


def _member_points_as_text(doc: dict[str, Any]) -> None:
    _set_member_field(doc, "points_tally", "lots")


def _seed_as_text(doc: dict[str, Any]) -> None:
    doc["config"]["seed"] = "five"


def _outbox_as_list(doc: dict[str, Any]) -> None:
    doc["state"]["outbox"] = []


def _unknown_class(doc: dict[str, Any]) -> None:
    _first(doc, ":Credentials")["$obj"] = "os:_wrap_close"


def _unknown_table_class(doc: dict[str, Any]) -> None:
    _members(doc)["$table"] = "os:_wrap_close"


def _foreign_function(doc: dict[str, Any]) -> None:
    node = next(n for n in _walk(doc["state"]) if "$fn" in n)
    node["$fn"] = "builtins:eval"


def _foreign_builtin(doc: dict[str, Any]) -> None:
    node = next(n for n in _walk(doc["state"]) if "$fn" in n)
    node.clear()
    node["$builtin"] = "os:system"


def _unknown_timer_action(doc: dict[str, Any]) -> None:
    clocks = [doc["clocks"]["simulator"], *doc["clocks"].get("shops", {}).values()]
    timers = next(c["timers"] for c in clocks if c.get("timers"))
    timers[0]["action"] = "busy.myshopify.com:rm -rf"


def _dangling_reference(doc: dict[str, Any]) -> None:
    _set_member_field(doc, "email", {"$ref": 10**9}, "node")


def _missing_field(doc: dict[str, Any]) -> None:
    table = _members(doc)
    i = table["fields"].index("points_tally")
    for part in ("fields", "kinds", "columns"):
        del table[part][i]


def _missing_object_field(doc: dict[str, Any]) -> None:
    del _first(doc, ":Credentials")["attrs"]["rivo_api_key"]


def _unknown_tag(doc: dict[str, Any]) -> None:
    _set_member_field(doc, "email", {"$exec": "print(1)"}, "node")


def _object_in_a_raw_column(doc: dict[str, Any]) -> None:
    _set_member_field(doc, "email", {"$obj": "rivosim.domain.rivo.models:Member"})


def _short_column(doc: dict[str, Any]) -> None:
    _members(doc)["columns"][0].pop()


def _bad_datetime_column(doc: dict[str, Any]) -> None:
    _set_member_field(doc, "created_at", "yesterday")


def _unknown_column_kind(doc: dict[str, Any]) -> None:
    _members(doc)["kinds"][0] = "pickle"


EDITS = {
    "member points as text": (_member_points_as_text, "points_tally"),
    "seed as text": (_seed_as_text, "config.seed"),
    "outbox as a list": (_outbox_as_list, "outbox"),
    "a class outside rivosim": (_unknown_class, "not a class a snapshot may hold"),
    "a table of a class outside rivosim": (_unknown_table_class, "not a class a snapshot may hold"),
    "a function outside rivosim": (_foreign_function, "not a function a snapshot may hold"),
    "a built-in outside the allowlist": (_foreign_builtin, "unknown $builtin"),
    "a timer action with no handler": (_unknown_timer_action, "has no handler"),
    "a dangling reference": (_dangling_reference, "points at nothing"),
    "a missing field": (_missing_field, "lacks points_tally"),
    "a missing field of an object": (_missing_object_field, "lacks rivo_api_key"),
    "an unknown tag": (_unknown_tag, "unknown tag"),
    "an object in a raw column": (_object_in_a_raw_column, "raw column holds JSON scalars only"),
    "a column cut short": (_short_column, "columns are all as long"),
    "a datetime that is not one": (_bad_datetime_column, "bad dt column"),
    "an unknown column kind": (_unknown_column_kind, "unknown column kind"),
}


def _refused(target: Simulator, blob: Any, needle: str) -> None:
    before = orjson.dumps(target.snapshot(journal=True))
    with pytest.raises(SnapshotError) as info:
        target.restore(blob)
    assert needle in str(info.value), str(info.value)
    assert orjson.dumps(target.snapshot(journal=True)) == before, "a refused snapshot changed the simulator"


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_wrong_value_is_refused_and_changes_nothing(saved: bytes, edit: str) -> None:
    change, needle = EDITS[edit]
    doc = copy.deepcopy(orjson.loads(saved))
    change(doc)
    _refused(busy_world(seed=8), orjson.dumps(doc), needle)


@pytest.mark.parametrize(("blob", "needle"), [
    (b"", "empty"),
    (b"{\"format\": \"rivosim-snapshot\", \"vers", "truncated"),
    (b"not json at all", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"{\"format\": \"something-else\", \"version\": 1}", "not a rivosim snapshot"),
])
def test_corrupt_input_is_refused_and_changes_nothing(blob: bytes, needle: str) -> None:
    _refused(busy_world(seed=8), blob, needle)


def test_a_cut_short_file_is_refused(saved: bytes) -> None:
    _refused(busy_world(seed=8), saved[: len(saved) // 2], "truncated")


@pytest.mark.parametrize("version", [0, 3, "2", None])
def test_an_unknown_version_is_refused(saved: bytes, version: Any) -> None:
    doc = orjson.loads(saved)
    doc["version"] = version
    _refused(busy_world(seed=8), orjson.dumps(doc), "version")


def test_nesting_beyond_any_real_state_is_refused(saved: bytes) -> None:
    doc = orjson.loads(saved)
    _set_member_field(doc, "email", "DEEP", "node")
    deep = b'{"$tuple":[' * 450 + b'"x"' + b"]}" * 450
    _refused(busy_world(seed=8), orjson.dumps(doc).replace(b'"DEEP"', deep, 1), "nested too deep")


def test_restore_never_calls_what_the_file_names(saved: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects are built with ``__new__`` and their attributes set (records of a table, by the ``__init__`` that
    ``dataclasses`` generated when it only assigns fields): any other constructor — here a replaced one — never runs."""
    from rivosim.domain.rivo import models

    called: list[str] = []
    original = models.Member.__init__

    def spy(self: Any, *args: Any, **kwargs: Any) -> None:
        called.append("Member.__init__")
        original(self, *args, **kwargs)

    monkeypatch.setattr(models.Member, "__init__", spy)
    restored(saved)
    assert called == []


def test_snapshots_of_a_wall_clock_simulator_keep_its_offset() -> None:
    sim = Simulator(clock="wall")
    sim.create_shop({"domain": "wall.myshopify.com"})
    sim.advance("P2D")
    target = Simulator(clock="wall")
    target.restore(orjson.dumps(sim.snapshot()))
    assert target.clock.kind == "wall"
    assert abs((target.now() - sim.now()).total_seconds()) < 60


# -- one shop ---------------------------------------------------------------------------------------------------
def shop_state(sim: Simulator, domain: str = "busy.myshopify.com") -> dict[str, Any]:
    """A shop's snapshot without what depends on the simulator it lives in: the timers' seq numbers (drawn from
    the counter its clock shares with the simulator's other clocks)."""
    doc = sim.snapshot(shop=domain)
    return {"state": doc["state"], "timers": [
        {k: v for k, v in t.items() if k != "seq"} for t in doc["clocks"]["shops"][domain]["timers"]]}


def test_a_shop_snapshot_replaces_that_shop_in_a_running_simulator() -> None:
    source = busy_world()
    blob = orjson.dumps(source.snapshot(shop="busy.myshopify.com"))
    target = Simulator(seed=1)
    target.use_sender(FlakySender())
    target.create_shop({"domain": "other.myshopify.com"})
    target.create_shop({"domain": "busy.myshopify.com"})  # replaced by the saved one
    untouched = orjson.dumps(shop_state(target, "other.myshopify.com"))
    assert target.restore(blob) == "shop"
    assert sorted(target.shops) == ["busy.myshopify.com", "other.myshopify.com"]
    assert orjson.dumps(shop_state(target, "other.myshopify.com")) == untouched
    restored_shop = target.shops["busy.myshopify.com"]
    assert target.shop_for_rivo_key(restored_shop.credentials.rivo_api_key) is restored_shop
    for sim in (source, target):
        sim.advance("P40D")
        sim.run_until_idle()
    # The saved shop goes on as the original did (timer seq numbers differ: it joined another clock).
    assert orjson.dumps(shop_state(source)) == orjson.dumps(shop_state(target))


def test_a_shop_snapshot_with_a_foreign_timer_is_refused_and_changes_nothing() -> None:
    doc = busy_world().snapshot(shop="busy.myshopify.com")
    doc["clocks"]["shops"]["busy.myshopify.com"]["timers"][0]["action"] = "rivo.no_such_action"
    target = busy_world(seed=8)
    _refused(target, orjson.dumps(doc), "rivo.no_such_action")


def test_integers_beyond_64_bits_survive() -> None:
    """A client may send any integer (the journal keeps its body); JSON readers stop at 64 bits."""
    sim = Simulator()
    client = create_app(sim).test_client()
    client.post("/_rivosim/shops", data=b'{"domain": "big.myshopify.com", "x": 123456789012345678901234567890}',
                content_type="application/json")
    assert sim.journal.entries()[0].request_json["x"] > 2**64  # parsed (GET /_rivosim/journal does this)
    blob = orjson.dumps(sim.snapshot(journal=True))
    target = Simulator()
    target.restore(blob)
    assert without_time(target.snapshot(journal=True)) == without_time(orjson.loads(blob))


# -- format versions --------------------------------------------------------------------------------------------
def test_large_collections_are_written_as_tables_and_read_back(saved: bytes) -> None:
    doc = orjson.loads(saved)
    members = _members(doc)
    assert {"fields", "kinds", "columns", "keys"} <= set(members) and len(members["columns"][0]) >= 20
    assert "ids" in members  # members are met again elsewhere (the tier index): each keeps its $id
    sim = restored(saved)
    book = sim.shops["busy.myshopify.com"].rivo.members
    assert len(book) >= 20 and all(type(m).__name__ == "Member" for m in book.values())


def test_a_version_1_file_is_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 1 wrote one ``$obj`` per record: the reader still knows every node it has."""
    from rivosim.snapshot import codec

    world = busy_world()
    current = orjson.dumps(world.snapshot(journal=True))
    monkeypatch.setattr(codec, "TABLE_MIN", 10**9)  # the version 1 writer: no tables
    old = world.snapshot(journal=True)
    monkeypatch.undo()
    assert not any("$table" in n for n in _walk(old["state"]))
    for node in _walk(old["state"]):  # version 1 kept sample streams outside the shops
        if str(node.get("$obj", "")).endswith(":IdSource"):
            del node["attrs"]["streams"]
    old["state"]["@sample_streams"] = {}
    old["version"] = 1
    assert without_time(restored(orjson.dumps(old)).snapshot(journal=True)) == \
        without_time(orjson.loads(current))


def test_sample_webhooks_go_on_from_where_they_were() -> None:
    """The stream sample ids come from is the shop's own (kept by its id source): a snapshot carries its position,
    so samples sent after a restore are the ones the original would send."""
    sim = busy_world()
    url = "/_rivosim/shops/busy.myshopify.com/webhooks/trigger"
    topics = ("orders/create", "points_event/created", "customer/joined")
    for topic in topics:
        assert create_app(sim).test_client().post(url, json={"topic": topic, "wait": False}).status_code == 202
    assert sim.shops["busy.myshopify.com"].ids.streams  # the samples drew from the shop's stream
    copy_ = restored(orjson.dumps(sim.snapshot()))
    sent = []
    for world in (sim, copy_):
        client = create_app(world).test_client()
        sent.append([client.post(url, json={"topic": t, "wait": False}).get_json() for t in topics])
    assert sent[0] == sent[1]


def test_a_cached_customer_page_never_outlives_a_restore() -> None:
    """A Rivo backend counts its own revisions (no process-wide counter): a restored shop may carry the very
    revision a cached page was stamped with, and the page cache still serves the restored state (one cache per
    backend object)."""
    sim = Simulator(seed=3)
    shop = sim.create_shop({"domain": "page.myshopify.com"}, customers=20)
    saved = sim.snapshot(shop="page.myshopify.com")
    client = create_app(sim).test_client()
    key = {"Authorization": shop.credentials.rivo_api_key}
    member = next(iter(shop.rivo.members.values()))
    member.first_name = "Changed"  # in Python: moves no stamp
    shop.rivo.revision = saved_revision = next(n["attrs"]["revision"] for n in _walk(saved["state"])
                                               if str(n.get("$obj", "")).endswith(":RivoBackend"))
    changed = client.get("/merchant_api/v1/customers", headers=key).get_json()
    assert "Changed" in str(changed)
    sim.restore(saved)
    assert sim.shops["page.myshopify.com"].rivo.revision == saved_revision
    again = client.get("/merchant_api/v1/customers", headers=key).get_json()
    assert "Changed" not in str(again) and again != changed


@pytest.mark.parametrize("delay", [0, 2.5, "PT45S"])
def test_every_form_a_setting_may_take_survives_a_round_trip(delay: Any) -> None:
    # The schema lets a duration be ISO 8601 or seconds; a settings field typed for strings alone made every
    # snapshot of a shop configured with seconds unrestorable ("wrong type int for ApiSettings...").
    sim = Simulator(seed=4)
    sim.create_shop({"domain": "forms.myshopify.com", "api": {"new_customer_visibility_delay": delay},
                     "program": {"credits_expiry": {"enabled": True, "months": 3},
                                 "referrals": {"advocate_points": 50.0},  # JSON Schema's "integer" admits 50.0
                                 "expiry": {"enabled": True, "mode": "inactivity", "months": 2}}}, customers=3)
    saved = sim.snapshot()
    twin = Simulator(seed=1)
    twin.restore(saved)
    assert twin.snapshot() == saved
    assert twin.shop("forms.myshopify.com").settings.api.new_customer_visibility_delay == delay
    assert twin.shop("forms.myshopify.com").settings.program.referrals.advocate_points == 50
