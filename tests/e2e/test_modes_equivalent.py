"""One request sequence, with faults, through server mode (the real server shell on a socket) and in-process mode
(``mock_apis``) with the same seed: the same statuses, bodies, exceptions, fault decisions, clock and journal
entries (durations aside). DESIGN.md rule 2: only the carrying out of a transport action differs by mode."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from rivosim import Simulator, create_app
from rivosim.transports.inprocess import RIVO_HOST, mock_apis
from rivosim.transports.server import Server

SEED = 424242
FAULTS: list[dict[str, Any]] = [
    {"id": "slow-gets", "match": {"route": "rivo.customers.get"},
     "action": {"type": "latency", "distribution": "lognormal", "median_ms": 15, "sigma": 0.5, "cap_ms": 60}},
    {"id": "coin", "match": {"route": "rivo.rewards.list"}, "probability": 0.5,
     "action": {"type": "error", "status": 503, "retry_after": 1.5}},
    {"id": "commit", "match": {"route": "rivo.points_events.create", "body": {"points_amount": 7}}, "times": 1,
     "action": {"type": "commit_then_fail", "status": 502}},
    {"id": "lag", "match": {"route": "rivo.points_events.create", "body": {"points_amount": 250}},
     "action": {"type": "read_after_write_lag", "seconds": 30}},
    {"id": "half", "match": {"route": "rivo.shop.get"}, "times": 1,
     "action": {"type": "malformed_body", "mode": "truncated"}},
    {"id": "hang", "match": {"route": "rivo.earning_rules.list"}, "times": 1, "action": {"type": "timeout"}},
    {"id": "rst", "match": {"route": "rivo.widget_events.list"}, "times": 1, "action": {"type": "reset"}},
    {"id": "empty", "match": {"route": "rivo.vip_tiers.list"}, "times": 1, "action": {"type": "empty_reply"}},
    {"id": "drip", "match": {"route": "rivo.vip_tiers.get"}, "times": 1,
     "action": {"type": "slow_body", "chunk_size": 64, "interval_ms": 5}},
    {"id": "cut", "match": {"route": "rivo.customers.advocate_stats"}, "times": 1,
     "action": {"type": "malformed_body", "mode": "cut"}},
]


def outcome(call: Callable[[], requests.Response], base: str) -> Any:
    try:
        resp = call()
    except requests.RequestException as exc:
        return ["raised", type(exc).__name__]
    body = resp.content.decode("utf-8", "replace").replace(base, "<base>")
    return [resp.status_code, resp.headers.get("Retry-After"), resp.headers.get("Content-Type"), body]


def sequence(control: str, base: str) -> list[Any]:
    """The client's side of the run; ``control`` is where ``/_rivosim`` lives, ``base`` the Rivo API base."""
    s = requests.Session()
    out: list[Any] = []
    shop = s.post(f"{control}/_rivosim/shops", json={"customers": 3, "rate_limits": {"rivo": {"rate": 3, "burst": 6}},
                                                     "faults": [FAULTS[0]]}).json()
    assert s.post(f"{control}/_rivosim/faults", json={"faults": FAULTS[1:]}).status_code == 201
    auth = {"Authorization": shop["rivo_api_key"]}

    def rivo(method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 2)
        result = outcome(lambda: s.request(method, base + path, headers=auth, **kwargs), base)
        out.append([method, path, result])
        # Let the bucket refill so the run is about faults; a separate burst below exercises the limit.
        s.post(f"{control}/_rivosim/clock/advance", json={"seconds": 1})
        return result

    customers = json.loads(rivo("GET", "/customers")[3])["data"]
    cid = customers[0]["id"]
    for _ in range(3):
        rivo("GET", f"/customers/{cid}")
        rivo("GET", "/rewards")
    points = {"customer_identifier": cid, "source": "manual", "credits_amount": 0}
    rivo("POST", "/points_events", json={**points, "points_amount": 7})
    rivo("POST", "/points_events", json={**points, "points_amount": 7})
    rivo("POST", "/points_events", json={**points, "points_amount": 250})
    rivo("GET", f"/customers/{cid}")
    rivo("GET", "/points_events", params={"filters[customer_identifier]": str(cid)})
    # Truncated bodies are cut at half their length: routes without host-dependent links, so both modes cut alike.
    for path in ("/vip_tiers", "/earning_rules", "/widget_events", "/shop", f"/customers/{cid}/advocate_stats"):
        rivo("GET", path, timeout=0.5)
        rivo("GET", path, timeout=0.5)
    tier = json.loads(rivo("GET", "/vip_tiers")[3])["data"][0]["id"]
    rivo("GET", f"/vip_tiers/{tier}")  # dribbled: a body without host-dependent links takes as long in both modes
    rivo("GET", f"/vip_tiers/{tier}")
    s.post(f"{control}/_rivosim/clock/advance", json={"seconds": 30})
    rivo("GET", f"/customers/{cid}")
    burst = [outcome(lambda: s.get(base + "/vip_tiers", headers=auth, timeout=2), base) for _ in range(8)]
    out.append(["burst", [r[0] for r in burst], [r[1] for r in burst]])
    out.append(["faults", s.get(f"{control}/_rivosim/faults").json()])
    out.append(["clock", s.get(f"{control}/_rivosim/clock").json()])
    return out


def journal(sim: Simulator) -> list[dict[str, Any]]:
    return [e.comparable() for e in sim.journal.entries()]


def test_server_and_in_process_modes_agree() -> None:
    served = Simulator(seed=SEED)
    with Server(create_app(served)) as server:
        over_socket = sequence(server.url, server.url + "/merchant_api/v1")

    local = Simulator(seed=SEED)
    with mock_apis(local):
        in_process = sequence(f"https://{RIVO_HOST}", f"https://{RIVO_HOST}/merchant_api/v1")

    assert over_socket == in_process
    assert journal(served) == journal(local)
    # The sequence met every kind of fault, in both modes.
    seen = {e.fault.split(" (")[0] for e in local.journal.entries() if e.fault}
    assert {"error", "commit_then_fail", "read_after_write_lag", "malformed_body", "timeout", "reset", "empty_reply",
            "slow_body"} <= {part for f in seen for part in f.split(", ")}
    assert any(e.fault.startswith("latency") for e in local.journal.entries() if e.fault)
    assert any(e.status == 429 for e in local.journal.entries())
    outcomes = [step[2] for step in in_process if isinstance(step[0], str) and step[0] in ("GET", "POST")]
    assert ["raised", "ReadTimeout"] in outcomes and ["raised", "ConnectionError"] in outcomes
    assert ["raised", "ChunkedEncodingError"] in outcomes
