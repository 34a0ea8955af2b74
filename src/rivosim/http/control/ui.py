"""The inspector, ``/_rivosim/ui/``: server-rendered pages (Jinja2) over the simulator's state — shops and their
clock, customers and one customer's ledger, webhook subscriptions and the delivery log, the live journal, fault
rules and rate limits, syncs. It lives under ``/_rivosim`` so whatever guards the control API guards it too.

Every page renders data the control API answers (the same ``*_data`` builders or the same domain calls as its
JSON routes), and every button calls a public control route with ``fetch`` (``static/rivosim_ui/ui.js``): the
inspector can do nothing a client of the control API cannot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import render_template, request, send_from_directory
from werkzeug.wrappers import Response

from rivosim.domain.syncs import FAMILIES
from rivosim.http.control import inspect, trigger
from rivosim.http.control.inspect import customer_history_data, customers_data, rate_limits_data, subscriptions_data
from rivosim.http.control.ui_charts import balance_chart, deliveries_timeline
from rivosim.http.errors import status_for
from rivosim.http.params import path_id, whole_number
from rivosim.http.routing import ApiBlueprint, Routes, current_shop, current_sim
from rivosim.kernel.errors import SimError, ValidationFailed
from rivosim.webhooks.samples import RIVO_TOPICS, SHOPIFY_TOPICS

__all__ = ["BLUEPRINTS", "blueprint"]

HERE = Path(__file__).parent
STATIC = HERE / "static" / "rivosim_ui"

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control_ui", __name__, api="control", url_prefix="/_rivosim/ui", routes=(routes,),
                         template_folder="templates")

DELIVERY_STATUSES = ("pending", "in_flight", "delivered", "failed")
JOURNAL_ROWS = 100


def _page(template: str, **context: Any) -> Response:
    sim = current_sim()
    body = render_template(f"rivosim_ui/{template}", sim_now=sim.now().isoformat(), clock_kind=sim.clock.kind,
                           shops=sorted(sim.shops), **context)
    return Response(body, mimetype="text/html")


@blueprint.errorhandler(SimError)
def _refused(exc: SimError) -> Response:
    """A page asked for something that does not exist (a shop, a customer): an HTML page saying why."""
    response = _page("error.html", code=exc.code, message=exc.message)
    response.status_code = status_for(exc)
    return response


@route("/static/<path:filename>", "GET", "control.ui.static")
def static(filename: str) -> Response:
    return send_from_directory(STATIC, filename, max_age=300)


def _clock() -> dict[str, Any]:
    sim = current_sim()
    due = sim.clock.next_due()
    return {"now": sim.now().isoformat(), "kind": sim.clock.kind, "next_due": due.isoformat() if due else None,
            "pending": len(sim.clock.pending())}


def _masked(secret: str) -> str:
    return "•" * 8 + secret[-4:]


# -- shops ----------------------------------------------------------------------------------------------------
@route("/", "GET", "control.ui.index")
def index() -> Response:
    sim = current_sim()
    shops = []
    for shop in sim.shops.values():
        credentials = shop.credentials_dict()
        secrets = [(name, value, _masked(value)) for name, value in credentials.items()
                   if name not in ("domain", "plan")]
        shops.append({"domain": shop.domain, "plan": shop.plan, "name": shop.config.get("name"),
                      "customers": len(shop.shopify.customers), "members": len(shop.rivo.members),
                      "secrets": secrets,
                      "pending": len(shop.clock.pending()), "now": shop.clock.now().isoformat()})
    return _page("index.html", shop_rows=shops, clock=_clock(), seed=sim.seed)


@route("/shops/<domain>", "GET", "control.ui.shop")
def shop_page(domain: str) -> Response:
    sim = current_sim()
    shop = current_shop(domain)
    limit = whole_number(request.args.get("limit", "50")) or 50
    found = customers_data(shop, request.args.get("q"), min(limit, 1000))
    return _page("shop.html", shop=shop, domain=domain, found=found, config=shop.public_config(),
                 limits=rate_limits_data(sim, shop), subscriptions=subscriptions_data(shop))


@route("/shops/<domain>/customers/<customer_id>", "GET", "control.ui.customer")
def customer_page(domain: str, customer_id: str) -> Response:
    shop = current_shop(domain)
    number = path_id(customer_id, "customer id", "control")
    history = customer_history_data(current_sim(), shop, number)
    return _page("customer.html", domain=domain, history=history, chart=balance_chart(history["balance"]))


@route("/shops/<domain>/syncs", "GET", "control.ui.syncs")
def syncs_page(domain: str) -> Response:
    shop = current_shop(domain)
    integrations = [shop.integrations.describe(item["name"], limit=10) for item in shop.integrations.overview()]
    return _page("syncs.html", domain=domain, syncs=shop.syncs.status(), families=FAMILIES,
                 integrations=integrations)


# -- webhooks -------------------------------------------------------------------------------------------------
@route("/webhooks", "GET", "control.ui.webhooks")
def webhooks_page() -> Response:
    """The delivery log (``?shop=&status=&topic=``, as ``GET /_rivosim/webhooks/deliveries``), the newest first,
    and with ``shop`` that shop's subscriptions."""
    sim = current_sim()
    args = request.args
    shop_domain = args.get("shop") or None
    status = args.get("status") or None
    topic = args.get("topic") or None
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(DELIVERY_STATUSES)}", field="status")
    subscriptions = subscriptions_data(current_shop(shop_domain)) if shop_domain else None
    deliveries = [d.to_dict() for d in sim.outbox.list(shop=shop_domain, status=status, topic=topic)]
    return _page("webhooks.html", deliveries=list(reversed(deliveries))[:200], total=len(deliveries),
                 timeline=deliveries_timeline(deliveries), subscriptions=subscriptions, shop_filter=shop_domain,
                 status_filter=status, topic_filter=topic, statuses=DELIVERY_STATUSES, why_failed=why_failed,
                 rivo_topics=RIVO_TOPICS, shopify_topics=SHOPIFY_TOPICS)


def why_failed(delivery: dict[str, Any]) -> str | None:
    """The last attempt's failure in words (the receiver's status, or what the connection did)."""
    attempts = delivery["attempts"]
    if not attempts:
        return None
    last = attempts[-1]
    status = last["status_code"]
    if status is not None and 200 <= status < 300:
        return None
    reason = f"the receiver answered HTTP {status}" if status is not None else "no HTTP response"
    if last.get("error"):
        reason += f" ({last['error']})"
    if delivery["status"] == "failed":
        reason += f"; gave up after {len(attempts)} of {delivery['max_attempts']} attempts"
    elif delivery.get("next_attempt_at"):
        reason += f"; next attempt at {delivery['next_attempt_at']}"
    return reason


# -- journal --------------------------------------------------------------------------------------------------
@route("/journal", "GET", "control.ui.journal")
def journal_page() -> Response:
    """The newest entries, then live: ``ui.js`` polls ``GET /_rivosim/journal?since=<last seq>`` with the
    filters of the form (shop, api, route, status)."""
    sim = current_sim()
    args = request.args
    filters = {name: args.get(name, "") for name in ("shop", "api", "route", "status")}
    status = whole_number(filters["status"]) if filters["status"] else None
    if filters["status"] and status is None:
        raise ValidationFailed("status must be a whole number", field="status")
    if filters["api"] and filters["api"] not in ("rivo", "shopify", "control", "unmatched"):
        raise ValidationFailed("api must be rivo, shopify, control or unmatched", field="api")
    entries = sim.journal.calls(filters["route"] or None, shop=filters["shop"] or None, status=status,
                                api=filters["api"] or None)
    hide_control = args.get("control", "hide") == "hide" and filters["api"] != "control"
    rows = [e.to_dict() for e in entries if not (hide_control and e.api == "control")][-JOURNAL_ROWS:]
    last_seq = sim.journal.dropped + len(sim.journal)  # the newest seq so far (this page's own comes next)
    return _page("journal.html", entries=rows, filters=filters, hide_control=hide_control,
                 last_seq=max([last_seq, *(r["seq"] for r in rows)]))


# -- faults and rate limits -----------------------------------------------------------------------------------
EXAMPLE_RULE = ('{"match": {"api": "rivo", "route": "rivo.points_events.*", "method": "POST"},\n'
                ' "action": {"type": "error", "status": 503, "retry_after": 2},\n "times": 5}')


@route("/faults", "GET", "control.ui.faults")
def faults_page() -> Response:
    sim = current_sim()
    limits = {domain: rate_limits_data(sim, shop) for domain, shop in sim.shops.items()}
    return _page("faults.html", faults=[r.to_dict() for r in sim.faults.list()], limits=limits,
                 example=EXAMPLE_RULE)


BLUEPRINTS = (inspect.blueprint, trigger.blueprint, blueprint)
"""What ``create_app`` registers for the inspector: the control reads it renders, webhooks on demand, its pages."""
