"""Snapshot and restore, as a property (issue 17): for any history the loyalty state machine generates, a
snapshot restored into a fresh simulator and driven on gives byte-identical API answers, webhook deliveries and
journal to the simulator that was never snapshotted.

``fork`` (a rule, once per example) takes a snapshot with the journal, restores it into a new simulator and from
then on sends every request of the machine to both (``TwinClient`` compares status, headers and body); each
simulator's webhook attempts and, at the end, their journals and their final snapshots must be equal. For the
first few forks of a run the snapshot is also restored in a fresh Python process, which runs a fixed
continuation (``snapshot_twin.continuation``) whose record must equal the same continuation run here.
Sized by the hypothesis profile (``ci`` in ``make test``)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis.stateful import precondition, rule

from rivosim import Simulator, create_app
from rivosim.testing import LoyaltyMachine
from tests.property.snapshot_twin import TwinClient, continuation
from tests.unit.test_snapshot import without_time

ROOT = Path(__file__).resolve().parents[2]
FRESH_PROCESS_CHECKS = 3  # subprocesses per test run: start-up costs ~1 s each
_fresh_process_runs: list[int] = []


class _TwinSender:
    """The twin's receiver: answers as the primary's does (the machine's ``receiver_healthy``)."""

    def __init__(self, machine: SnapshotTwinMachine) -> None:
        self.machine = machine
        self.sent: list[tuple[str, dict[str, str], bytes, int]] = []

    def send(self, request: Any, done: Any) -> None:
        from rivosim.webhooks.senders import AttemptResult

        status = 200 if self.machine.receiver_healthy else 503
        self.sent.append((request.url, dict(request.headers), request.body, status))
        done(AttemptResult(status, None, 0.1))

    def close(self) -> None:
        pass


class SnapshotTwinMachine(LoyaltyMachine):
    twin: Simulator | None = None

    def on_setup(self) -> None:
        self.twin = None
        self.forked_at = 0

    @precondition(lambda self: self._ready and self.twin is None)
    @rule()
    def fork(self) -> None:
        blob = orjson.dumps(self.sim.snapshot(journal=True))
        twin = Simulator(seed=0)  # any seed: the snapshot's replaces it
        self.twin_sender = _TwinSender(self)
        twin.use_sender(self.twin_sender)
        twin.restore(blob)
        self.twin = twin
        self.forked_at = len(self.sender.sent)
        self.client = TwinClient(self.client, create_app(twin).test_client())
        if len(_fresh_process_runs) < FRESH_PROCESS_CHECKS:
            _fresh_process_runs.append(1)
            with tempfile.NamedTemporaryFile(suffix=".json") as handle:
                handle.write(blob)
                handle.flush()
                fresh = subprocess.run([sys.executable, "-m", "tests.property.snapshot_twin", handle.name],
                                       cwd=ROOT, capture_output=True, timeout=120, check=False)
            assert fresh.returncode == 0, fresh.stderr.decode()[-2000:]
            assert fresh.stdout == continuation(blob), "a fresh process continued differently"

    def _twin_deliveries_match(self) -> None:
        assert self.twin is not None
        mine = [(r.url, dict(r.headers), r.body, status) for r, _healthy, status in self.sender.sent[self.forked_at:]]
        assert mine == self.twin_sender.sent, "the restored simulator sent different webhooks"

    def teardown(self) -> None:
        if self.twin is not None:
            self._twin_deliveries_match()
            assert [e.comparable() for e in self.sim.journal.entries()] == [
                e.comparable() for e in self.twin.journal.entries()]
            mine, theirs = without_time(self.sim.snapshot()), without_time(self.twin.snapshot())
            assert mine == theirs, "the two simulators ended in different states"
            self.twin.outbox.close()
        super().teardown()


TestSnapshotTwin = SnapshotTwinMachine.TestCase
