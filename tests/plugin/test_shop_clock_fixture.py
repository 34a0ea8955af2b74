"""``rivosim_shop`` has a clock of its own (issue 15): in-process ``rivosim_shop.advance`` moves that shop alone,
and with ``--rivosim-url`` every test on every xdist worker gets its own shop on one shared server, advancing
only its own time."""

from __future__ import annotations

import pytest
import requests  # noqa: F401 - imported before any pytester run (see tests/plugin/test_plugin.py)

from rivosim import Simulator, create_app
from rivosim.kernel.clock import parse_instant
from rivosim.transports.server import Server

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

START = "2026-01-01T00:00:00Z"


def test_in_process_the_shop_advances_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it="""
        from datetime import timedelta

        def test_own_clock(rivosim, rivosim_shop):
            other = rivosim.create_shop({"domain": "other.myshopify.com"})
            before, sim_before = other.clock.now(), rivosim.now()
            start = rivosim_shop.now()
            assert rivosim_shop.advance("P1Y") - start >= timedelta(days=365)
            assert rivosim.shop(rivosim_shop.domain).clock.now() == rivosim_shop.now()
            assert other.clock.now() == before and rivosim.now() == sim_before
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


# Two xdist workers each start Python and the plugin: minutes on a loaded 2-core host, not seconds.
@pytest.mark.timeout(360)
def test_parallel_workers_on_one_server_move_only_their_own_shop(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    sim = Simulator(seed=5)
    witness = sim.create_shop({"domain": "witness.myshopify.com", "clock": {"start": START}})
    pytester.makeconftest(f"""
        import pytest

        @pytest.fixture
        def rivosim_config():
            return {{"clock": {{"start": "{START}"}}}}
    """)
    pytester.makepyfile(test_it=f"""
        import requests
        from datetime import timedelta
        import pytest
        from rivosim.kernel.clock import parse_instant

        START = parse_instant("{START}")

        @pytest.mark.parametrize("n", range(6))
        def test_a_year_of_my_own(rivosim_shop, n):
            assert rivosim_shop.now() == START
            assert rivosim_shop.advance("P1Y") == START + timedelta(days=365)
            url = rivosim_shop.url + "/_rivosim/shops/"
            for shop in requests.get(url[:-1], timeout=30).json()["shops"]:
                if shop["domain"] != rivosim_shop.domain:
                    answer = requests.get(url + shop["domain"] + "/clock", timeout=30)
                    if answer.status_code == 404:
                        continue  # the other worker's test ended and removed its shop since the listing
                    now = parse_instant(answer.json()["now"])
                    assert now in (START, START + timedelta(days=365)), (shop["domain"], now)
            r = requests.get(rivosim_shop.rivo_url + "/customers", headers=rivosim_shop.rivo_headers, timeout=30)
            assert r.status_code == 200
    """)
    with Server(create_app(sim), tick=sim.tick) as server:
        clock_before = sim.now()
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--rivosim-url", server.url)
        result.assert_outcomes(passed=6)
    assert witness.clock.now() == parse_instant(START)  # another "test"'s shop never moved
    assert sim.now() == clock_before  # nor the server's own clock
    assert not any(d.startswith("test-a-year-of-my-own") for d in sim.shops)  # each test's shop was removed
    assert not sim.bugs
