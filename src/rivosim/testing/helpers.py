"""What the pytest fixtures hand out, usable without pytest too: ``PluginSimulator`` (a simulator with a test
client, webhook assertions and bug tracebacks), ``ShopCredentials``, ``Webhooks`` (``assert_delivered``,
``assert_fired``), ``JournalView`` (one test's slice of a shared journal), and the node-id derived seeds and
shop domains the plugin uses.
"""

from __future__ import annotations

import hashlib
import re
import time
import traceback
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from rivosim.engine import Simulator
from rivosim.kernel.journal import Journal, JournalEntry, _contains

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from rivosim.webhooks.outbox import Delivery
    from rivosim.webhooks.rivo_topics import FiredTrigger

__all__ = ["JournalView", "PluginSimulator", "ShopCredentials", "Webhooks", "node_domain", "node_seed"]

_CREDENTIAL_FIELDS = ("domain", "rivo_api_key", "webhook_secret", "shopify_access_token", "shopify_api_key",
                      "shopify_api_secret")


# -- naming and seeds ----------------------------------------------------------------------------------------------
def node_seed(nodeid: str) -> int:
    """The seed a test gets when none is given: a pure function of its node id (stable across runs)."""
    return int.from_bytes(hashlib.sha256(nodeid.encode()).digest()[:4], "big")


def node_domain(nodeid: str) -> str:
    """A valid, unique myshopify domain named after the test (``test-refund-ab12cd34.myshopify.com``)."""
    name = nodeid.rsplit("::", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-") or "test"
    return f"{slug}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}.myshopify.com"


# -- the simulator the fixtures hand out ---------------------------------------------------------------------------
class PluginSimulator(Simulator):
    """A :class:`~rivosim.Simulator` with test helpers: ``webhooks`` (fired/delivered assertions), ``app`` and
    ``client`` (the WSGI app and a Flask test client, built on first use), and bug records that keep the
    server-side traceback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._app: Flask | None = None
        self._client: FlaskClient | None = None
        self.server_errors: list[str] = []
        self.scenario_result: Any = None  # the marker's scenario, when one ran
        super().__init__(*args, **kwargs)
        self.webhooks = Webhooks(self)

    @property
    def app(self) -> Flask:
        if self._app is None:
            from rivosim.http.app import create_app

            self._app = create_app(self)
        return self._app

    @property
    def client(self) -> FlaskClient:
        """A Flask test client on this simulator (in-process HTTP, no sockets)."""
        if self._client is None:
            self._client = self.app.test_client()
        return self._client

    def record_bug(self, exc: BaseException, where: str) -> None:
        super().record_bug(exc, where)
        self.bugs[-1]["traceback"] = "".join(traceback.format_exception(exc)).rstrip()

    def credentials(self, domain: str) -> ShopCredentials:
        return ShopCredentials(domain, self.shop(domain).credentials)


class ShopCredentials(Mapping[str, str]):
    """A shop's credentials: attributes (``shop.rivo_api_key``) or a mapping (``shop["rivo_api_key"]``,
    ``dict(shop)``). A live view: after ``api_key/regenerate`` it shows the new key."""

    __slots__ = ("_creds", "domain")

    def __init__(self, domain: str, creds: Any) -> None:
        self.domain = domain
        self._creds = creds

    rivo_api_key = property(lambda self: self._creds.rivo_api_key)
    webhook_secret = property(lambda self: self._creds.webhook_secret)
    shopify_access_token = property(lambda self: self._creds.shopify_access_token)
    shopify_api_key = property(lambda self: self._creds.shopify_api_key)
    shopify_api_secret = property(lambda self: self._creds.shopify_api_secret)

    @property
    def rivo_headers(self) -> dict[str, str]:
        """``{"Authorization": <raw key>}``: how the Rivo API wants its key."""
        return {"Authorization": self.rivo_api_key}

    def __getitem__(self, key: str) -> str:
        if key not in _CREDENTIAL_FIELDS:
            raise KeyError(key)
        return str(getattr(self, key))

    def __iter__(self) -> Iterator[str]:
        return iter(_CREDENTIAL_FIELDS)

    def __len__(self) -> int:
        return len(_CREDENTIAL_FIELDS)

    def __repr__(self) -> str:
        return f"ShopCredentials(domain={self.domain!r}, rivo_api_key={self.rivo_api_key[:6]}…)"


# -- webhook assertions --------------------------------------------------------------------------------------------
class Webhooks:
    """What fired (every topic, subscribed or not: the trigger log) and what was delivered (the outbox).

    ``assert_delivered`` never moves a virtual clock: deliveries go out when the test calls ``advance`` or
    ``run_until_idle``, and the failure message says so. On a wall clock (server mode) it waits up to
    ``timeout`` seconds for the server's background sender.
    """

    def __init__(self, sim: Simulator, shop: str | None = None) -> None:
        self.sim = sim
        self.shop = shop

    def _wait_default(self) -> float:
        return 5.0 if self.sim.clock.kind == "wall" else 0.0

    def fired(self, topic: str | None = None, *, shop: str | None = None, customer_id: int | None = None,
              since: int = 0) -> list[FiredTrigger]:
        """Triggers fired (in order), optionally one topic, one shop, one customer, after trigger seq ``since``."""
        domain = shop or self.shop
        with self.sim.lock:
            logs = [self.sim.triggers.logs[domain]] if domain in self.sim.triggers.logs else (
                [] if domain else list(self.sim.triggers.logs.values()))
            return [t for log in logs for t in log.items
                    if (topic is None or t.topic == topic) and (customer_id is None or t.customer_id == customer_id)
                    and t.seq > since]

    def topics(self, *, shop: str | None = None, customer_id: int | None = None, since: int = 0) -> list[str]:
        return [t.topic for t in self.fired(shop=shop, customer_id=customer_id, since=since)]

    def deliveries(self, topic: str | None = None, *, shop: str | None = None,
                   status: str | None = None) -> list[Delivery]:
        with self.sim.lock:
            self.sim.outbox.drain()
            return self.sim.outbox.list(shop=shop or self.shop, topic=topic, status=status)

    def assert_fired(self, topic: str, *, times: int | None = None, shop: str | None = None,
                     customer_id: int | None = None, payload: Any = None) -> list[FiredTrigger]:
        """Raise ``AssertionError`` unless ``topic`` fired (``times`` times, with ``payload`` as a subset)."""
        found = [t for t in self.fired(topic, shop=shop, customer_id=customer_id)
                 if payload is None or _contains(t.payload, payload)]
        if (times is None and not found) or (times is not None and len(found) != times):
            want = "at least once" if times is None else f"{times} time(s)"
            seen = ", ".join(self.topics(shop=shop)) or "none"
            raise AssertionError(f"expected {topic} to fire {want}{_scope(shop or self.shop, customer_id, payload)}"
                                 f", found {len(found)}; topics fired, in order: {seen}")
        return found

    def assert_delivered(self, topic: str, *, times: int | None = None, shop: str | None = None,
                         to: str | None = None, payload: Any = None,
                         timeout: float | None = None) -> list[Delivery]:
        """Raise ``AssertionError`` unless ``topic`` was delivered (a 2xx from the receiver) — ``times``
        deliveries when given, to URL ``to``, with ``payload`` a subset of the JSON body. Returns them."""
        deadline = time.monotonic() + (self._wait_default() if timeout is None else timeout)
        while True:
            candidates = [d for d in self.deliveries(topic, shop=shop) if to is None or d.url == to]
            found = [d for d in candidates if d.status == "delivered"
                     and (payload is None or _contains(orjson.loads(d.body), payload))]
            ok = bool(found) if times is None else len(found) == times
            if ok or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if ok:
            return found
        want = "at least once" if times is None else f"{times} time(s)"
        lines = [f"expected {topic} to be delivered {want}{_scope(shop or self.shop, None, payload)}"
                 + (f" to {to}" if to else "") + f", found {len(found)}"]
        for d in candidates[:10]:
            last = d.attempts[-1] if d.attempts else None
            outcome = "no attempt yet" if last is None else (
                f"last attempt: {last.status_code or last.error}")
            lines.append(f"  {d.id} -> {d.url}: {d.status} after {len(d.attempts)} attempt(s) ({outcome})")
        pending = [d for d in candidates if d.status == "pending"]
        if pending and self.sim.clock.kind != "wall":
            lines.append("  the virtual clock has not sent them yet: call rivosim.run_until_idle() or "
                         "rivosim.advance(...) first")
        if not candidates:
            fired = self.fired(topic, shop=shop)
            if fired:
                lines.append(f"  {topic} fired {len(fired)} time(s) but nothing was queued: no enabled subscription "
                             "for it (POST /merchant_api/v1/webhooks {event_type, url})")
            else:
                lines.append(f"  {topic} never fired; topics fired, in order: "
                             f"{', '.join(self.topics(shop=shop)) or 'none'}")
        raise AssertionError("\n".join(lines))

    def bodies(self, topic: str | None = None, *, shop: str | None = None) -> list[Any]:
        """The JSON bodies of the deliveries of ``topic`` (every status), oldest first."""
        return [orjson.loads(d.body) for d in self.deliveries(topic, shop=shop)]


def _scope(shop: str | None, customer_id: int | None, payload: Any) -> str:
    out = f" for {shop}" if shop else ""
    if customer_id is not None:
        out += f" (customer {customer_id})"
    if payload is not None:
        out += f" with {payload!r}"
    return out


# -- journal view (server mode: this test's requests only) ---------------------------------------------------------
class JournalView:
    """The shared journal seen from one test: entries after ``since`` (and of ``shop`` for route queries)."""

    def __init__(self, journal: Journal, since: int, shop: str | None = None) -> None:
        self._journal = journal
        self.since = since
        self.shop = shop

    def entries(self) -> list[JournalEntry]:
        return self._journal.calls(since=self.since)

    def calls(self, route: str | None = None, *, status: int | None = None,
              method: str | None = None) -> list[JournalEntry]:
        return self._journal.calls(route, shop=self.shop, status=status, method=method, since=self.since)

    def assert_called(self, route: str, *, times: int | None = None, status: int | None = None,
                      json: Any = None) -> list[JournalEntry]:
        matches = [e for e in self.calls(route, status=status) if json is None or _contains(e.request_json, json)]
        if (times is None and not matches) or (times is not None and len(matches) != times):
            seen = sorted({e.route or f"(unmatched) {e.method} {e.path}" for e in self.entries()})
            want = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(f"expected {route} to be called {want}" + (f" with {json!r}" if json else "")
                                 + f", found {len(matches)}; routes called: {', '.join(seen) or 'none'}")
        return matches
