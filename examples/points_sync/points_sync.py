"""A points-sync worker for Rivo: it listens to Rivo webhooks and keeps a local store (SQLite) of every
customer's points, store credit and VIP tier, the way a merchant back end or a marketing-sync service would.

It knows nothing about rivosim: point ``RivoClient`` at https://developer-api.rivo.io/merchant_api/v1 and mount
``PointsSync.handle`` on your webhook route, and it runs against the real thing. What it is built to survive
(Rivo's help docs and the API reference list each of these):

- **429 Too Many Requests** (15 requests/s per store): waits the ``Retry-After`` seconds, then retries;
- **timeouts, dropped connections and 5xx**: retries with backoff — and before retrying a points grant whose
  outcome is unknown, looks for it in the ledger (its idempotency key is in ``internal_note``), so a grant
  that did land is never made twice;
- **duplicate deliveries** (webhooks are at-least-once): de-duplicates on ``rivo-webhook-id``;
- **out-of-order deliveries** (a failed delivery is retried while later ones go through): a balance is only
  replaced by one from a newer points event;
- **delayed visibility** (a new customer can take a while to reach the API): a customer the API does not know
  yet is kept pending and fetched again by ``retry_pending``;
- **forged requests**: checks the HMAC signature (``rivo-signature``, or the ``rivo-webhook-signature``
  Standard-Webhooks form) and refuses anything else with 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

__all__ = ["PointsSync", "RivoClient", "RivoError", "RivoUnavailable", "Store", "signature_ok"]

RETRYABLE = (500, 502, 503, 504)


class RivoError(Exception):
    """Rivo refused the request (a 4xx other than 404/429)."""

    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        try:
            detail = response.json().get("error")
        except ValueError:
            detail = response.text[:200]
        super().__init__(f"{response.request.method} {response.url} -> {self.status}: {detail}")


class RivoUnavailable(Exception):
    """Rivo could not be reached (timeouts, resets, 5xx, throttling) after every attempt."""


class RivoClient:
    """A small, careful client of the Rivo merchant API."""

    def __init__(self, base_url: str, api_key: str, *, session: requests.Session | None = None,
                 timeout: float = 5.0, max_attempts: int = 6, backoff: float = 0.5,
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.waited = 0.0  # seconds spent waiting, for the curious

    def _wait(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)

    def request(self, method: str, path: str, *, ambiguous: Callable[[], Any] | None = None,
                **kwargs: Any) -> requests.Response:
        """Send, retrying 429s (as told by ``Retry-After``), timeouts, connection errors and 5xx. When a retry
        could repeat a write that may have landed, ``ambiguous()`` is asked first; if it returns something, the
        write did land and that is returned instead (as ``response.landed``)."""
        url = self.base_url + path
        headers = {"Authorization": self.api_key, **kwargs.pop("headers", {})}
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                response = None
            if response is not None and response.status_code == 429:
                self._wait(_retry_after(response, self.backoff * 2 ** (attempt - 1)))
                last = "429 Too Many Requests"
                continue
            if response is not None and response.status_code not in RETRYABLE:
                return response
            if response is not None:
                last = f"{response.status_code}"
            if attempt == self.max_attempts:
                break
            self._wait(self.backoff * 2 ** (attempt - 1))
            if ambiguous is not None:
                landed = ambiguous()
                if landed is not None:
                    done = requests.Response()
                    done.status_code = 200
                    done.landed = landed  # type: ignore[attr-defined]
                    return done
        raise RivoUnavailable(f"{method} {path}: gave up after {self.max_attempts} attempts ({last})")

    def _json(self, response: requests.Response, *ok: int) -> Any:
        if response.status_code not in ok:
            raise RivoError(response)
        return response.json()

    # -- operations --------------------------------------------------------------------------------------------
    def customer(self, identifier: int | str) -> dict[str, Any] | None:
        """A customer's attributes, or None while Rivo does not know them (yet)."""
        response = self.request("GET", f"/customers/{identifier}")
        if response.status_code == 404:
            return None
        data = self._json(response, 200)["data"]
        return {"id": int(data["id"]), **data["attributes"]}

    def customers(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every customer, walking the cursor pagination."""
        since = 0
        while True:
            body = self._json(self.request("GET", "/customers", params={
                "pagination[since_id]": since, "pagination[limit]": page_size}), 200)
            for item in body["data"]:
                yield {"id": int(item["id"]), **item["attributes"]}
            since = body["links"].get("next_since_id")
            if not since:
                return

    def points_events(self, identifier: int | str) -> list[dict[str, Any]]:
        body = self._json(self.request("GET", "/points_events", params={
            "filters[customer_identifier]": identifier, "pagination[per_page]": 250}), 200)
        return [item["attributes"] for item in body["data"]]

    def add_points(self, identifier: int | str, points: int, *, reason: str,
                   key: str | None = None) -> dict[str, Any]:
        """Grant (or with a negative amount, deduct) points exactly once, whatever the network does."""
        key = key or uuid.uuid4().hex
        note = f"{reason} [sync:{key}]"

        def landed() -> dict[str, Any] | None:
            try:
                return next((e for e in self.points_events(identifier) if e.get("internal_note") == note), None)
            except (RivoUnavailable, RivoError):
                return None

        response = self.request("POST", "/points_events", ambiguous=landed, json={
            "customer_identifier": identifier, "source": "manual", "points_amount": points,
            "credits_amount": 0, "internal_note": note})
        if hasattr(response, "landed"):
            return response.landed  # type: ignore[no-any-return]
        return self._json(response, 201)["data"]["attributes"]  # type: ignore[no-any-return]

    def subscribe(self, topic: str, url: str) -> dict[str, Any]:
        return self._json(self.request("POST", "/webhooks", json={"event_type": topic, "url": url}), 201)["data"]


def _retry_after(response: requests.Response, fallback: float) -> float:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return fallback


def _event_id(value: Any) -> int:
    """A webhook's ``id``: the composite ``[shop_id, event_id]`` Rivo sends in webhooks, or a plain id."""
    return int(value[-1]) if isinstance(value, list) else int(value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def signature_ok(body: bytes, headers: Mapping[str, str], secret: str, *, now: float | None = None,
                 tolerance: float = 300) -> bool:
    """Rivo's documented ``rivo-signature`` (base64 HMAC-SHA256 of the raw body), or the Standard-Webhooks
    ``rivo-webhook-signature: v1,<base64 HMAC of "{id}.{timestamp}.{body}">`` with a fresh timestamp."""
    key = secret.encode()
    documented = _header(headers, "rivo-signature")
    standard = _header(headers, "rivo-webhook-signature")
    if documented is None and standard is None:
        return False
    if documented is not None:
        expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(documented, expected):
            return False
    if standard is not None:
        msg_id, stamp = _header(headers, "rivo-webhook-id"), _header(headers, "rivo-webhook-timestamp")
        if not msg_id or not stamp or not stamp.isdigit():
            return False
        if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
            return False
        signed = f"{msg_id}.{stamp}.".encode() + body
        expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if not any(hmac.compare_digest(candidate, expected) for candidate in standard.split(" ")):
            return False
    return True


class Store:
    """The worker's local copy: customers, the webhook ids already handled, customers still to fetch."""

    def __init__(self, path: str = ":memory:") -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, email TEXT, points INTEGER,
                credits TEXT, tier TEXT, last_event_id INTEGER NOT NULL DEFAULT 0,
                last_tier_change INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS seen (webhook_id TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS pending (customer_id INTEGER PRIMARY KEY);
        """)

    def seen(self, webhook_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM seen WHERE webhook_id = ?", (webhook_id,)).fetchone() is not None

    def mark_seen(self, webhook_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (webhook_id,))

    def _ensure(self, customer_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO customers (id) VALUES (?)", (customer_id,))

    def balance(self, customer_id: int, event_id: int, points: int, credits: str) -> None:
        """Take a balance from points event ``event_id`` unless a newer event's balance is already here."""
        self._ensure(customer_id)
        self.db.execute("UPDATE customers SET points = ?, credits = ?, last_event_id = ? "
                        "WHERE id = ? AND last_event_id < ?", (points, credits, event_id, customer_id, event_id))

    def profile(self, customer: Mapping[str, Any]) -> None:
        self._ensure(customer["id"])
        tier = (customer.get("vip_tier") or {}).get("name")
        self.db.execute("UPDATE customers SET email = ?, tier = ? WHERE id = ?", (customer["email"], tier,
                                                                                  customer["id"]))

    def tier(self, customer_id: int, change_id: int, tier: str | None) -> None:
        self._ensure(customer_id)
        self.db.execute("UPDATE customers SET tier = ?, last_tier_change = ? WHERE id = ? AND last_tier_change < ?",
                        (tier, change_id, customer_id, change_id))

    def pend(self, customer_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO pending VALUES (?)", (customer_id,))

    def pending(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT customer_id FROM pending ORDER BY customer_id")]

    def unpend(self, customer_id: int) -> None:
        self.db.execute("DELETE FROM pending WHERE customer_id = ?", (customer_id,))

    def get(self, customer_id: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT id, email, points, credits, tier FROM customers WHERE id = ?",
                              (customer_id,)).fetchone()
        return None if row is None else dict(zip(("id", "email", "points", "credits", "tier"), row, strict=True))

    def all(self) -> dict[int, dict[str, Any]]:
        ids = [row[0] for row in self.db.execute("SELECT id FROM customers ORDER BY id")]
        return {i: self.get(i) for i in ids}  # type: ignore[misc]


class PointsSync:
    """The webhook handler and the housekeeping around it."""

    TOPICS = ("points_event/created", "customer/joined", "customer_vip_tier/upgraded",
              "customer_vip_tier/downgraded")

    def __init__(self, client: RivoClient, store: Store, webhook_secret: str, *,
                 now: Callable[[], float] = time.time) -> None:
        self.client = client
        self.store = store
        self.secret = webhook_secret
        self.now = now
        self.handled = 0
        self.duplicates = 0
        self._lock = threading.Lock()

    def subscribe(self, url: str) -> None:
        for topic in self.TOPICS:
            self.client.subscribe(topic, url)

    def handle(self, body: bytes, headers: Mapping[str, str]) -> int:
        """One delivery → the HTTP status to answer (2xx: done; anything else: Rivo will retry).

        Deliveries arrive concurrently (a webhook sender works from a pool), so they are handled one at a time:
        the store's connection is shared, and "seen?" then "mark seen" must not interleave, or two copies of
        one delivery would both be applied."""
        with self._lock:
            return self._handle(body, headers)

    def _handle(self, body: bytes, headers: Mapping[str, str]) -> int:
        if not signature_ok(body, headers, self.secret, now=self.now()):
            return 401
        webhook_id = _header(headers, "rivo-webhook-id") or ""
        if self.store.seen(webhook_id):
            self.duplicates += 1
            return 200
        topic = _header(headers, "rivo-webhook-topic")
        payload = json.loads(body)
        try:
            self._apply(topic or payload.get("event_type", ""), payload)
        except RivoUnavailable:
            return 503  # not handled: let Rivo deliver it again later
        self.store.mark_seen(webhook_id)
        self.handled += 1
        return 200

    def _apply(self, topic: str, payload: dict[str, Any]) -> None:
        customer = payload.get("customer") or {}
        if topic == "points_event/created" and customer:
            self.store.balance(int(customer["id"]), _event_id(payload["id"]), int(customer["points_tally"]),
                               str(customer["credits_tally"]))
        elif topic == "customer/joined" and customer:
            self._fetch(int(customer["id"]))
        elif topic.startswith("customer_vip_tier/") and customer:
            tier = (payload.get("vip_tier") or {}).get("name")
            self.store.tier(int(customer["id"]), _event_id(payload["id"]), tier)

    def _fetch(self, customer_id: int) -> None:
        found = self.client.customer(customer_id)
        if found is None:
            self.store.pend(customer_id)  # not visible to the API yet: try again later
        else:
            self.store.profile(found)
            self.store.unpend(customer_id)

    def retry_pending(self) -> int:
        """Fetch the customers the API did not know yet; returns how many are still pending."""
        for customer_id in self.store.pending():
            self._fetch(customer_id)
        return len(self.store.pending())

    def reconcile(self, page_size: int = 100) -> int:
        """Pull every customer from the API (the nightly safety net); returns how many."""
        count = 0
        for customer in self.client.customers(page_size):
            self.store.profile(customer)
            self.store.db.execute("UPDATE customers SET points = ?, credits = ? WHERE id = ?",
                                  (customer["points_tally"], str(customer["credits_tally"]), customer["id"]))
            count += 1
        return count
