"""Server mode against careless and hostile tenants (issue 14): a black-hole receiver delays only its own shop,
SIGTERM exits within 5 s with deliveries queued, webhooks can never be aimed back at the simulator, the control
token is enforced, and the three fuzz-found inputs are 4xx with the journal still readable."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rivosim import Simulator, create_app
from rivosim.cli import main as cli_main
from rivosim.transports.server import Server
from rivosim.webhooks.self_target import add_listening_address
from rivosim.webhooks.senders import ThreadedSender
from tests.receiver import PostReceiver

T = 5.0
SHOPIFY = "/admin/api/2025-10"


class Receiver(PostReceiver):
    """Counts the deliveries it gets (and when) on 127.0.0.1."""

    path = "/hooks"

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        super().__init__()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        self.arrivals.append(time.monotonic())
        return 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/never"
    sock.close()


def _shop(http: requests.Session, base: str, domain: str, url: str, timeout: float = 5) -> dict[str, Any]:
    shop = http.post(f"{base}/_rivosim/shops", timeout=T, json={
        "domain": domain, "api": {"new_customer_visibility_delay": 0},
        "webhooks": {"timeout_seconds": timeout, "max_attempts": 1}}).json()
    created = http.post(f"{base}/merchant_api/v1/webhooks", headers={"Authorization": shop["rivo_api_key"]},
                        json={"event_type": "points_event/created", "url": url}, timeout=T)
    assert created.status_code == 201, created.text
    return shop


def test_a_black_hole_receiver_for_shop_a_leaves_shop_bs_delivery_on_time(receiver: Receiver,
                                                                            black_hole: str) -> None:
    sim = Simulator(seed=3, clock="wall")
    with Server(create_app(sim), tick=sim.tick, tick_interval=0.02) as server:
        http = requests.Session()
        _shop(http, server.url, "a.myshopify.com", black_hole, timeout=30)
        _shop(http, server.url, "b.myshopify.com", receiver.url)
        for i in range(20):  # far more stuck sends than the sender has threads
            r = http.post(f"{server.url}/_rivosim/shops/a.myshopify.com/customers", json={"email": f"a{i}@x.io"},
                          timeout=T)
            assert r.status_code == 201
        time.sleep(0.3)  # A's sends are on the wire, hanging
        sent = time.monotonic()
        assert http.post(f"{server.url}/_rivosim/shops/b.myshopify.com/customers", json={"email": "b@x.io"},
                         timeout=T).status_code == 201
        deadline = sent + 10
        while not receiver.arrivals and time.monotonic() < deadline:
            time.sleep(0.01)
        assert receiver.arrivals and receiver.arrivals[0] - sent < 2.0  # not behind A's 30 s timeouts
        sim.outbox.close()


def test_sigterm_with_1000_pending_deliveries_exits_within_5_s(black_hole: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "rivosim", "serve", "--port", "0", "--no-demo", "--clock", "wall"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RIVOSIM_CONTROL_TOKEN": ""})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base = first.split(" on ", 1)[1].split(" ", 1)[0]
        http = requests.Session()
        _shop(http, base, "stuck.myshopify.com", black_hole, timeout=60)
        http.close()
        host, port = base.rsplit("/", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=60) as sock:  # pipelined: the client isn't the test
            bodies = [json.dumps({"email": f"s{i}@x.io"}).encode() for i in range(1000)]
            sender = threading.Thread(target=sock.sendall, daemon=True, args=(b"".join(
                b"POST /_rivosim/shops/stuck.myshopify.com/customers HTTP/1.1\r\nHost: x\r\nContent-Type: "
                b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b) for b in bodies),))
            sender.start()
            seen = b""
            deadline = time.monotonic() + 120
            while seen.count(b"HTTP/1.1 201") < 1000 and time.monotonic() < deadline:
                seen += sock.recv(1 << 20)
        assert seen.count(b"HTTP/1.1 201") == 1000
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
        elapsed = time.monotonic() - started
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        proc.kill()
        proc.wait()
    assert rc == 0 and elapsed <= 5.0, (rc, elapsed, stderr)
    assert "webhook deliveries abandoned" in stderr
    abandoned = int(stderr.split("; ", 1)[1].split(" ", 1)[0])
    assert 900 <= abandoned <= 1000


def test_webhook_urls_aimed_at_this_server_are_refused_through_both_apis(receiver: Receiver) -> None:
    sim = Simulator(seed=4)
    shop = sim.create_shop({"domain": "self.myshopify.com"})
    with Server(create_app(sim), tick=sim.tick) as server:
        add_listening_address(sim, server.host, server.port)
        rivo = {"Authorization": shop.credentials.rivo_api_key}
        shopify = {"X-Shopify-Access-Token": shop.credentials.shopify_access_token}
        for target in (f"{server.url}/_rivosim/reset", f"http://localhost:{server.port}/_rivosim/reset",
                       f"http://[::ffff:127.0.0.1]:{server.port}/_rivosim/shops", f"http://0.0.0.0:{server.port}/"):
            r = requests.post(f"{server.url}/merchant_api/v1/webhooks", headers=rivo, timeout=T,
                              json={"event_type": "points_event/created", "url": target})
            assert r.status_code == 422, (target, r.text)
            assert r.json()["errors"][0]["source"] == {"parameter": "url"} and "itself" in r.json()["error"]
            r = requests.post(f"{server.url}{SHOPIFY}/webhooks.json", headers=shopify, timeout=T,
                              json={"webhook": {"topic": "customers/create", "address": target}})
            assert r.status_code == 422, (target, r.text)
            assert "itself" in r.json()["errors"]["address"][0]
        assert not shop.rivo.subscriptions and not shop.shopify.webhook_subscriptions  # refused: nothing changed
        ok = requests.post(f"{server.url}/merchant_api/v1/webhooks", headers=rivo, timeout=T,
                           json={"event_type": "points_event/created", "url": receiver.url})
        assert ok.status_code == 201


def test_a_delivery_that_would_reach_this_server_fails_as_refused() -> None:
    sim = Simulator(seed=5)
    shop = sim.create_shop({"domain": "late.myshopify.com", "api": {"new_customer_visibility_delay": 0}})
    with Server(create_app(sim), tick=sim.tick) as server:
        # Subscribed before the server said where it listens (as a name that later resolves here would be).
        shop.rivo.create_subscription({"event_type": "points_event/created",
                                       "url": f"http://localhost:{server.port}/_rivosim/reset"})
        add_listening_address(sim, server.host, server.port)
        shop.shopify.create_customer(email="victim@x.io")
        sim.run_until_idle()
        deliveries = sim.outbox.list(shop=shop.domain)
        assert deliveries and all(a.error and a.error.startswith("refused:") for d in deliveries for a in d.attempts)
        assert "late.myshopify.com" in sim.shops  # the reset never ran


def test_the_control_token_is_enforced_and_the_tenant_apis_keep_their_own_credentials() -> None:
    sim = Simulator(seed=6)
    shop = sim.create_shop({"domain": "guarded.myshopify.com"})
    client = create_app(sim, control_token="s3cret").test_client()
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "s3cret"}):
        r = client.get("/_rivosim/shops", headers=headers)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.get_json()["error"]["code"] == "unauthorized" and "rivo_api_key" not in r.get_data(as_text=True)
    assert client.post("/_rivosim/reset", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert "guarded.myshopify.com" in sim.shops  # a refused control call changes nothing
    assert client.get("/_rivosim/shops", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    r = client.get("/merchant_api/v1/customers", headers={"Authorization": shop.credentials.rivo_api_key})
    assert r.status_code == 200


def test_serve_refuses_a_non_loopback_host_without_a_token(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RIVOSIM_CONTROL_TOKEN", raising=False)
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "0", "--no-demo"]) == 2
    assert "--control-token" in capsys.readouterr().err


DEEP = b"[" * 1000 + b"]" * 1000
SURROGATE = b'{"customer_email": "\\ud800x@example.com", "points": 5}'


@pytest.mark.parametrize("path,body", [
    ("/merchant_api/v1/points_events", DEEP), ("/merchant_api/v1/points_events", SURROGATE),
    (f"{SHOPIFY}/customers.json", DEEP), ("/_rivosim/shops", DEEP), ("/_rivosim/shops", SURROGATE),
])
def test_fuzz_found_bodies_are_4xx_and_the_journal_still_reads(path: str, body: bytes) -> None:
    sim = Simulator(seed=8)
    shop = sim.create_shop({"domain": "fuzz.myshopify.com"})
    headers = {"Content-Type": "application/json", "Authorization": shop.credentials.rivo_api_key,
               "X-Shopify-Access-Token": shop.credentials.shopify_access_token}
    with Server(create_app(sim), tick=sim.tick) as server:
        r = requests.post(server.url + path, data=body, headers=headers, timeout=T)
        assert 400 <= r.status_code < 500, r.text
        if path.startswith("/_rivosim"):
            assert "error" in r.json()
        elif path.startswith("/admin"):
            assert "errors" in r.json()
        journal = requests.get(server.url + "/_rivosim/journal", timeout=T)
        assert journal.status_code == 200 and journal.json()
        assert not sim.bugs


def test_an_underscore_content_length_is_not_a_500() -> None:
    sim = Simulator(seed=9)
    shop = sim.create_shop({"domain": "alias.myshopify.com"})
    with Server(create_app(sim), tick=sim.tick) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=T) as sock:
        sock.sendall(b"POST /merchant_api/v1/points_events HTTP/1.1\r\nHost: x\r\nContent_Length: abc\r\n"
                     b"Authorization: " + shop.credentials.rivo_api_key.encode() + b"\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
        status = int(raw.split(b" ", 2)[1])
        assert 400 <= status < 500, raw
        assert requests.get(server.url + "/_rivosim/journal", timeout=T).status_code == 200
        assert not sim.bugs


def test_bugs_are_a_ring_with_a_total() -> None:
    sim = Simulator(seed=10)
    for i in range(1005):
        sim.record_bug(ValueError(str(i)), "test")
    assert len(sim.bugs) == 1000 and sim.bugs.total == 1005
    assert sim.bugs[0]["error"] == "ValueError: 5" and sim.bugs.since(1003) == list(sim.bugs)[-2:]
    body = create_app(sim).test_client().get("/_rivosim/bugs").get_json()
    assert body["total"] == 1005 and len(body["bugs"]) == 1000


def test_the_outbox_cap_evicts_the_oldest_finished_and_counts_what_it_drops() -> None:
    sim = Simulator(seed=11)
    outbox = sim.outbox
    outbox.cap = 3
    sent: list[str] = []

    class Recording:
        def send(self, request: Any, done: Any) -> None:
            sent.append(request.url)
            from rivosim.webhooks.senders import AttemptResult

            done(AttemptResult(200, None, 0.1))

        def close(self) -> None:
            pass

    def enqueue(n: int, shop: str = "s") -> Any:
        return outbox.enqueue(delivery_id=f"d{n}", shop=shop, api="rivo", topic="t", url=f"http://r/{n}",
                              body=bytearray(b"{}"), headers_for=lambda d, at: {}, max_attempts=1, timeout=1)

    first = [enqueue(i) for i in range(3)]  # pending: the clock has not run
    assert type(first[0].body) is bytes
    dropped = enqueue(3, "noisy")
    assert dropped.status == "dropped" and outbox.dropped == 1 and outbox.dropped_by_shop == {"noisy": 1}
    assert "d3" not in outbox.deliveries
    sim.use_sender(Recording())
    sim.run_until_idle()
    assert {d.status for d in first} == {"delivered"}
    kept = enqueue(4)
    assert kept.status == "pending" and list(outbox.deliveries) == ["d1", "d2", "d4"]  # d0 finished first
    assert outbox.stats()["dropped"] == 1
    log = create_app(sim).test_client().get("/_rivosim/webhooks/deliveries").get_json()
    assert log["outbox"]["dropped"] == 1


def test_the_threaded_sender_takes_turns_across_shops() -> None:
    sender = ThreadedSender(workers=1, per_shop=1)
    order: list[str] = []
    gate = threading.Event()
    from rivosim.webhooks.senders import OutgoingRequest

    def refuse(url: str) -> str:
        gate.wait(T)
        order.append(url)
        return "test"

    for i in range(3):
        sender.send(OutgoingRequest(f"a{i}", b"", {}, 1, shop="a", refuse=refuse), lambda r: None)
    sender.send(OutgoingRequest("b0", b"", {}, 1, shop="b", refuse=refuse), lambda r: None)
    gate.set()
    deadline = time.monotonic() + T
    while len(order) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert order == ["a0", "b0", "a1", "a2"]  # b's one send waits behind at most one of a's
    assert sender.close() == 0


def test_journal_rows_are_json(tmp_path: Any) -> None:
    # The journal's JSON view re-encodes every stored body: it must hold for any body the APIs refused.
    sim = Simulator(seed=12)
    client = create_app(sim).test_client()
    for body in (DEEP, SURROGATE, b"\xff\xfe", b'{"a": 1e999999}'):
        client.post("/_rivosim/shops", data=body, content_type="application/json")
    r = client.get("/_rivosim/journal")
    assert r.status_code == 200 and json.loads(r.get_data())


def test_the_control_token_guards_unknown_control_paths_and_the_inspector_takes_basic_auth() -> None:
    import base64

    sim = Simulator(seed=6)
    client = create_app(sim, control_token="s3cret").test_client()
    r = client.get("/_rivosim/no-such-thing")
    assert r.status_code == 401 and "nearest" not in r.get_data(as_text=True)  # no route hints without the token
    assert client.get("/_rivosim/no-such-thing", headers={"Authorization": "Bearer s3cret"}).status_code == 404
    page = client.get("/_rivosim/ui/")
    assert page.status_code == 401 and page.headers["WWW-Authenticate"].startswith("Basic")  # a browser prompts
    basic = base64.b64encode(b"anyone:s3cret").decode()
    assert client.get("/_rivosim/ui/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert client.get("/_rivosim/shops", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    wrong = base64.b64encode(b"anyone:nope").decode()
    assert client.get("/_rivosim/shops", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    assert client.get("/_rivosim/shops", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert not sim.bugs
