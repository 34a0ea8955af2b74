"""Helpers of the snapshot property (``test_snapshot_machine.py``): a test client that sends every request to a
simulator and to its restored twin and insists on byte-identical answers, and a fixed continuation — a few
API calls, a 40-day jump, the deliveries it causes — that the property runs on a snapshot in this process and,
for some examples, in a fresh one (``python -m tests.property.snapshot_twin FILE`` prints its record)."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from rivosim.webhooks.senders import AttemptResult, OutgoingRequest


def comparable_body(path: str, data: bytes) -> Any:
    """The response as compared: the journal's measured durations are wall time, everything else must match."""
    if path.startswith("/_rivosim/journal"):
        doc = orjson.loads(data)
        for entry in doc.get("entries", []):
            entry.pop("duration_ms", None)
        return doc
    return data


class TwinClient:
    """A Flask test client look-alike: each request goes to ``primary`` and to ``twin``; the answers (status,
    headers, body) must be identical. Returns the primary's response."""

    def __init__(self, primary: Any, twin: Any) -> None:
        self.primary = primary
        self.twin = twin
        self.compared = 0

    def open(self, path: str, **kwargs: Any) -> Any:
        first = self.primary.open(path, **kwargs)
        second = self.twin.open(path, **kwargs)
        where = f"{kwargs.get('method', 'GET')} {path}"
        assert first.status_code == second.status_code, (where, first.status_code, second.status_code)
        # The journal's length varies with its measured durations; every other header must match.
        skip = {"Content-Length"} if path.startswith("/_rivosim/journal") else set()
        assert sorted((k, v) for k, v in first.headers.items() if k not in skip) == sorted(
            (k, v) for k, v in second.headers.items() if k not in skip), where
        assert comparable_body(path, first.data) == comparable_body(path, second.data), (
            where, first.data[:300], second.data[:300])
        self.compared += 1
        return first

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open(path, method="GET", **kwargs)


class RecordingSender:
    """Answers every attempt with ``status(attempt_number)`` and records what was sent."""

    def __init__(self, status: Any = None) -> None:
        self.sent: list[tuple[str, dict[str, str], bytes]] = []
        self._status = status or (lambda n: 503 if n % 3 == 1 else 200)

    def send(self, request: OutgoingRequest, done: Any) -> None:
        self.sent.append((request.url, dict(request.headers), request.body))
        done(AttemptResult(self._status(len(self.sent)), None, 0.1))

    def close(self) -> None:
        pass


def continuation(snapshot: bytes) -> bytes:
    """Restore ``snapshot`` into a fresh simulator, then: read every shop's customers through the Rivo API, add
    points to the first three, jump 40 days, run until idle; the record is every answer, every delivery attempt
    (URL, headers, body), the journal (without durations) and the final snapshot."""
    from rivosim import Simulator, create_app

    sim = Simulator(seed=12345)
    sender = RecordingSender()
    sim.use_sender(sender)
    sim.restore(snapshot)
    client = create_app(sim).test_client()
    record: list[Any] = []
    for domain in sorted(sim.shops):
        key = {"Authorization": sim.shops[domain].credentials.rivo_api_key}
        listed = client.get("/merchant_api/v1/customers", headers=key)
        record.append([listed.status_code, listed.data.decode()])
        doc = listed.get_json() if listed.status_code == 200 else {}
        customers = [item.get("attributes", item) | {"id": item.get("id")} for item in doc.get("data", [])]
        for customer in customers[:3]:
            resp = client.post("/merchant_api/v1/points_events", headers=key,
                               json={"customer_identifier": customer["id"], "points_amount": 25,
                                     "credits_amount": "0"})
            record.append([resp.status_code, resp.data.decode()])
    for path, body in (("/_rivosim/clock/advance", {"duration": "P40D"}), ("/_rivosim/run_until_idle", {})):
        resp = client.post(path, json=body)
        record.append([resp.status_code, resp.data.decode()])
    deliveries = client.get("/_rivosim/webhooks/deliveries")
    record.append([deliveries.status_code, deliveries.data.decode()])
    record.append([[url, headers, body.decode()] for url, headers, body in sender.sent])
    record.append([e.comparable() for e in sim.journal.entries()])
    from tests.unit.test_snapshot import without_time

    record.append(orjson.loads(without_time(sim.snapshot())))
    return orjson.dumps(record, default=str)


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as handle:
        sys.stdout.buffer.write(continuation(handle.read()))
