"""The async client's tests, in-process: the ``rivosim_mock`` fixture routes httpx's ``AsyncClient`` into the
simulator, on pytest's event loop (pytest-asyncio). Waiting (Retry-After, backoff) moves the virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from points_sync import RivoUnavailable, Store
from points_sync_async import AsyncRivoClient, reconcile


@pytest_asyncio.fixture
async def client(rivosim: Any, rivosim_shop: Any, rivosim_mock: Any) -> AsyncIterator[AsyncRivoClient]:
    async def advance(seconds: float) -> None:
        rivosim.advance(seconds)

    made = AsyncRivoClient(rivosim_mock.rivo_url, rivosim_shop.rivo_api_key, sleep=advance, timeout=2)
    yield made
    await made.aclose()


def sign_up(rivosim: Any, shop: Any, email: str) -> int:
    r = rivosim.client.post(f"/_rivosim/shops/{shop.domain}/customers", json={"email": email, "visibility_delay": 0})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


@pytest.mark.asyncio
@pytest.mark.rivosim(config={"rate_limits": {"rivo": {"rate": 2, "burst": 3}}})
async def test_reconcile_through_the_rate_limit(rivosim: Any, rivosim_shop: Any, client: AsyncRivoClient) -> None:
    for n in range(8):
        sign_up(rivosim, rivosim_shop, f"shopper{n}@example.com")
    rivosim.advance(10)
    store = Store()
    assert await reconcile(client, store, page_size=2) == 8
    assert rivosim.journal.calls("rivo.customers.list", status=429), "the reconcile never met the rate limit"
    assert client.waited > 0
    assert sorted(store.all()) == sorted(c["id"] for c in [c async for c in client.customers()])


@pytest.mark.asyncio
@pytest.mark.rivosim(faults=[{"match": {"route": "rivo.customers.list"}, "times": 1, "action": {"type": "timeout"}},
                             {"match": {"route": "rivo.customers.list"}, "times": 1, "action": {"type": "reset"}},
                             {"match": {"route": "rivo.customers.list"}, "times": 1,
                              "action": {"type": "error", "status": 429, "retry_after": 7}}])
async def test_hangs_resets_and_429s_are_retried(rivosim: Any, rivosim_shop: Any, client: AsyncRivoClient) -> None:
    sign_up(rivosim, rivosim_shop, "ann@example.com")
    assert await reconcile(client, Store()) == 1
    assert [e.status for e in rivosim.journal.calls("rivo.customers.list")] == [0, 0, 429, 200]
    assert client.waited == 0.5 + 1.0 + 7   # two backoffs, then Retry-After exactly


@pytest.mark.asyncio
@pytest.mark.rivosim(faults=[{"match": {"route": "rivo.points_events.create"}, "times": 1,
                              "action": {"type": "commit_then_fail", "status": 503}}])
async def test_a_grant_whose_answer_was_lost_is_not_made_twice(rivosim: Any, rivosim_shop: Any,
                                                               client: AsyncRivoClient) -> None:
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com")
    event = await client.add_points(ann, 75, reason="survey", key="survey-2026-01")
    assert event["points_diff"] == 75
    assert len([e for e in await client.points_events(ann) if e["source"] == "manual"]) == 1
    rivosim.journal.assert_called("rivo.points_events.create", times=1, status=503)


@pytest.mark.asyncio
@pytest.mark.rivosim(faults=[{"match": {"route": "rivo.customers.list"}, "action": {"type": "empty_reply"}}])
async def test_it_gives_up_after_every_attempt(rivosim_shop: Any, client: AsyncRivoClient) -> None:
    with pytest.raises(RivoUnavailable, match="RemoteProtocolError"):
        await reconcile(client, Store())


@pytest.mark.asyncio
async def test_concurrent_grants_share_one_simulator(rivosim: Any, rivosim_shop: Any,
                                                     client: AsyncRivoClient) -> None:
    ann = sign_up(rivosim, rivosim_shop, "ann@example.com")
    await asyncio.gather(*(client.add_points(ann, 10, reason=f"batch {n}") for n in range(5)))
    [customer] = [c async for c in client.customers()]
    assert customer["points_tally"] == 100 + 50
