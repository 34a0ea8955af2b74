"""One request sequence, with faults (reads, writes, a 429 with Retry-After, injected latency, a hang, a reset, an
empty reply, a dribbled body, a cut body, a commit-then-fail), through server mode (the real server shell on a
socket) and in-process mode (``mock_apis``) with the same seed, for each HTTP client: ``requests``, ``httpx``
sync, ``httpx`` async and ``aiohttp``. The same statuses, bodies, exceptions, fault decisions, clock, journal
entries (durations aside), state and webhook deliveries. DESIGN.md rule 2: only the carrying out of a transport
action differs by mode.

``requests``, httpx and httpx async leave one and the same journal. aiohttp, like against a real server, sends an
idempotent request once more after a reset or an empty reply (so its journal has those extra attempts); it is
compared with aiohttp over the socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
import requests

from rivosim import Simulator, create_app
from rivosim.transports.inprocess import RIVO_HOST, mock_apis
from rivosim.transports.server import Server
from tests.receiver import PostReceiver

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
CLIENTS = ("requests", "httpx", "httpx_async", "aiohttp")


# -- one client interface over the four libraries --------------------------------------------------------------
class Client:
    """``request`` answers ``[status, Retry-After, Content-Type, body]`` or ``["raised", exception type]``."""

    errors: tuple[type[BaseException], ...] = ()

    async def send(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any, bytes]:
        raise NotImplementedError

    async def request(self, method: str, url: str, **kwargs: Any) -> list[Any]:
        kwargs.setdefault("timeout", 2.0)
        try:
            status, headers, body = await self.send(method, url, **kwargs)
        except self.errors as exc:
            return ["raised", type(exc).__name__]
        return [status, headers.get("Retry-After"), headers.get("Content-Type"), body.decode("utf-8", "replace")]

    async def close(self) -> None:
        pass


class RequestsClient(Client):
    errors = (requests.RequestException,)

    def __init__(self) -> None:
        self.session = requests.Session()

    async def send(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any, bytes]:
        r = self.session.request(method, url, **kwargs)
        return r.status_code, r.headers, r.content


class HttpxClient(Client):
    errors = (httpx.HTTPError,)

    def __init__(self) -> None:
        self.client = httpx.Client()

    async def send(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any, bytes]:
        r = self.client.request(method, url, **kwargs)
        return r.status_code, r.headers, r.content


class HttpxAsyncClient(Client):
    errors = (httpx.HTTPError,)

    def __init__(self) -> None:
        self.client = httpx.AsyncClient()

    async def send(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any, bytes]:
        r = await self.client.request(method, url, **kwargs)
        return r.status_code, r.headers, r.content

    async def close(self) -> None:
        await self.client.aclose()


class AiohttpClient(Client):
    errors = (aiohttp.ClientError, TimeoutError)

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession()

    async def send(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any, bytes]:
        kwargs["timeout"] = aiohttp.ClientTimeout(total=None, sock_read=kwargs["timeout"])
        async with self.session.request(method, url, **kwargs) as r:
            return r.status, r.headers, await r.read()

    async def close(self) -> None:
        await self.session.close()


MAKERS = {"requests": RequestsClient, "httpx": HttpxClient, "httpx_async": HttpxAsyncClient,
          "aiohttp": AiohttpClient}


# -- the sequence --------------------------------------------------------------------------------------------------
async def sequence(client: Client, control: str, base: str, hook: str) -> list[Any]:
    """The client's side of the run; ``control`` is where ``/_rivosim`` lives, ``base`` the Rivo API base."""
    out: list[Any] = []

    async def control_call(method: str, path: str, body: Any = None) -> Any:
        result = await client.request(method, control + "/_rivosim" + path, json=body)
        assert isinstance(result[0], int) and result[0] < 300, result
        return json.loads(result[3])

    shop = await control_call("POST", "/shops", {"customers": 3, "rate_limits": {"rivo": {"rate": 3, "burst": 6}},
                                                 "faults": [FAULTS[0]]})
    await control_call("POST", "/faults", {"faults": FAULTS[1:]})
    auth = {"Authorization": shop["rivo_api_key"]}

    async def rivo(method: str, path: str, **kwargs: Any) -> Any:
        result = await client.request(method, base + path, headers=auth, **kwargs)
        if len(result) == 4:
            result[3] = result[3].replace(base, "<base>")
        out.append([method, path, result])
        # Let the bucket refill so the run is about faults; a separate burst below exercises the limit.
        await control_call("POST", "/clock/advance", {"seconds": 1})
        return result

    assert (await rivo("POST", "/webhooks", json={"event_type": "points_event/created", "url": hook}))[0] == 201
    customers = json.loads((await rivo("GET", "/customers"))[3])["data"]
    cid = customers[0]["id"]
    for _ in range(3):
        await rivo("GET", f"/customers/{cid}")
        await rivo("GET", "/rewards")
    points = {"customer_identifier": cid, "source": "manual", "credits_amount": 0}
    await rivo("POST", "/points_events", json={**points, "points_amount": 7})
    await rivo("POST", "/points_events", json={**points, "points_amount": 7})
    await rivo("POST", "/points_events", json={**points, "points_amount": 250})
    await rivo("GET", f"/customers/{cid}")
    await rivo("GET", "/points_events", params={"filters[customer_identifier]": str(cid)})
    # Truncated bodies are cut at half their length: routes without host-dependent links, so both modes cut alike.
    for path in ("/vip_tiers", "/earning_rules", "/widget_events", "/shop", f"/customers/{cid}/advocate_stats"):
        await rivo("GET", path, timeout=0.5)
        await rivo("GET", path, timeout=0.5)
    tier = json.loads((await rivo("GET", "/vip_tiers"))[3])["data"][0]["id"]
    await rivo("GET", f"/vip_tiers/{tier}")  # dribbled: a body without host-dependent links takes as long in both
    await rivo("GET", f"/vip_tiers/{tier}")
    await control_call("POST", "/clock/advance", {"seconds": 30})
    await rivo("GET", f"/customers/{cid}")
    burst = [await client.request("GET", base + "/vip_tiers", headers=auth) for _ in range(8)]
    out.append(["burst", [r[0] for r in burst], [r[1] for r in burst]])
    await control_call("POST", "/run_until_idle", {})
    out.append(["faults", await control_call("GET", "/faults")])
    out.append(["clock", await control_call("GET", "/clock")])
    # Latency moved the shop's clock (and only it): the same in both modes.
    out.append(["shop clock", await control_call("GET", f"/shops/{shop['domain']}/clock")])
    deliveries = (await control_call("GET", "/webhooks/deliveries"))["deliveries"]
    for d in deliveries:
        for attempt in d["attempts"]:
            del attempt["duration_ms"]
    out.append(["deliveries", deliveries])
    return out


# -- the two modes -------------------------------------------------------------------------------------------------
class Receiver(PostReceiver):
    """A webhook subscriber on 127.0.0.1 (reached over HTTP in both modes: in-process mode passes it through)."""

    path = "/hook"

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        super().__init__()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        self.bodies.append(body)
        return 200


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def journal(sim: Simulator) -> list[dict[str, Any]]:
    return [e.comparable() for e in sim.journal.entries()]


def state(sim: Simulator) -> Any:
    [shop] = sim.shops.values()
    return sorted((m.id, m.points_tally, str(m.credits_tally)) for m in shop.rivo.ordered_members())


async def run(client_name: str, mode: str, receiver: Receiver) -> tuple[list[Any], Simulator, list[bytes]]:
    sim = Simulator(seed=SEED)
    start = len(receiver.bodies)
    client = MAKERS[client_name]()
    try:
        if mode == "server":
            with Server(create_app(sim)) as server:  # its own thread and event loop
                out = await sequence(client, server.url, server.url + "/merchant_api/v1", receiver.url)
        else:
            with mock_apis(sim):
                out = await sequence(client, f"https://{RIVO_HOST}", f"https://{RIVO_HOST}/merchant_api/v1",
                                     receiver.url)
    finally:
        await client.close()
    return out, sim, receiver.bodies[start:]


@pytest.fixture(scope="module")
def reference(receiver: Receiver) -> tuple[list[Any], list[dict[str, Any]], Any, list[bytes]]:
    """``requests`` over the socket: what every client that does not resend must match."""
    out, sim, bodies = asyncio.run(run("requests", "server", receiver))
    return out, journal(sim), state(sim), bodies


def names(out: list[Any]) -> list[Any]:
    """The run with each exception's name left out, so the clients' runs compare (the names are each client's
    own: ``EXPECTED_ERRORS``)."""
    return [[*step[:2], ["raised"]] if len(step) == 3 and isinstance(step[2], list) and step[2][:1] == ["raised"]
            else step for step in out]


def raised(out: list[Any]) -> set[str]:
    return {step[2][1] for step in out if len(step) == 3 and isinstance(step[2], list) and step[2][:1] == ["raised"]}


# What each client raised in the run: a hang, a reset, an empty reply, a cut body (aiohttp resends the GETs that
# met a reset or an empty reply, and the second attempt answers).
EXPECTED_ERRORS = {
    "requests": {"ReadTimeout", "ConnectionError", "ChunkedEncodingError"},
    "httpx": {"ReadTimeout", "ReadError", "RemoteProtocolError"},
    "httpx_async": {"ReadTimeout", "ReadError", "RemoteProtocolError"},
    "aiohttp": {"SocketTimeoutError", "ClientPayloadError"},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("client_name", CLIENTS)
async def test_server_and_in_process_modes_agree(client_name: str, receiver: Receiver,
                                                 reference: tuple[list[Any], Any, Any, list[bytes]]) -> None:
    over_socket, served, served_hooks = await run(client_name, "server", receiver)
    in_process, local, local_hooks = await run(client_name, "in_process", receiver)

    assert over_socket == in_process
    assert journal(served) == journal(local)
    assert state(served) == state(local)
    assert served_hooks == local_hooks and local_hooks  # the same webhook deliveries, byte for byte
    if client_name != "aiohttp":
        ref_out, ref_journal, ref_state, ref_hooks = reference
        assert names(in_process) == names(ref_out)
        assert journal(local) == ref_journal and state(local) == ref_state and local_hooks == ref_hooks
    else:  # aiohttp resent the GETs that met a reset or an empty reply: the second attempt answered
        resent = [e for e in local.journal.entries() if e.action in ("reset", "empty_reply")]
        assert len(resent) == 2
    # The sequence met every kind of fault, in both modes.
    seen = {e.fault.split(" (")[0] for e in local.journal.entries() if e.fault}
    assert {"error", "commit_then_fail", "read_after_write_lag", "malformed_body", "timeout", "reset",
            "empty_reply", "slow_body"} <= {part for f in seen for part in f.split(", ")}
    assert any(e.fault.startswith("latency") for e in local.journal.entries() if e.fault)
    assert any(e.status == 429 for e in local.journal.entries())
    assert raised(in_process) == EXPECTED_ERRORS[client_name]
