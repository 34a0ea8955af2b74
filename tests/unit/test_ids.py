"""Ids and secrets: one seed replays them exactly, shops never disturb each other, ids only grow."""

from __future__ import annotations

import re

from rivosim.kernel.ids import IdSource, Randomness


def source(seed: int = 7, domain: str = "a.myshopify.com") -> IdSource:
    return IdSource(Randomness(seed), domain)


def draw(ids: IdSource) -> list[object]:
    return [ids.next("shopify_customer"), ids.next("shopify_customer"), ids.next("reward"), ids.hex(12),
            ids.alnum(10), ids.token("shpat_"), ids.next("shopify_order")]


def test_same_seed_and_domain_give_the_same_ids_and_secrets() -> None:
    assert draw(source()) == draw(source())


def test_a_different_seed_gives_different_ids_and_secrets() -> None:
    a, b = draw(source(seed=1)), draw(source(seed=2))
    assert all(x != y for x, y in zip(a, b, strict=True))


def test_domains_are_independent_streams() -> None:
    a1 = source(domain="a.myshopify.com")
    expected = draw(a1)
    # Heavy use of another shop's source (same seed) changes nothing for shop a.
    b = source(domain="b.myshopify.com")
    for _ in range(500):
        b.next("shopify_customer")
        b.hex(64)
    assert draw(source(domain="a.myshopify.com")) == expected
    assert draw(source(domain="b.myshopify.com")) != expected


def test_ids_ascend_per_kind_without_gaps() -> None:
    ids = source()
    values = [ids.next("points_event") for _ in range(1000)]
    assert values == sorted(values)
    assert values == list(range(values[0], values[0] + 1000))
    assert ids.peek("points_event") == values[-1]


def test_peek_is_none_before_the_first_id() -> None:
    assert source().peek("referral") is None


def test_base_is_a_pure_function_of_seed_domain_and_kind() -> None:
    forward = source()
    a_first = [forward.next("reward"), forward.next("referral"), forward.next("shopify_order")]
    backward = source()
    b_order = backward.next("shopify_order")
    b_referral = backward.next("referral")
    b_reward = backward.next("reward")
    assert a_first == [b_reward, b_referral, b_order]


def test_kinds_are_drawn_from_their_configured_ranges() -> None:
    ids = source()
    customer = ids.next("shopify_customer")
    order = ids.next("shopify_order")
    assert 7_000_000_000_000 < customer <= 9_000_000_000_000  # 13 digits like real Shopify ids
    assert 5_000_000_000_000 < order <= 6_000_000_000_000
    assert 100_000 < ids.next("anything_else") <= 900_000


def test_secrets_have_the_requested_shape() -> None:
    ids = source()
    assert re.fullmatch(r"[0-9a-f]{40}", ids.hex(40))
    assert re.fullmatch(r"[A-Z0-9]{10}", ids.alnum(10))
    token = ids.token("shpat_")
    assert re.fullmatch(r"shpat_[0-9a-f]{32}", token)


def test_secrets_do_not_repeat() -> None:
    ids = source()
    assert len({ids.hex(32) for _ in range(1000)}) == 1000


def test_randomness_streams_are_reproducible_and_independent() -> None:
    r = Randomness(42)
    assert r.stream("x", "y").random() == Randomness(42).stream("x", "y").random()
    assert r.stream("x", "y").random() != r.stream("x", "z").random()
    assert Randomness(42).stream("x").random() != Randomness(43).stream("x").random()
