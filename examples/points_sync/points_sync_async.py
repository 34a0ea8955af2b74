"""The points-sync worker's Rivo client, async, on ``httpx.AsyncClient``: for workers that run on an event loop.
It survives what the sync ``RivoClient`` survives (429 with ``Retry-After``, timeouts, dropped connections, 5xx,
a grant whose answer was lost) and keeps the same local ``Store`` in step with Rivo (``reconcile``).

Like the sync worker it knows nothing about rivosim: point it at https://developer-api.rivo.io/merchant_api/v1 and it
runs against the real thing. Its tests run it in-process (the ``rivosim_mock`` fixture patches httpx's transports)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from points_sync import RETRYABLE, RivoUnavailable, Store

__all__ = ["AsyncRivoClient", "AsyncRivoError", "reconcile"]


class AsyncRivoError(Exception):
    """Rivo refused the request (a 4xx other than 404/429)."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        super().__init__(f"{response.request.method} {response.request.url} -> {self.status}: {response.text[:200]}")


class AsyncRivoClient:
    """A small, careful async client of the Rivo merchant API."""

    def __init__(self, base_url: str, api_key: str, *, client: httpx.AsyncClient | None = None,
                 timeout: float = 5.0, max_attempts: int = 6, backoff: float = 0.5,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.AsyncClient(timeout=timeout)
        self.headers = {"Authorization": api_key}
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.waited = 0.0  # seconds spent waiting, for the curious

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _wait(self, seconds: float) -> None:
        self.waited += seconds
        await self.sleep(seconds)

    async def request(self, method: str, path: str, *,
                      ambiguous: Callable[[], Awaitable[Any]] | None = None, **kwargs: Any) -> Any:
        """Send, retrying 429s (as told by ``Retry-After``), timeouts, dropped connections and 5xx. Before a retry
        that could repeat a write that may have landed, ``ambiguous()`` is awaited; if it returns something, the
        write did land and that is returned instead of a response."""
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response: httpx.Response | None = await self.client.request(
                    method, self.base_url + path, headers=self.headers, **kwargs)
            except httpx.TransportError as exc:  # timeouts, resets, empty replies, cut bodies
                last, response = f"{type(exc).__name__}: {exc}", None
            if response is not None and response.status_code == 429:
                await self._wait(_retry_after(response, self.backoff * 2 ** (attempt - 1)))
                continue
            if response is not None and response.status_code not in RETRYABLE:
                return response
            if response is not None:
                last = str(response.status_code)
            if attempt == self.max_attempts:
                break
            await self._wait(self.backoff * 2 ** (attempt - 1))
            if ambiguous is not None and (landed := await ambiguous()) is not None:
                return landed
        raise RivoUnavailable(f"{method} {path}: gave up after {self.max_attempts} attempts ({last})")

    async def customers(self, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every customer, walking the cursor pagination."""
        since = 0
        while True:
            response = await self.request("GET", "/customers", params={
                "pagination[since_id]": since, "pagination[limit]": page_size})
            if response.status_code != 200:
                raise AsyncRivoError(response)
            body = response.json()
            for item in body["data"]:
                yield {"id": int(item["id"]), **item["attributes"]}
            since = body["links"].get("next_since_id")
            if not since:
                return

    async def points_events(self, identifier: int | str) -> list[dict[str, Any]]:
        response = await self.request("GET", "/points_events", params={
            "filters[customer_identifier]": identifier, "pagination[per_page]": 250})
        if response.status_code != 200:
            raise AsyncRivoError(response)
        return [item["attributes"] for item in response.json()["data"]]

    async def add_points(self, identifier: int | str, points: int, *, reason: str,
                         key: str | None = None) -> dict[str, Any]:
        """Grant (or with a negative amount, deduct) points exactly once, whatever the network does."""
        note = f"{reason} [sync:{key or uuid.uuid4().hex}]"

        async def landed() -> dict[str, Any] | None:
            try:
                return next((e for e in await self.points_events(identifier) if e.get("internal_note") == note), None)
            except (RivoUnavailable, AsyncRivoError):
                return None

        result = await self.request("POST", "/points_events", ambiguous=landed, json={
            "customer_identifier": identifier, "source": "manual", "points_amount": points,
            "credits_amount": 0, "internal_note": note})
        if not isinstance(result, httpx.Response):
            return result  # type: ignore[no-any-return]   # it had landed
        if result.status_code != 201:
            raise AsyncRivoError(result)
        return result.json()["data"]["attributes"]  # type: ignore[no-any-return]


async def reconcile(client: AsyncRivoClient, store: Store, page_size: int = 100) -> int:
    """Pull every customer from the API into ``store`` (the nightly safety net); returns how many."""
    count = 0
    async for customer in client.customers(page_size):
        store.profile(customer)
        store.db.execute("UPDATE customers SET points = ?, credits = ? WHERE id = ?",
                         (customer["points_tally"], str(customer["credits_tally"]), customer["id"]))
        count += 1
    return count


def _retry_after(response: httpx.Response, fallback: float) -> float:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return fallback
