"""``GET /_rivosim/health`` (issue 15): answered before the simulator's lock, the gates and the journal, so a
readiness probe never waits behind a long ``advance`` and needs no control token; it says nothing else."""

from __future__ import annotations

import threading

from rivosim import Simulator, __version__, create_app


def test_health_answers_while_the_world_is_locked_and_without_the_token() -> None:
    sim = Simulator(seed=1)
    client = create_app(sim, control_token="tok").test_client()
    got: list[tuple[int, dict[str, object]]] = []
    with sim.lock:  # another client in the middle of a long advance
        probe = threading.Thread(target=lambda: got.append(((r := client.get("/_rivosim/health")).status_code,
                                                            r.get_json())))
        probe.start()
        probe.join(timeout=30)
        assert not probe.is_alive(), "the probe waited for the simulator's lock"
    (status, body), = got
    assert status == 200 and body["status"] == "ok" and body["version"] == __version__
    assert set(body) == {"status", "version", "uptime_s"}
    assert client.get("/_rivosim/health/").status_code == 200
    assert sim.journal.entries() == []  # probes are not journaled
    # Only the probe is open: any other method on it, and the rest of the control API, want the token.
    assert client.post("/_rivosim/health").status_code == 401
    assert client.get("/_rivosim/clock").status_code == 401
    assert client.get("/_rivosim/clock", headers={"Authorization": "Bearer tok"}).status_code == 200
