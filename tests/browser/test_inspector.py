"""The inspector in a real browser: time travel to a birthday webhook, a 503 fault rule added through the form
and met in the live journal, a failed delivery redelivered, and every page free of console errors."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from rivosim import Simulator
from tests.browser.conftest import Page, Receiver

DOMAIN = "inspect.myshopify.com"
RULES = [{"trigger": "customer_member_enabled", "points_amount": 100},
         {"trigger": "customer_birthday", "points_amount": 200}]


def make_shop(sim: Simulator, **config: Any) -> Any:
    doc = {"domain": DOMAIN, "plan": "plus", "api": {"new_customer_visibility_delay": 0},
           "program": {"earning_rules": RULES}, **config}
    with sim.lock:
        return sim.create_shop(doc, customers=3)


def subscribe(sim: Simulator, base: str, topic: str, url: str) -> None:
    key = sim.shops[DOMAIN].credentials.rivo_api_key
    reply = requests.post(f"{base}/merchant_api/v1/webhooks", json={"event_type": topic, "url": url},
                          headers={"Authorization": key}, timeout=10)
    assert reply.status_code == 201, reply.text


def wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_advancing_30_days_shows_the_birthday_delivery(page: Page, served: tuple[Simulator, str],
                                                       receiver: Receiver) -> None:
    sim, base = served
    make_shop(sim)
    subscribe(sim, base, "customer/birthday", receiver.url + "/birthday")
    reply = requests.post(f"{base}/_rivosim/shops/{DOMAIN}/customers",
                          json={"email": "birthday@example.com", "first_name": "Bea", "dob": "01-20"}, timeout=10)
    assert reply.status_code == 201
    customer_id = reply.json()["id"]

    p = page.open("/_rivosim/ui/")
    page.shot("shops")
    form = p.locator("section.card").first.locator("form")
    form.locator("input[name=duration]").fill("P30D")
    with p.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "2026-01-31" in p.locator("#sim-now").inner_text()

    p = page.open(f"/_rivosim/ui/webhooks?shop={DOMAIN}")
    delivery = p.locator("details.delivery[data-topic='customer/birthday']")
    assert delivery.count() == 1
    assert "delivered" in delivery.locator("summary").inner_text()
    delivery.locator("summary").click()
    assert "rivo-signature" in delivery.inner_text()  # the signature header is shown
    assert p.locator("svg.timeline circle").count() >= 1
    page.shot("webhooks")
    assert [r["path"] for r in receiver.received] == ["/birthday"]

    p = page.open(f"/_rivosim/ui/shops/{DOMAIN}/customers/{customer_id}")
    assert p.locator("#points-tally").inner_text() == "300"  # joined (100) + birthday (200)
    assert p.locator("svg.balance polyline").count() == 1
    assert p.locator("#ledger li").count() == 2
    page.shot("customer")


def test_a_503_rule_added_through_the_form_shows_in_the_live_journal(page: Page,
                                                                     served: tuple[Simulator, str]) -> None:
    sim, base = served
    shop = make_shop(sim)
    rule = {"id": "outage", "match": {"api": "rivo", "route": "rivo.customers.*"},
            "action": {"type": "error", "status": 503, "retry_after": 2}}

    p = page.open("/_rivosim/ui/faults")
    p.locator("#add-fault textarea").fill(json.dumps(rule))
    with p.expect_navigation():
        p.locator("#add-fault button[type=submit]").click()
    assert p.locator("#faults tr[data-rule='outage']").count() == 1
    assert [r.id for r in sim.faults.list()] == ["outage"]
    page.shot("faults")

    # A rule the API refuses is explained on the page, and nothing is added (the browser logs the 422).
    page.allowed.append("status of 422")
    p.locator("#add-fault textarea").fill('{"match": {"api": "nope"}, "action": {"type": "error", "status": 503}}')
    p.locator("#add-fault button[type=submit]").click()
    p.locator("#flash.error").wait_for()
    assert "422" in p.locator("#flash").inner_text()
    assert len(sim.faults.list()) == 1

    p = page.open("/_rivosim/ui/journal")
    reply = requests.get(f"{base}/merchant_api/v1/customers", headers={"Authorization": shop.credentials.rivo_api_key},
                         timeout=10)
    assert reply.status_code == 503
    row = p.locator("#journal tbody tr", has_text="rivo.customers.list")
    row.first.wait_for()  # arrives by polling, without a reload
    assert "503" in row.first.locator("td.status").inner_text()
    assert "outage" in row.first.locator("td.touched").inner_text()
    page.shot("journal")

    # A near miss: a 404 lists the nearest routes.
    requests.get(f"{base}/merchant_api/v1/customer", headers={"Authorization": shop.credentials.rivo_api_key},
                 timeout=10)
    p.locator("#journal tbody tr.status-4 .nearest").first.wait_for()

    p = page.open("/_rivosim/ui/faults")
    with p.expect_navigation():
        p.locator("#faults tr[data-rule='outage'] button.remove").click()
    assert p.locator("#faults").count() == 0
    assert sim.faults.list() == []


def test_a_failed_delivery_is_redelivered_from_its_button(page: Page, served: tuple[Simulator, str],
                                                          receiver: Receiver) -> None:
    sim, base = served
    make_shop(sim, webhooks={"max_attempts": 2})
    subscribe(sim, base, "customer/joined", receiver.url + "/joined")
    receiver.status = 500
    requests.post(f"{base}/_rivosim/shops/{DOMAIN}/customers", json={"email": "late@example.com"}, timeout=10)
    requests.post(f"{base}/_rivosim/run_until_idle", json={"shop": DOMAIN}, timeout=30)
    failed = [d for d in sim.outbox.list(topic="customer/joined")]
    assert [d.status for d in failed] == ["failed"]

    p = page.open(f"/_rivosim/ui/webhooks?shop={DOMAIN}&status=failed")
    delivery = p.locator(f"details.delivery[data-delivery='{failed[0].id}']")
    assert "the receiver answered HTTP 500" in delivery.locator(".why").inner_text()
    delivery.locator("summary").click()
    page.shot("failed")
    receiver.status = 200
    with p.expect_navigation():
        delivery.locator("button.redeliver").click()
    wait_for(lambda: failed[0].status == "delivered", "the redelivery")
    p = page.open(f"/_rivosim/ui/webhooks?shop={DOMAIN}")
    summary = p.locator(f"details.delivery[data-delivery='{failed[0].id}'] summary").inner_text()
    assert "delivered" in summary and "3 attempt(s)" in summary
    assert len(receiver.received) == 3

    # A sample of the same topic from the form: a second delivery, signed and logged like the first.
    p.locator("#trigger select[name=topic]").select_option("customer/joined")
    p.locator("#trigger input[name=customer]").fill("late@example.com")
    with p.expect_navigation():
        p.locator("#trigger button[type=submit]").click()
    assert p.locator("details.delivery[data-topic='customer/joined']").count() == 2
    assert receiver.received[-1]["headers"]["rivo-webhook-topic"] == "customer/joined"
    assert json.loads(receiver.received[-1]["body"])["customer"]["email"] == "late@example.com"


def test_every_page_renders_without_console_errors(page: Page, served: tuple[Simulator, str]) -> None:
    sim, _ = served
    shop = make_shop(sim, integrations=[{"name": "klaviyo"}])
    customer_id = next(iter(shop.rivo.members))
    paths = ["/_rivosim/ui/", f"/_rivosim/ui/shops/{DOMAIN}", f"/_rivosim/ui/shops/{DOMAIN}?q=example",
             f"/_rivosim/ui/shops/{DOMAIN}/customers/{customer_id}", "/_rivosim/ui/webhooks",
             "/_rivosim/ui/journal?api=control", "/_rivosim/ui/faults", f"/_rivosim/ui/shops/{DOMAIN}/syncs"]
    for path in paths:
        page.open(path)
    # Secrets are masked until clicked.
    p = page.open("/_rivosim/ui/")
    secret = p.locator("code.secret").first
    masked = secret.inner_text()
    assert masked.startswith("••••")
    secret.click()
    assert secret.inner_text() == shop.credentials.rivo_api_key
    # A sync started from its button.
    p = page.open(f"/_rivosim/ui/shops/{DOMAIN}/syncs")
    with p.expect_navigation():
        p.locator("tr[data-family='store'] button").click()
    assert p.locator("tr[data-family='store'] .badge").inner_text() != ""
    page.shot("syncs")
    assert page.errors == []
