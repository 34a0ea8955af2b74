"""The pytest plugin's own behaviour, through ``pytester``: fixtures, seeds, the marker, the teardown checks
and their failure messages, webhook and journal helpers, server mode and pytest-xdist."""

from __future__ import annotations

import re

import pytest
import requests  # noqa: F401 - imported here, not first inside a pytester run (see below)

from rivosim.pytest_plugin import node_domain, node_seed

# pytester's in-process runs drop the modules first imported inside them, so each run would import requests (and
# http.cookiejar) afresh; with this file run alone, a later run's requests then refused a CookieJar of another copy
# ("You can only merge into CookieJar"). Importing requests in this process first keeps one copy for every run.

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_it=source)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


# -- fixtures ------------------------------------------------------------------------------------------------------
def test_fixtures_give_a_fresh_simulator_and_shop_credentials(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        from rivosim import Simulator
        from rivosim.pytest_plugin import node_domain

        def test_one(rivosim, rivosim_shop, request):
            assert isinstance(rivosim, Simulator)
            assert rivosim.clock.kind == "virtual" and rivosim.now().isoformat() == "2026-01-01T00:00:00+00:00"
            assert list(rivosim.shops) == [rivosim_shop.domain] == [node_domain(request.node.nodeid)]
            assert set(rivosim_shop) == {"domain", "rivo_api_key", "webhook_secret", "shopify_access_token",
                                         "shopify_api_key", "shopify_api_secret"}
            assert rivosim_shop["rivo_api_key"] == rivosim_shop.rivo_api_key
            assert dict(rivosim_shop)["webhook_secret"] == rivosim_shop.webhook_secret
            r = rivosim.client.get("/merchant_api/v1/customers", headers=rivosim_shop.rivo_headers)
            assert r.status_code == 200 and r.json["data"] == []
            rivosim.advance("P1D")
            assert rivosim.now().isoformat() == "2026-01-02T00:00:00+00:00"
            rivosim.journal.assert_called("rivo.customers.list", times=1)

        def test_two(rivosim, rivosim_shop):
            assert len(rivosim.shops) == 1 and len(rivosim.journal) == 0
    """)
    result.assert_outcomes(passed=2)


def test_credentials_follow_a_regenerated_key(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        def test_it(rivosim, rivosim_shop):
            old = rivosim_shop.rivo_api_key
            rivosim.client.post(f"/_rivosim/shops/{rivosim_shop.domain}/api_key/regenerate")
            assert rivosim_shop.rivo_api_key != old
            assert rivosim.client.get("/merchant_api/v1/shop", headers=rivosim_shop.rivo_headers).status_code == 200
    """)
    result.assert_outcomes(passed=1)


def test_rivosim_config_is_the_document_and_the_marker_patches_it(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest

        @pytest.fixture
        def rivosim_config():
            return {"plan": "plus", "timezone": "Europe/Paris", "api": {"allow_negative_balance": True}}

        def test_override(rivosim, rivosim_shop):
            shop = rivosim.shop(rivosim_shop.domain)
            assert shop.plan == "plus" and shop.config["timezone"] == "Europe/Paris"

        @pytest.mark.rivosim(config={"plan": "scale", "api": {"accept_bearer": True}})
        def test_marker(rivosim, rivosim_shop):
            cfg = rivosim.shop(rivosim_shop.domain).config
            assert rivosim.shop(rivosim_shop.domain).plan == "scale"
            assert cfg["api"]["allow_negative_balance"] is True and cfg["api"]["accept_bearer"] is True

        @pytest.mark.rivosim(config={"customers": 3})
        def test_seeded(rivosim, rivosim_shop):
            assert len(rivosim.shop(rivosim_shop.domain).rivo.members) == 3
    """)
    result.assert_outcomes(passed=3)


def test_a_refused_configuration_names_the_field(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest

        @pytest.mark.rivosim(config={"plan": "platinum"})
        def test_it(rivosim_shop):
            pass
    """)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the shop configuration was refused: plan: 'platinum' is not one of*"])


# -- seeds -----------------------------------------------------------------------------------------------------------
def test_seed_is_derived_from_the_node_id_and_printed_on_failure(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        def test_fails(rivosim):
            assert rivosim.seed < 0
    """)
    result.assert_outcomes(failed=1)
    seed = node_seed("test_it.py::test_fails")
    result.stdout.fnmatch_lines([
        "*- rivosim -*",
        f"rivosim: seed {seed}",
        f"replay: pytest 'test_it.py::test_fails' --rivosim-seed={seed}",
    ])


def test_seed_from_the_command_line_and_from_the_marker(pytester: pytest.Pytester) -> None:
    source = """
        import pytest

        def test_cli(rivosim):
            assert rivosim.seed == 1234

        @pytest.mark.rivosim(seed=7)
        def test_marker(rivosim):
            assert rivosim.seed == 7
    """
    run(pytester, source, "--rivosim-seed=1234").assert_outcomes(passed=2)


def test_same_seed_same_ids(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest
        IDS = []

        @pytest.mark.parametrize("n", [1, 2])
        @pytest.mark.rivosim(seed=99, config={"domain": "same.myshopify.com"})
        def test_ids(rivosim, rivosim_shop, n):
            r = rivosim.client.post(f"/_rivosim/shops/{rivosim_shop.domain}/customers",
                                    json={"email": "a@example.com"})
            IDS.append((r.json["id"], rivosim_shop.rivo_api_key))
            if n == 2:
                assert IDS[0] == IDS[1]
    """)
    result.assert_outcomes(passed=2)


# -- teardown checks -------------------------------------------------------------------------------------------------
BUGGY = """
    import pytest
    from rivosim.domain.rivo.backend import RivoBackend

    @pytest.fixture
    def broken_rewards(monkeypatch):
        def boom(self):
            raise KeyError("reward 42 vanished")
        monkeypatch.setattr(RivoBackend, "list_rewards", boom)
"""


def test_a_simulator_bug_fails_the_test_with_the_server_side_traceback(pytester: pytest.Pytester) -> None:
    result = run(pytester, BUGGY + """
    def test_it(rivosim, rivosim_shop, broken_rewards):
        r = rivosim.client.get("/merchant_api/v1/rewards", headers=rivosim_shop.rivo_headers)
        assert r.status_code == 500   # the client under test may well survive a 500...
    """)
    result.assert_outcomes(failed=1)  # ...but the simulator failed, so the test does
    result.stdout.fnmatch_lines([
        "*rivosim: simulator bug during this test (rivosim)*the simulator, not your client, is at fault*",
        "*GET /merchant_api/v1/rewards: KeyError: 'reward 42 vanished'",
        "*Traceback (most recent call last):",
        "*in boom",
        "*raise KeyError(\"reward 42 vanished\")",
        "*rivosim: seed *",
    ])


def test_a_bug_in_an_already_failing_test_is_added_to_its_report(pytester: pytest.Pytester) -> None:
    result = run(pytester, BUGGY + """
    def test_it(rivosim, rivosim_shop, broken_rewards):
        r = rivosim.client.get("/merchant_api/v1/rewards", headers=rivosim_shop.rivo_headers)
        assert r.status_code == 200
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 500 == 200*", "*- Captured rivosim call -*",
                                 "*KeyError: 'reward 42 vanished'"])


def test_unmatched_requests_fail_with_the_nearest_routes(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        def test_it(rivosim, rivosim_shop):
            rivosim.client.get("/merchant_api/v1/vip-tiers", headers=rivosim_shop.rivo_headers)
            rivosim.client.delete("/merchant_api/v1/customers", headers=rivosim_shop.rivo_headers)
            rivosim.client.get("/_rivosim/nothing-here")   # the control API is the test's own business
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*rivosim: 2 request(s) matched no route (rivosim):",
        "*GET /merchant_api/v1/vip-tiers -> 404: no route for GET /merchant_api/v1/vip-tiers; nearest: "
        "GET /merchant_api/v1/vip_tiers*(Rivo paths use snake_case, e.g. /vip_tiers)",
        "*DELETE /merchant_api/v1/customers -> 405: no route for DELETE /merchant_api/v1/customers; "
        "this path accepts GET",
        "*allow_unmatched=True*--rivosim-allow-unmatched*rivosim_fail_on_unmatched = false*",
    ])


UNMATCHED = """
    import pytest

    def test_it(rivosim, rivosim_shop):
        assert rivosim.client.get("/merchant_api/v1/nope", headers=rivosim_shop.rivo_headers).status_code == 404
"""


@pytest.mark.parametrize("how", ["marker", "cli", "ini"])
def test_the_unmatched_check_can_be_turned_off(pytester: pytest.Pytester, how: str) -> None:
    source, args = UNMATCHED, []
    if how == "marker":
        source = source.replace("def test_it", "@pytest.mark.rivosim(allow_unmatched=True)\n    def test_it")
    elif how == "cli":
        args = ["--rivosim-allow-unmatched"]
    else:
        pytester.makeini("[pytest]\nrivosim_fail_on_unmatched = false\n")
    run(pytester, source, *args).assert_outcomes(passed=1)


def test_tests_that_do_not_use_the_fixtures_are_left_alone(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        from rivosim import Simulator, create_app

        def test_it():
            sim = Simulator()
            create_app(sim).test_client().get("/merchant_api/v1/vip-tiers")
    """)
    result.assert_outcomes(passed=1)


# -- the marker ----------------------------------------------------------------------------------------------------
def test_marker_faults_are_scoped_to_the_tests_shop(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest

        RULES = [{"id": "slow", "match": {"route": "rivo.customers.*"}, "action": {"type": "latency", "ms": 50}},
                 {"match": {"shop": "other.myshopify.com"}, "action": {"type": "error", "status": 503}}]

        @pytest.mark.rivosim(faults=RULES)
        def test_scoped(rivosim, rivosim_shop):
            rules = {r.id: r for r in rivosim.faults.rules}
            assert rules["slow"].match == {"shop": rivosim_shop.domain, "route": "rivo.customers.*"}
            assert [r.match["shop"] for r in rivosim.faults.rules] == [rivosim_shop.domain, "other.myshopify.com"]

        @pytest.mark.rivosim(faults=RULES[:1])
        def test_without_a_shop(rivosim):
            assert rivosim.faults.rules[0].match == {"route": "rivo.customers.*"}
    """)
    result.assert_outcomes(passed=2)


def test_marker_mistakes_are_explained(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest

        @pytest.mark.rivosim(seeds=1)
        def test_unknown(rivosim):
            pass

        @pytest.mark.rivosim(faults=[{"action": {"type": "explode"}}])
        def test_bad_fault(rivosim, rivosim_shop):
            pass

        @pytest.mark.rivosim(seed="x")
        def test_bad_seed(rivosim):
            pass
    """)
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines_random([
        "*@pytest.mark.rivosim: unknown argument 'seeds'; accepted: seed, config, faults, scenario, allow_unmatched, "
        "passthrough",
        "@pytest.mark.rivosim(faults=...): faults[[]0].action.type: must be one of latency, error*",
        "*@pytest.mark.rivosim(seed=...) must be an integer",
    ])


def test_the_closest_marker_wins_and_configs_merge(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest

        pytestmark = pytest.mark.rivosim(seed=1, config={"plan": "plus", "timezone": "Asia/Tokyo"})

        @pytest.mark.rivosim(seed=2, config={"plan": "scale"})
        def test_it(rivosim, rivosim_shop):
            shop = rivosim.shop(rivosim_shop.domain)
            assert rivosim.seed == 2 and shop.plan == "scale" and shop.config["timezone"] == "Asia/Tokyo"
    """)
    result.assert_outcomes(passed=1)


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.rivosim(seed=None, config=None, faults=None, scenario=None, *"])


# -- webhook helpers ---------------------------------------------------------------------------------------------
WEBHOOKS = """
    import pytest
    from rivosim.webhooks.senders import AttemptResult

    class Receiver:
        def __init__(self):
            self.status, self.got = 200, []
        def send(self, request, done):
            self.got.append(request)
            done(AttemptResult(self.status, None, 1.0))
        def close(self):
            pass

    @pytest.fixture
    def receiver(rivosim):
        r = Receiver()
        rivosim.use_sender(r)
        return r

    @pytest.fixture
    def member(rivosim, rivosim_shop):
        api = rivosim.client
        api.post("/merchant_api/v1/webhooks", headers=rivosim_shop.rivo_headers,
                 json={"event_type": "points_event/created", "url": "https://hooks.example.test/points"})
        r = api.post(f"/_rivosim/shops/{rivosim_shop.domain}/customers",
                     json={"email": "ann@example.com", "visibility_delay": 0})
        return r.json["id"]
"""


def test_assert_delivered_and_assert_fired(pytester: pytest.Pytester) -> None:
    result = run(pytester, WEBHOOKS + """
    def test_delivered(rivosim, rivosim_shop, receiver, member):
        rivosim.webhooks.assert_fired("customer/joined", times=1, customer_id=member)
        rivosim.run_until_idle()
        [d] = rivosim.webhooks.assert_delivered("points_event/created", times=1,
                                                payload={"source": "customer_member_enabled", "points_diff": 100})
        assert d.url == "https://hooks.example.test/points" and len(receiver.got) == 1
        assert rivosim.webhooks.bodies("points_event/created")[0]["customer"]["id"] == member
        rivosim.webhooks.assert_delivered("points_event/created", to="https://hooks.example.test/points")
    """)
    result.assert_outcomes(passed=1)


def test_assert_delivered_explains_what_happened(pytester: pytest.Pytester) -> None:
    result = run(pytester, WEBHOOKS + """
    def test_pending(rivosim, rivosim_shop, receiver, member):
        rivosim.webhooks.assert_delivered("points_event/created")

    def test_not_subscribed(rivosim, rivosim_shop, receiver, member):
        rivosim.webhooks.assert_delivered("customer/joined")

    def test_never_fired(rivosim, rivosim_shop, receiver, member):
        rivosim.webhooks.assert_delivered("referral/completed")

    def test_failing_receiver(rivosim, rivosim_shop, receiver, member):
        receiver.status = 500
        rivosim.run_until_idle()
        rivosim.webhooks.assert_delivered("points_event/created")

    def test_wrong_count(rivosim, rivosim_shop, receiver, member):
        rivosim.webhooks.assert_fired("customer/joined", times=2)
    """)
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines_random([
        "*expected points_event/created to be delivered at least once, found 0",
        "*msg_* -> https://hooks.example.test/points: pending after 0 attempt(s) (no attempt yet)",
        "*the virtual clock has not sent them yet: call rivosim.run_until_idle() or rivosim.advance(...) first",
        "*customer/joined fired 1 time(s) but nothing was queued: no enabled subscription for it*",
        "*referral/completed never fired; topics fired, in order: customer/joined, points_event/created",
        "*msg_* -> https://hooks.example.test/points: failed after 9 attempt(s) (last attempt: 500)",
        "*expected customer/joined to fire 2 time(s), found 1; topics fired, in order: "
        "customer/joined, points_event/created",
    ])


# -- server mode -----------------------------------------------------------------------------------------------------
SERVER = """
    import requests, pytest
    SEEN = {}

    def make(rivosim_server, name):
        r = requests.post(rivosim_server.shop_url + "/customers", json={"email": "ann@example.com",
                                                                       "visibility_delay": 0}, timeout=5)
        assert r.status_code == 201, r.text
        SEEN[name] = (rivosim_server.url, rivosim_server.domain, r.json()["id"])
        return r.json()["id"]

    def test_a(rivosim_server):
        cid = make(rivosim_server, "a")
        r = requests.get(f"{rivosim_server.rivo_url}/customers/{cid}", headers=rivosim_server.shop.rivo_headers,
                         timeout=5)
        assert r.status_code == 200 and r.json()["data"]["attributes"]["points_tally"] == 100
        rivosim_server.journal.assert_called("rivo.customers.get", times=1, status=200)
        assert rivosim_server.sim.clock.kind == "wall"

    def test_b(rivosim_server):
        make(rivosim_server, "b")
        assert rivosim_server.url == SEEN["a"][0]                  # the same server, not restarted
        assert SEEN["a"][1] not in rivosim_server.sim.shops          # a's shop is gone
        rivosim_server.journal.assert_called("rivo.customers.get", times=0)   # a's calls are not b's
"""


def test_server_mode_one_server_a_fresh_shop_per_test(pytester: pytest.Pytester) -> None:
    run(pytester, SERVER).assert_outcomes(passed=2)


def test_server_mode_ids_do_not_depend_on_what_ran_before(pytester: pytest.Pytester) -> None:
    source = SERVER + """
    def test_report():
        print("IDS", SEEN)
    """
    alone = run(pytester, source, "-s", "-k", "test_b or test_report")
    both = run(pytester, source, "-s")
    ids = [re.search(r"IDS (.*)", r.stdout.str()).group(1) for r in (alone, both)]  # type: ignore[union-attr]
    b_alone = eval(ids[0])["b"][1:]
    b_after_a = eval(ids[1])["b"][1:]
    assert b_alone == b_after_a
    assert b_alone[0] == node_domain("test_it.py::test_b")


def test_server_mode_failures_name_the_shop_and_surface_bugs(pytester: pytest.Pytester) -> None:
    result = run(pytester, BUGGY + """
    import requests

    def test_it(rivosim_server, broken_rewards):
        requests.get(rivosim_server.rivo_url + "/rewards", headers=rivosim_server.shop.rivo_headers, timeout=5)
        requests.get(rivosim_server.rivo_url + "/reward", headers=rivosim_server.shop.rivo_headers, timeout=5)
    """)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*rivosim: simulator bug during this test (rivosim_server)*",
        "*GET /merchant_api/v1/rewards: KeyError: 'reward 42 vanished'",
        "*rivosim: 1 request(s) matched no route (rivosim_server):",
        "*GET /merchant_api/v1/reward -> 404: no route for GET /merchant_api/v1/reward; nearest: "
        "GET /merchant_api/v1/rewards*",
        "rivosim_server: seed 0 — shop test-it-*.myshopify.com on http://127.0.0.1:*",
    ])


def test_server_mode_webhooks_reach_a_real_receiver(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import json, threading, requests
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from rivosim.webhooks import verify

        def test_it(rivosim_server):
            got = []

            class Handler(BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    got.append((body, dict(self.headers)))
                    self.send_response(204)
                    self.end_headers()

                def log_message(self, *args):
                    pass

            receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=receiver.serve_forever, daemon=True).start()
            try:
                url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
                h = rivosim_server.shop.rivo_headers
                assert requests.post(rivosim_server.rivo_url + "/webhooks", headers=h, timeout=5,
                                     json={"event_type": "customer/joined", "url": url}).status_code == 201
                requests.post(rivosim_server.shop_url + "/customers", json={"email": "z@example.com"}, timeout=5)
                [d] = rivosim_server.webhooks.assert_delivered("customer/joined", times=1, timeout=10)
                body, headers = got[0]
                assert verify(body, headers, rivosim_server.shop.webhook_secret)
                assert headers["rivo-webhook-id"] == d.id
            finally:
                receiver.shutdown()
                receiver.server_close()
    """)
    result.assert_outcomes(passed=1)


def test_server_mode_refuses_a_per_test_seed(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest

        @pytest.mark.rivosim(seed=3)
        def test_it(rivosim_server):
            pass
    """)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot apply to rivosim_server: its simulator is the session's*"])


# Two xdist workers each start Python, the plugin and a server: minutes on a loaded 2-core host, not seconds.
@pytest.mark.timeout(360)
def test_works_with_xdist(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_it="""
        import os, requests, pytest

        @pytest.mark.parametrize("n", range(6))
        def test_server(rivosim_server, n):
            r = requests.get(rivosim_server.rivo_url + "/customers", headers=rivosim_server.shop.rivo_headers,
                             timeout=5)
            assert r.status_code == 200
            print("WORKER", os.environ.get("PYTEST_XDIST_WORKER"), rivosim_server.url)

        @pytest.mark.parametrize("n", range(6))
        def test_sim(rivosim, rivosim_shop, n):
            assert len(rivosim.shops) == 1
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-rA", "-s")
    result.assert_outcomes(passed=12)


# -- scenarios and in-process mode -----------------------------------------------------------------------------
SCENARIO = """\
name: tiny
seed: 3
shop: {plan: plus}
customers:
  rae: {email: rae@example.com, first_name: Rae}
steps:
  - expect:
      customers:
        rae: {points: POINTS}
"""


def test_marker_scenario_runs_in_the_tests_simulator(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", tiny=SCENARIO.replace("POINTS", "100"), broken=SCENARIO.replace("POINTS", "7"))
    result = run(pytester, """
        import pytest

        @pytest.mark.rivosim(scenario="tiny.yaml")
        def test_passes(rivosim, rivosim_shop):
            assert rivosim.scenario_result.passed
            assert len(rivosim.shops) == 2   # the scenario's shop, and this test's own

        @pytest.mark.rivosim(scenario="broken.yaml")
        def test_fails(rivosim):
            pass

        @pytest.mark.rivosim(scenario="missing.yaml")
        def test_missing(rivosim):
            pass
    """)
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines_random([
        "rivosim scenario *broken.yaml failed:",
        "*(scenario='missing.yaml'): no such file (looked beside the test and in the rootdir)",
    ])


def test_rivosim_mock_routes_requests_into_the_simulator(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
        import pytest, requests

        def test_it(rivosim, rivosim_shop, rivosim_mock):
            r = requests.post(f"{rivosim_mock.rivo_url}/points_events", headers=rivosim_shop.rivo_headers,
                              json={"customer_identifier": "nobody@example.com", "source": "manual",
                                    "points_amount": 5, "credits_amount": 0}, timeout=5)
            assert r.status_code == 404
            rivosim.journal.assert_called("rivo.points_events.create", times=1, status=404)

        @pytest.mark.rivosim(faults=[{"match": {"route": "rivo.customers.list"}, "action": {"type": "timeout"}}])
        def test_faults_reach_requests(rivosim, rivosim_shop, rivosim_mock):
            with pytest.raises(requests.ReadTimeout):
                requests.get(f"{rivosim_mock.rivo_url}/customers", headers=rivosim_shop.rivo_headers, timeout=2)
    """)
    result.assert_outcomes(passed=2)
