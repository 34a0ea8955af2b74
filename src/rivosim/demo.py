"""``rivosim demo``: start a real server, then

1. drive one customer's lifecycle through the public Rivo API and the control API over HTTP (sign-up, delayed
   visibility, paid order, points, tier change, redemption, refund) and print what happened;
2. replay the scenario library (``scenarios/*.yaml``: every workflow use case and troubleshooting case of the
   MESA guide) against the same server over HTTP, with the workflow client receiving real webhook deliveries,
   and print the summary table.

Exit code 0 only when every lifecycle step behaved as expected and every scenario passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from rivosim.engine import Simulator
from rivosim.http.app import create_app
from rivosim.http.control.token import control_headers, env_control_token
from rivosim.transports.server import Server
from rivosim.webhooks.self_target import add_listening_address

__all__ = ["find_library", "run_demo"]


class DemoFailure(AssertionError):
    pass


def find_library(explicit: str | Path | None = None) -> Path | None:
    """The scenario library: ``explicit``, else ``./scenarios``, else the repository's ``scenarios/`` next to
    ``src/`` (an editable install)."""
    candidates = [Path(explicit)] if explicit else [Path.cwd() / "scenarios",
                                                    Path(__file__).resolve().parents[2] / "scenarios"]
    for path in candidates:
        if path.is_dir() and any(path.glob("*.yaml")):
            return path
    return None


def run_demo(sim: Simulator, domain: str, out: Callable[[str], None] = print, *,
             library: str | Path | None = None, lifecycle: bool = True) -> int:
    """Serve ``sim`` (which holds the demo shop ``domain``) and replay the lifecycle and the scenario library
    against it over HTTP; 0 when everything behaved as the docs say."""
    failed = False
    # With RIVOSIM_CONTROL_TOKEN set the demo's server guards its control API too (its clients send the token).
    with Server(create_app(sim, control_token=env_control_token()), tick=sim.tick) as server:
        add_listening_address(sim, server.host, server.port)
        if lifecycle:
            out("== Part 1: one customer's lifecycle over HTTP ==\n")
            try:
                _lifecycle(server.url, domain, out)
                out("\nLifecycle: every step behaved as the Rivo docs describe.")
            except DemoFailure as exc:
                out(f"\nLIFECYCLE FAILED: {exc}")
                failed = True
        failed = not _library(server.url, library, out) or failed
    if sim.bugs:
        out(f"\nDEMO FAILED: simulator bugs: {sim.bugs}")
        return 1
    if failed:
        out("\nDEMO FAILED")
        return 1
    out("\nDemo finished: the lifecycle and every scenario of the library behaved as the Rivo docs describe.")
    return 0


def _library(url: str, library: str | Path | None, out: Callable[[str], None]) -> bool:
    """Part 2: the scenario library against the running server, over HTTP."""
    from rivosim.scenarios.loader import load_paths
    from rivosim.scenarios.report import Progress, format_load_error, print_report

    path = find_library(library)
    out(f"\n== Part 2: the scenario library against {url} ==\n")
    if path is None:
        out("no scenario library found (looked for ./scenarios and the repository's scenarios/): run the demo "
            "from the repository root")
        return False
    scenarios, errors = load_paths([path])
    for error in errors:
        out(format_load_error(error))
    from rivosim.scenarios.runner import run_scenarios

    out(f"{len(scenarios)} scenarios from {path}; the workflow client receives webhooks on a local HTTP endpoint\n")
    progress = Progress(len(scenarios))
    started = time.perf_counter()
    results = run_scenarios(scenarios, against=url, keep_going=True, on_start=progress.start,
                            on_result=progress.result)
    out("")
    print_report(results, mode=f"against {url}", seconds=time.perf_counter() - started, out=out)
    return not errors and bool(results) and all(r.passed for r in results)


def _lifecycle(base: str, domain: str, out: Callable[[str], None]) -> None:
    http = requests.Session()
    control = f"{base}/_rivosim"
    api = f"{base}/merchant_api/v1"

    def call(method: str, url: str, expect: int, **kw: Any) -> Any:
        if url.startswith(control):
            kw["headers"] = {**control_headers(), **kw.get("headers", {})}
        response = http.request(method, url, timeout=10, **kw)
        if response.status_code != expect:
            raise DemoFailure(f"{method} {url} -> {response.status_code} (expected {expect}): {response.text[:300]}")
        return response.json()

    shops = call("GET", f"{control}/shops", 200)["shops"]
    creds = next(s for s in shops if s["domain"] == domain)
    key = creds["rivo_api_key"]
    rivo = {"Authorization": key}
    out(f"rivosim demo against {base} — shop {domain} ({creds['plan']} plan)")
    out(f"  Rivo API key {key[:8]}…  webhook secret {creds['webhook_secret'][:8]}…\n")
    step = _Stepper(out)

    step("A merchant back end calls the API with a 'Bearer ' prefix")
    err = call("GET", f"{api}/customers", 401, headers={"Authorization": f"Bearer {key}"})
    step.note(f"401: {err['error']}")

    step("Avery signs up on the storefront (a Shopify customer)")
    avery = call("POST", f"{control}/shops/{domain}/customers", 201,
                 json={"email": "avery.demo@example.com", "first_name": "Avery", "last_name": "Quinn",
                       "dob": "03-14", "accepts_marketing": True})
    cid = avery["id"]
    step.note(f"Shopify customer {cid}; Rivo sees it at {avery['rivo_visible_at']}")

    step("The Rivo API cannot see Avery yet (Shopify -> Rivo sync takes ~30 s)")
    err = call("GET", f"{api}/customers/{cid}", 404, headers=rivo)
    step.note(f"404: {err['error']}")

    step("Time passes: advance the clock 31 seconds")
    clock = call("POST", f"{control}/clock/advance", 200, json={"duration": "PT31S"})
    customer = call("GET", f"{api}/customers/avery.demo%40example.com", 200, headers=rivo)["data"]["attributes"]
    step.note(f"now {clock['now']}: {customer['points_tally']} points (sign-up bonus), "
              f"tier {customer['vip_tier']['name']}")
    _expect(customer["points_tally"] == 100, "the sign-up rule grants 100 points")

    step("Avery places a paid order of $640")
    order = call("POST", f"{control}/shops/{domain}/orders", 201,
                 json={"customer_id": cid, "paid": True,
                       "line_items": [{"title": "Weekender Bag", "price": "320.00", "quantity": 2,
                                       "product_id": 9001}]})
    customer = call("GET", f"{api}/customers/{cid}", 200, headers=rivo)["data"]["attributes"]
    step.note(f"order {order['name']} paid: {customer['points_tally']} points, tier {customer['vip_tier']['name']}")
    _expect(customer["points_tally"] == 740 and customer["vip_tier"]["name"] == "Silver",
            "1 point per $1 -> 740 points, Silver")

    step("A MESA workflow grants 600 bonus points (Grant Points action)")
    event = call("POST", f"{api}/points_events", 201, headers=rivo,
                 json={"customer_identifier": str(cid), "source": "manual", "points_amount": 600,
                       "credits_amount": 0, "external_note": "Welcome to Silver"})["data"]["attributes"]
    customer = call("GET", f"{api}/customers/{cid}", 200, headers=rivo)["data"]["attributes"]
    step.note(f"points_event {event['id']} points_diff +{event['points_diff']}: {customer['points_tally']} points, "
              f"tier {customer['vip_tier']['name']}")
    _expect(customer["vip_tier"]["name"] == "Gold", "1,340 lifetime points -> Gold")

    step("Avery redeems the $10 off coupon")
    rewards = call("GET", f"{api}/rewards", 200, headers=rivo)["data"]
    ten = next(r for r in rewards if r["attributes"]["name"] == "$10 off coupon")
    redemption = call("POST", f"{api}/points_redemptions", 201, headers=rivo,
                      json={"customer_identifier": str(cid), "reward_id": ten["id"]})["data"]["attributes"]
    step.note(f"code {redemption['code']} for {redemption['points_amount']} points; "
              f"balance {redemption['customer']['points_tally']}")

    step("Redeeming it again with too few points is refused, and nothing changes")
    err = call("POST", f"{api}/points_redemptions", 422, headers=rivo,
               json={"customer_identifier": str(cid), "reward_id": ten["id"]})
    step.note(f"422: {err['error']}")

    step("The order is refunded: the points it earned are taken back")
    call("POST", f"{control}/shops/{domain}/orders/{order['id']}/refund", 200, json={})
    customer = call("GET", f"{api}/customers/{cid}", 200, headers=rivo)["data"]["attributes"]
    step.note(f"{customer['points_tally']} points (may go below zero: the points were already spent), "
              f"tier {customer['vip_tier']['name']}")

    step("Avery's points history (Get Customer Points History)")
    history = call("GET", f"{api}/points_events", 200, headers=rivo,
                   params={"filters[customer_identifier]": str(cid), "sort[order_type]": "id"})["data"]
    for item in history:
        a = item["attributes"]
        step.note(f"{a['points_diff']:+6d}  {a['source']:<24} {a['title']}")
    total = sum(item["attributes"]["points_diff"] for item in history)
    _expect(total == customer["points_tally"], "the balance is the sum of the ledger")

    journal = call("GET", f"{control}/journal", 200)["entries"]
    step("What the server saw (request journal)")
    step.note(f"{len(journal)} requests; statuses: "
              + ", ".join(f"{s} x{sum(1 for e in journal if e['status'] == s)}"
                          for s in sorted({e['status'] for e in journal})))


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailure(what)


class _Stepper:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.n = 0

    def __call__(self, title: str) -> None:
        self.n += 1
        self.out(f"{self.n:2d}. {title}")

    def note(self, text: str) -> None:
        self.out(f"      {text}")
