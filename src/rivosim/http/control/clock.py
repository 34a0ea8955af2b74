"""Each shop's own clock in the control API: ``GET /_rivosim/shops/<domain>/clock``,
``POST /_rivosim/shops/<domain>/clock/advance`` (``seconds`` | ``duration`` | ``to``, and ``stop_on_delivery``)
— only that shop's time moves and only its due work runs — and ``POST /_rivosim/shops/<domain>/reset``
(optionally ``{"clock": {"start"}, "seed", "keep_keys"}``), which puts that one shop back to what its document
and seed give, leaving every other shop untouched. Time never moves backwards: a ``to`` in the past is a 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.config import clock_start
from rivosim.domain.shop import Shop
from rivosim.http.control.awaiting import MAX_WAIT, answer_once_delivered, can_defer
from rivosim.http.errors import json_response
from rivosim.http.params import read_body
from rivosim.http.routing import ApiBlueprint, Routes, current_shop, current_sim
from rivosim.kernel.clock import Duration, parse_duration, parse_instant
from rivosim.kernel.errors import ValidationFailed

__all__ = ["advance_body", "blueprint", "shop_clock_json"]

routes = Routes()
route = routes.route
blueprint = ApiBlueprint("control_clock", __name__, api="control", url_prefix="/_rivosim/shops/<domain>",
                         routes=(routes,))


def shop_clock_json(shop: Shop) -> dict[str, Any]:
    clock = shop.clock
    due = clock.next_due()
    return {"shop": shop.domain, "now": clock.now().isoformat(), "kind": clock.kind,
            "start": shop.origin.isoformat(), "next_due": due.isoformat() if due else None,
            "pending": len(clock.pending())}


def advance_body(body: dict[str, Any], *, allow_to: bool) -> tuple[Duration | None, datetime | None, bool]:
    """Read ``{"seconds" | "duration" | "to", "stop_on_delivery"?}``: (duration, instant, stop_on_delivery)."""
    keys = ("seconds", "duration", "to") if allow_to else ("seconds", "duration")
    given = [k for k in keys if k in body]
    if len(given) != 1 or set(body) - {*keys, "stop_on_delivery"}:
        choices = ' or '.join(('{"seconds": n}', '{"duration": "P30D"}', '{"to": "2027-01-01T00:00:00Z"}')[
            :len(keys)])
        raise ValidationFailed(f'send exactly one of {choices} (and optionally "stop_on_delivery": true)',
                               field="duration")
    stop_on_delivery = body.get("stop_on_delivery", False)
    if not isinstance(stop_on_delivery, bool):
        raise ValidationFailed("stop_on_delivery must be true or false", field="stop_on_delivery")
    key, value = given[0], body[given[0]]
    if key == "seconds" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValidationFailed("seconds must be a number", field="seconds")
    if key in ("duration", "to") and not isinstance(value, str):
        what = "an ISO-8601 duration such as P30D" if key == "duration" else "an ISO-8601 instant"
        raise ValidationFailed(f"{key} must be {what}", field=key)
    try:
        if key == "to":
            return None, parse_instant(value), stop_on_delivery
        return parse_duration(value), None, stop_on_delivery
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=key) from exc


@route("/clock", "GET", "control.shop_clock.get")
def shop_clock_get(domain: str) -> Response:
    return json_response(shop_clock_json(current_shop(domain)))


@route("/clock/advance", "POST", "control.shop_clock.advance")
def shop_clock_advance(domain: str) -> Response:
    shop = current_shop(domain)
    by, to, stop_on_delivery = advance_body(read_body(request), allow_to=True)
    sim = current_sim()
    if to is not None and to < shop.clock.now():
        raise ValidationFailed(f"to: {to.isoformat()} is before the shop's now ({shop.clock.now().isoformat()}); "
                               "time never moves backwards — reset the shop to start over", field="to")
    try:
        # On the server shell the deliveries it stopped at are awaited without holding the loop (control/awaiting).
        sim.advance_shop(domain, by, to=to, stop_on_delivery=stop_on_delivery,
                         max_wait=0.0 if can_defer() else MAX_WAIT)
    except ValueError as exc:  # past year 9999
        raise ValidationFailed(str(exc), field="to" if to is not None else "duration") from exc
    stopped = stop_on_delivery and sim.stopped_early
    answer = lambda: {**shop_clock_json(shop), "stopped_on_delivery": stopped}  # noqa: E731
    return answer_once_delivered(sim, answer) if stop_on_delivery else json_response(answer())


@route("/reset", "POST", "control.shop.reset")
def shop_reset(domain: str) -> Response:
    current_shop(domain)
    body = read_body(request, required=False)
    unknown = sorted(set(body) - {"clock", "seed", "keep_keys"})
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}; accepted: clock, seed, keep_keys", field=unknown[0])
    start = None
    if "clock" in body:
        clock = body["clock"]
        if not isinstance(clock, dict) or set(clock) != {"start"} or not isinstance(clock["start"], str):
            raise ValidationFailed('clock must be {"start": "2026-12-24T00:00:00Z"}', field="clock.start")
        try:
            start = clock_start(clock)
        except ValueError as exc:
            raise ValidationFailed(f"clock.start: {exc}", field="clock.start") from exc
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63):
        raise ValidationFailed("seed must be a non-negative integer", field="seed")
    keep_keys = body.get("keep_keys", True)
    if not isinstance(keep_keys, bool):
        raise ValidationFailed("keep_keys must be true or false", field="keep_keys")
    shop = current_sim().reset_shop(domain, start=start, seed=seed, keep_keys=keep_keys)
    return json_response({"reset": domain, "clock": shop_clock_json(shop), "seed": shop.seed,
                          "credentials": shop.credentials_dict()})
