"""Webhooks on demand: ``POST /_rivosim/shops/<domain>/webhooks/trigger {"topic", "customer"?, "wait"?}`` sends
one sample event of any Rivo or Shopify topic through the real pipeline (``rivosim.webhooks.samples``) and,
unless ``"wait": false``, answers once the first attempt of each delivery is made, with its outcome. Retries
follow on the simulator clock as for any delivery; the delivery log and the inspector show them.
"""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from rivosim.http.errors import json_response
from rivosim.http.params import read_body
from rivosim.http.routing import ApiBlueprint, Routes, current_shop, current_sim
from rivosim.kernel.errors import ValidationFailed
from rivosim.webhooks.samples import RIVO_TOPICS, SHOPIFY_TOPICS, sample_stream, send_sample

__all__ = ["blueprint"]

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control_trigger", __name__, api="control", url_prefix="/_rivosim/shops/<domain>/webhooks",
                         routes=(routes,))

_FIELDS = ("topic", "customer", "wait")


@route("/trigger", "POST", "control.webhooks.trigger")
def trigger(domain: str) -> Response:
    shop = current_shop(domain)
    sim = current_sim()
    body = read_body(request)
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}; accepted: {', '.join(_FIELDS)}", field=unknown[0])
    if "topic" not in body:
        raise ValidationFailed("topic is required, e.g. customer/birthday or orders/create", field="topic")
    wait = body.get("wait", True)
    if not isinstance(wait, bool):
        raise ValidationFailed("wait must be true or false", field="wait")
    sample = send_sample(shop, body["topic"], customer=body.get("customer"), triggers=sim.triggers,
                         outbox=sim.outbox, rng=sample_stream(shop))
    if wait and sample.deliveries:
        # The first attempts are due now: make them (as the server's tick would) and wait for their outcome.
        sim.outbox.drain()
        shop.clock.run_due()
        mine = sample.deliveries
        while any(d.status == "in_flight" for d in mine) and sim.outbox.drain(wait=max(d.timeout for d in mine) + 1):
            pass
    return json_response({"api": sample.api, "topic": sample.topic, "customer_id": sample.customer_id,
                          "payload": sample.payload, "deliveries": [d.to_dict(body=False) for d in sample.deliveries]},
                         202)


@route("/topics", "GET", "control.webhooks.topics")
def topics(domain: str) -> Response:
    """The topics a sample can be sent for."""
    current_shop(domain)
    return json_response({"rivo": list(RIVO_TOPICS), "shopify": list(SHOPIFY_TOPICS)})
