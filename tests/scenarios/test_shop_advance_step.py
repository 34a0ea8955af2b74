"""The ``advance`` step that names its shop (``{by: P30D, shop: '{{ shop.domain }}'}``): only the scenario's own
shop's clock moves — in-process through ``Simulator.advance_shop``, against a server through
``POST /_rivosim/shops/<domain>/clock/advance`` — and every other shop keeps its time."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from rivosim import Simulator, create_app
from rivosim.scenarios.loader import LoadError, load_text
from rivosim.scenarios.report import format_failure
from rivosim.scenarios.runner import run_scenario
from rivosim.transports.runner import InProcessTransport
from rivosim.transports.server import Server

OWN_SHOP = textwrap.dedent("""\
    name: own-clock
    shop: {domain: own-clock.myshopify.com}
    customers:
      alice: {email: alice@example.com}
    steps:
      - advance: {by: P30D, shop: "{{ shop.domain }}"}
      - http:
          method: GET
          path: /_rivosim/shops/{{ shop.domain }}/clock
          as: clock
""")


def _bystander(sim: Simulator) -> str:
    domain = "bystander.myshopify.com"
    sim.create_shop({"domain": domain})
    return domain


def test_in_process_only_the_scenario_shop_moves() -> None:
    sim = Simulator(seed=3)
    before_global = sim.now()
    result = run_scenario(load_text(OWN_SHOP, "own.yaml"), in_process=InProcessTransport(sim))
    assert result.passed, format_failure(result)
    shop = sim.shop("own-clock.myshopify.com")
    assert shop.clock.now() - shop.origin >= timedelta(days=30)
    assert sim.now() == before_global  # the simulator's own clock (and so every other shop's) did not move


def test_against_a_server_only_the_scenario_shop_moves() -> None:
    sim = Simulator(seed=1)
    other = _bystander(sim)
    other_before = sim.shop(other).clock.now()
    with Server(create_app(sim), tick=sim.tick) as server:
        result = run_scenario(load_text(OWN_SHOP, "own.yaml"), against=server.url)
    assert result.passed, format_failure(result)
    moved = sim.shop("own-clock.myshopify.com")
    assert moved.clock.now() - moved.origin >= timedelta(days=30)
    assert sim.shop(other).clock.now() == other_before
    answered = [i for i in result.transcript if i["kind"] == "request" and i["path"].endswith("/clock")]
    assert answered[-1]["response"]["now"] == moved.clock.now().isoformat()
    assert not sim.bugs


def test_naming_another_shop_fails_the_step() -> None:
    text = OWN_SHOP.replace('shop: "{{ shop.domain }}"', "shop: someone-else.myshopify.com")
    result = run_scenario(load_text(text, "own.yaml"))
    assert not result.passed and result.failure is not None
    assert "not this scenario's shop" in result.failure.message
    assert result.failure.step.startswith("steps[0] advance")


@pytest.mark.parametrize(("body", "words"), [
    ("{by: P30X, shop: a.myshopify.com}", "is not an ISO-8601 duration"),
    ("{by: P1D}", "shop"),
    ("{by: P1D, shop: a.myshopify.com, extra: 1}", "extra"),
])
def test_a_bad_shop_advance_is_refused_when_loading(body: str, words: str) -> None:
    with pytest.raises(LoadError) as err:
        load_text(f"name: x\nsteps:\n  - advance: {body}\n", "bad.yaml")
    assert words in str(err.value)
