"""In-process mode: ``mock_apis`` feeds ``requests`` calls for the simulated hosts into ``create_app(sim)``, maps
each transport action to the exception ``requests`` raises, advances the clock instead of sleeping, passes other
hosts through, and carries the simulator's own webhook deliveries to a subscriber mocked on it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter

from rivosim import Simulator
from rivosim.transports.inprocess import MAX_KEPT_CALLS, MockApis, mock_apis

RIVO = "https://developer-api.rivo.io/merchant_api/v1"


@pytest.fixture(scope="module")
def _shared() -> Simulator:
    return Simulator(seed=11)


@pytest.fixture
def sim(_shared: Simulator) -> Simulator:
    """A fresh world on one simulator per module (mock_apis keeps one app per simulator)."""
    _shared.reset(11)
    return _shared


@pytest.fixture
def key(sim: Simulator) -> str:
    shop = sim.create_shop({"domain": "inproc.myshopify.com", "rate_limits": {"rivo": {"enabled": False}}},
                           customers=2)
    return shop.credentials.rivo_api_key


@pytest.fixture
def apis(sim: Simulator, key: str) -> Iterator[MockApis]:
    with mock_apis(sim) as mocked:
        yield mocked


def get(path: str, key: str, **kwargs: Any) -> requests.Response:
    return requests.get(RIVO + path, headers={"Authorization": key}, **kwargs)


def fault(sim: Simulator, action: dict[str, Any], **match: Any) -> None:
    sim.faults.clear()
    sim.faults.add({"match": {"route": "rivo.rewards.list", **match}, "action": action})


# -- the plain path -------------------------------------------------------------------------------------------------
def test_requests_reach_the_app(apis: MockApis, key: str, sim: Simulator) -> None:
    resp = get("/rewards", key)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert len(resp.json()["data"]) == 4
    body = {"customer_identifier": get("/customers", key).json()["data"][0]["id"], "source": "manual",
            "points_amount": 3, "credits_amount": 0}
    assert requests.post(RIVO + "/points_events", json=body, headers={"Authorization": key}).status_code == 201
    assert requests.post(RIVO + "/points_events", data=body, headers={"Authorization": key}).status_code == 201
    assert get("/customers", key, params={"pagination[per_page]": "1"}).json()["links"]["next"] is not None
    assert requests.get(RIVO + "/rewards").status_code == 401
    assert apis.rivo_url == RIVO
    assert [e.route for e in sim.journal.entries()][:2] == ["rivo.rewards.list", "rivo.customers.list"]


def test_shopify_hosts_and_custom_hosts(sim: Simulator, key: str) -> None:
    with mock_apis(sim) as apis:
        resp = requests.get(apis.shopify_url("inproc.myshopify.com") + "/api/2025-10/shop.json")
        assert resp.status_code == 401  # the Shopify API answered (no token)
    with mock_apis(sim, hosts=("rivo.test",)) as apis:
        assert requests.get("http://rivo.test:8080/merchant_api/v1/rewards",
                            headers={"Authorization": key}).status_code == 200
        assert apis.rivo_url == "https://rivo.test/merchant_api/v1"


def test_a_decorator_too(sim: Simulator, key: str) -> None:
    @mock_apis(sim)
    def call() -> int:
        return get("/rewards", key).status_code

    assert call() == 200 and call() == 200


# -- transport actions become requests' exceptions ------------------------------------------------------------------
@pytest.mark.parametrize(("action", "kwargs", "error"), [
    ({"type": "timeout"}, {"timeout": 2}, requests.exceptions.ReadTimeout),
    ({"type": "timeout"}, {}, requests.exceptions.ReadTimeout),
    ({"type": "timeout", "seconds": 1}, {"timeout": 5}, requests.exceptions.ConnectionError),
    ({"type": "reset"}, {}, requests.exceptions.ConnectionError),
    ({"type": "empty_reply"}, {}, requests.exceptions.ConnectionError),
    ({"type": "latency", "ms": 3000}, {"timeout": 1}, requests.exceptions.ReadTimeout),
    ({"type": "slow_body", "interval_ms": 2000}, {"timeout": (1, 1)}, requests.exceptions.ConnectionError),
    ({"type": "malformed_body", "mode": "cut"}, {}, requests.exceptions.ChunkedEncodingError),
    ({"type": "commit_then_fail", "then": "reset"}, {}, requests.exceptions.ConnectionError),
])
def test_transport_actions_raise_what_requests_raises(apis: MockApis, key: str, sim: Simulator,
                                                      action: dict[str, Any], kwargs: dict[str, Any],
                                                      error: type[Exception]) -> None:
    fault(sim, action)
    with pytest.raises(error) as info:
        get("/rewards", key, **kwargs)
    assert type(info.value) is error
    assert get("/vip_tiers", key).status_code == 200  # other routes are untouched


def test_messages_read_like_a_real_socket(apis: MockApis, key: str, sim: Simulator) -> None:
    fault(sim, {"type": "timeout"})
    with pytest.raises(requests.exceptions.ReadTimeout, match=r"HTTPSConnectionPool\(host='developer-api.rivo.io', "
                                                              r"port=443\): Read timed out. \(read timeout=0.5\)"):
        get("/rewards", key, timeout=0.5)
    fault(sim, {"type": "reset"})
    with pytest.raises(requests.exceptions.ConnectionError, match="Connection reset by peer"):
        get("/rewards", key)
    fault(sim, {"type": "empty_reply"})
    with pytest.raises(requests.exceptions.ConnectionError, match="Remote end closed connection without response"):
        get("/rewards", key)


@pytest.mark.parametrize("mode", ["truncated", "invalid", "html"])
def test_malformed_bodies_fail_at_json(apis: MockApis, key: str, sim: Simulator, mode: str) -> None:
    fault(sim, {"type": "malformed_body", "mode": mode})
    resp = get("/rewards", key)
    assert resp.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        resp.json()


def test_error_responses_carry_retry_after(apis: MockApis, key: str, sim: Simulator) -> None:
    fault(sim, {"type": "error", "status": 429, "retry_after": 7})
    resp = get("/rewards", key)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.json()["errors"][0]["status"] == "429"


# -- time ------------------------------------------------------------------------------------------------------------
def test_latency_advances_the_shops_virtual_clock_without_sleeping(apis: MockApis, key: str, sim: Simulator) -> None:
    fault(sim, {"type": "latency", "ms": 30_000})
    shop = sim.shop("inproc.myshopify.com")
    before, server_before, started = shop.now(), sim.now(), time.perf_counter()
    assert get("/rewards", key).status_code == 200
    assert (shop.now() - before).total_seconds() == 30
    assert sim.now() == server_before  # the shop's wait: no other clock moves
    assert time.perf_counter() - started < 5


def test_a_timeout_takes_no_simulator_time(apis: MockApis, key: str, sim: Simulator) -> None:
    # The server mode's virtual clock does not move while a client waits on a hung socket either.
    fault(sim, {"type": "timeout"})
    before = sim.now()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get("/rewards", key, timeout=10)
    assert sim.now() == before


def test_real_sleep_when_asked(sim: Simulator, key: str) -> None:
    fault(sim, {"type": "latency", "ms": 150})
    with mock_apis(sim, real_sleep=True):
        started = time.perf_counter()
        assert get("/rewards", key).status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_a_wall_clock_moves_its_offset_instead(key: str) -> None:
    sim = Simulator(seed=1, clock="wall")
    shop = sim.create_shop({"rate_limits": {"rivo": {"enabled": False}}})
    sim.faults.add({"match": {"route": "rivo.rewards.list"}, "action": {"type": "latency", "ms": 60_000}})
    with mock_apis(sim):
        before = shop.now()
        assert get("/rewards", shop.credentials.rivo_api_key).status_code == 200
    assert (shop.now() - before).total_seconds() >= 60
    assert sim.clock.offset == 0  # the shop's offset moved, not the simulator's


# -- other hosts, your own mocks, webhooks ---------------------------------------------------------------------------
@pytest.fixture
def local_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"real"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_other_hosts_pass_through(sim: Simulator, local_server: str) -> None:
    with mock_apis(sim):
        assert requests.get(local_server, timeout=5).text == "real"
    with mock_apis(sim, passthrough=False), pytest.raises(requests.exceptions.ConnectionError):
        requests.get(local_server, timeout=5)


def test_other_hosts_pass_through_httpx_and_aiohttp_too(sim: Simulator, local_server: str) -> None:
    import asyncio

    import aiohttp
    import httpx

    async def with_aiohttp() -> str:
        async with aiohttp.ClientSession() as session, session.get(local_server) as response:
            return await response.text()

    async def with_httpx() -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(local_server, timeout=5)).text

    with mock_apis(sim):
        assert httpx.get(local_server, timeout=5).text == "real"
        assert asyncio.run(with_httpx()) == "real"
        assert asyncio.run(with_aiohttp()) == "real"
    with mock_apis(sim, passthrough=False), pytest.raises(aiohttp.ClientConnectionError):
        asyncio.run(with_aiohttp())


def test_aiohttp_calls_are_recorded_on_apis_aiohttp_as_aioresponses_records_them(sim: Simulator, key: str) -> None:
    import asyncio

    import aiohttp
    from yarl import URL

    url = RIVO + "/rewards"
    sent = {"X-Trace": "one"}

    async def fetch() -> int:
        async with aiohttp.ClientSession(headers={"Authorization": key}) as session, \
                session.get(url, headers=sent) as response:
            return response.status

    with mock_apis(sim, clients=("aiohttp",)) as apis:
        assert asyncio.run(fetch()) == 200
        sent["X-Trace"] = "changed afterwards"
        (recorded,) = apis.aiohttp.requests[("GET", URL(url))]
        assert recorded.kwargs["headers"]["X-Trace"] == "one"  # a copy, as aioresponses keeps
        assert recorded.kwargs["headers"]["Authorization"] == key  # the session's headers merged in
        apis.aiohttp.assert_called_once_with(url, "GET", headers=recorded.kwargs["headers"])


def test_a_responses_mock_started_first_sees_what_passes_through(sim: Simulator, key: str) -> None:
    with responses.RequestsMock() as outer:
        outer.add(responses.GET, "https://elsewhere.example.com/x", body="outer")
        with mock_apis(sim):
            assert requests.get("https://elsewhere.example.com/x").text == "outer"
            assert get("/rewards", key).status_code == 200


def test_your_registrations_win(apis: MockApis, key: str) -> None:
    apis.add(responses.GET, RIVO + "/rewards", json={"data": []}, status=200)
    assert get("/rewards", key).json() == {"data": []}
    assert len(get("/vip_tiers", key).json()["data"]) == 3


def test_webhooks_reach_a_subscriber_mocked_on_it(apis: MockApis, key: str, sim: Simulator) -> None:
    hook = "https://hooks.example.com/rivo"
    apis.add(responses.POST, hook, status=200)
    made = requests.post(RIVO + "/webhooks", json={"event_type": "points_event/created", "url": hook},
                         headers={"Authorization": key})
    assert made.status_code == 201
    cid = get("/customers", key).json()["data"][0]["id"]
    requests.post(RIVO + "/points_events", json={"customer_identifier": cid, "source": "manual", "points_amount": 9,
                                                 "credits_amount": 0}, headers={"Authorization": key})
    sim.run_until_idle()
    delivered = [c for c in apis.calls if c.request.url == hook]
    assert len(delivered) == 1
    assert delivered[0].request.headers["Rivo-Webhook-Topic"] == "points_event/created"


def test_the_call_list_stays_bounded(apis: MockApis, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_KEPT_CALLS == 1000
    monkeypatch.setattr("rivosim.transports.inprocess.requests_mode.MAX_KEPT_CALLS", 20)
    for _ in range(30):
        requests.get(RIVO + "/rewards")
    assert 10 <= len(apis.calls) <= 20


def test_nested_use_and_attributes_outside(sim: Simulator, key: str) -> None:
    original = HTTPAdapter.send
    mocked = mock_apis(sim)
    with mocked, mocked:
        assert HTTPAdapter.send is not original
        assert get("/rewards", key).status_code == 200
    assert HTTPAdapter.send is original  # requests is itself again
    with pytest.raises(AttributeError, match="outside its with-block"):
        mocked.add  # noqa: B018


# -- the one table both in-process transports apply ---------------------------------------------------------------
def test_client_meets_is_the_table_in_the_transport_contract() -> None:
    from rivosim.kernel.transport_action import ClientMeets, TransportAction, client_meets

    late = TransportAction("respond", delay=2.0)
    assert client_meets(late, 1.0, 10) == ClientMeets("timed_out", 1.0)
    assert client_meets(late, 3.0, 10) == ClientMeets("response", 2.0)
    hang_then_close = TransportAction("hang", delay=0.5, hang_seconds=2.0)
    assert (client_meets(hang_then_close, 5.0, 0).kind, client_meets(hang_then_close, 5.0, 0).waited) == ("closed", 2.5)
    assert (client_meets(hang_then_close, 1.0, 0).kind, client_meets(hang_then_close, 1.0, 0).waited) == (
        "timed_out", 1.5)
    assert client_meets(TransportAction("hang"), None, 0).kind == "hangs_forever"
    dribble = TransportAction("dribble", chunk_size=10, chunk_interval=0.5)
    assert client_meets(dribble, 1.0, 25).waited == 1.5  # three chunks
    assert client_meets(dribble, 0.25, 25).kind == "timed_out_in_body"
    assert client_meets(TransportAction("reset"), 1.0, 0).kind == "reset"


# -- one switch for every client -----------------------------------------------------------------------------------
def test_clients_default_to_those_installed_and_unknown_ones_are_refused(sim: Simulator) -> None:
    import httpx

    from rivosim.transports.inprocess import installed_clients

    assert installed_clients() == ("requests", "httpx", "aiohttp")
    assert mock_apis(sim).clients == installed_clients()
    with pytest.raises(ValueError, match="unknown client 'urllib'"):
        mock_apis(sim, clients=("requests", "urllib"))
    original = httpx.HTTPTransport.handle_request
    with mock_apis(sim, clients=("requests",)) as apis:
        assert httpx.HTTPTransport.handle_request is original and apis.aiohttp is None
    with mock_apis(sim, clients=("httpx",)) as apis:
        assert httpx.HTTPTransport.handle_request is not original and apis.mock is None
    assert httpx.HTTPTransport.handle_request is original


def test_every_carrier_builds_the_headers_the_server_shell_builds() -> None:
    # A name with "_" would alias a dashed one (Content_Length -> CONTENT_LENGTH): dropped, as the shell drops it;
    # repeated headers are joined once, cookies with "; ".
    from rivosim.transports.wsgi import add_headers

    environ: dict[str, object] = {}
    add_headers(environ, [("Content_Length", "abc"), ("X-Tag", "a"), ("X-Tag", "b"), ("Cookie", "a=1"),
                          ("Cookie", "b=2"), ("Content-Type", "application/json")])
    assert "CONTENT_LENGTH" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert environ == {"HTTP_X_TAG": "a,b", "HTTP_COOKIE": "a=1; b=2", "CONTENT_TYPE": "application/json"}
