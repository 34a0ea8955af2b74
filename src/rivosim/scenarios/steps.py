"""What each step kind does (through the control API and the Rivo API, never the simulator's insides). A step
raises ``StepFailure`` with what was expected and what happened; ``expect:`` steps are checked in
``expectations``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from rivosim.kernel.clock import parse_duration, parse_instant
from rivosim.scenarios.context import RunContext, StepFailure
from rivosim.scenarios.expectations import CHECKS
from rivosim.scenarios.matching import subset_mismatch
from rivosim.scenarios.validation import snapshot_path

__all__ = ["Handler", "default_steps", "subset_mismatch"]  # subset_mismatch: re-exported for older imports

Handler = Callable[[RunContext, Any], None]


def _expect(body: Any) -> Any:
    return body.get("expect") if isinstance(body, Mapping) else None


# -- Shopify side -------------------------------------------------------------------------------------------------
def customer_created(ctx: RunContext, body: dict[str, Any]) -> None:
    fields = ctx.render({k: v for k, v in body.items() if k not in ("as", "expect")})
    reply = ctx.request("POST", f"/_rivosim/shops/{ctx.domain}/customers", json=fields, expect=_expect(body),
                        what=f"customer {body['as']} signs up")
    if reply.ok:
        ctx.values["customers"][body["as"]] = reply.json


def order_placed(ctx: RunContext, body: dict[str, Any]) -> None:
    rendered = ctx.render({k: v for k, v in body.items() if k not in ("as", "expect", "customer")})
    items = rendered.pop("line_items", None) or [{"title": "Item", "price": str(rendered.pop("amount"))}]
    rendered.pop("amount", None)
    order = {"customer_id": ctx.customer_id(body["customer"]), "line_items": items,
             "paid": rendered.pop("paid", True), **rendered}
    reply = ctx.request("POST", f"/_rivosim/shops/{ctx.domain}/orders", json=order, expect=_expect(body),
                        what="placing the order")
    if reply.ok and "as" in body:
        ctx.values["orders"][body["as"]] = reply.json


def _order_id(ctx: RunContext, ref: str) -> int:
    orders = ctx.values["orders"]
    if ref in orders:
        return int(orders[ref]["id"])
    value = ctx.render(ref)
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    raise StepFailure(f"unknown order {ref!r}")


def _order_call(ctx: RunContext, body: dict[str, Any], action: str, fields: dict[str, Any]) -> None:
    oid = _order_id(ctx, body["order"])
    reply = ctx.request("POST", f"/_rivosim/shops/{ctx.domain}/orders/{oid}/{action}", json=ctx.render(fields),
                        expect=_expect(body), what=f"order {body['order']}: {action}")
    if reply.ok and body["order"] in ctx.values["orders"]:
        ctx.values["orders"][body["order"]] = reply.json


def order_paid(ctx: RunContext, body: dict[str, Any]) -> None:
    _order_call(ctx, body, "pay", {})


def order_refunded(ctx: RunContext, body: dict[str, Any]) -> None:
    _order_call(ctx, body, "refund", {k: body[k] for k in ("amount", "note") if k in body})


def order_cancelled(ctx: RunContext, body: dict[str, Any]) -> None:
    _order_call(ctx, body, "cancel", {k: body[k] for k in ("reason",) if k in body})


# -- storefront ---------------------------------------------------------------------------------------------------
def _storefront(ctx: RunContext, body: dict[str, Any], action: str, **fields: Any) -> None:
    cid = ctx.customer_id(body["customer"])
    ctx.request("POST", f"/_rivosim/shops/{ctx.domain}/customers/{cid}/actions",
                json={"action": action, **ctx.render(fields)}, expect=_expect(body),
                what=f"storefront action {action}")


_FOLLOW = {"instagram": "instagram_follow", "tiktok": "tiktok_follow", "twitter": "twitter_follow",
           "facebook": "facebook_like"}


def follow(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, _FOLLOW[body["network"]])


def share(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, f"{body['network']}_share")


def subscribe(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, f"{body['channel']}_subscribe")


def review(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "review", **{k: body[k] for k in ("product_id", "rating") if k in body})


def custom_action(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "custom_action", custom_action_name=body["name"])


def visit_url(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "visit_url", url=body["url"])


def receipt_upload(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "receipt_upload")


def set_birthday(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "birthday_set", dob=body["dob"])


def storefront(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, body["action"], **{k: v for k, v in body.items()
                                               if k not in ("customer", "action", "expect")})


def referral_claim(ctx: RunContext, body: dict[str, Any]) -> None:
    advocate = ctx.control("GET", f"/shops/{ctx.domain}/customers/{ctx.customer_id(body['advocate'])}")
    ctx.claims += 1
    claim = {"email": ctx.render(body["email"]), "referral_code": (advocate.get("loyalty") or {}).get("referral_code"),
             "remote_ip": ctx.render(body.get("remote_ip", f"198.51.100.{ctx.claims % 250 + 1}"))}
    reply = ctx.rivo("POST", "/referrals", json=claim, expect=_expect(body), what="claiming the referral")
    if reply.ok and "as" in body:
        ctx.values[body["as"]] = reply.json["data"]["attributes"]


# -- merchant -----------------------------------------------------------------------------------------------------
def adjust_points(ctx: RunContext, body: dict[str, Any]) -> None:
    points = ctx.render(body["points"])
    event = {"customer_identifier": ctx.identifier(body["customer"]), "source": "manual",
             "points_amount": int(points), "credits_amount": ctx.render(body.get("credits", 0)),
             "internal_note": ctx.render(body.get("note", "merchant adjustment"))}
    reply = ctx.rivo("POST", "/points_events", json=event, expect=_expect(body), what="adjusting points")
    if reply.ok and "as" in body:
        ctx.values[body["as"]] = reply.json["data"]["attributes"]


def change_tier(ctx: RunContext, body: dict[str, Any]) -> None:
    tier = ctx.render(body["tier"])
    if not isinstance(tier, int):
        tiers = ctx.rivo("GET", "/vip_tiers", what="listing VIP tiers").json["data"]
        match = [t for t in tiers if str(t["attributes"]["name"]).casefold() == str(tier).casefold()]
        if not match:
            raise StepFailure(f"no VIP tier named {tier!r}", expected=tier,
                              actual=[t["attributes"]["name"] for t in tiers])
        tier = match[0]["id"]
    payload: dict[str, Any] = {"vip_tier_id": tier}
    if "note" in body:
        payload["internal_note"] = ctx.render(body["note"])
    ctx.rivo("POST", f"/customers/{ctx.identifier(body['customer'])}/vip_tier", json=payload, expect=_expect(body),
             what="changing the VIP tier")


def patch_shop(ctx: RunContext, body: dict[str, Any]) -> None:
    reply = ctx.request("PATCH", f"/_rivosim/shops/{ctx.domain}", json=ctx.render(body), what="patching the shop")
    ctx.shop.update({k: v for k, v in reply.json.items() if k != "config"})


def _set_rule(ctx: RunContext, body: dict[str, Any], enabled: bool) -> None:
    config = ctx.control("GET", f"/shops/{ctx.domain}")["config"]
    rules = config["program"]["earning_rules"]
    hits = [r for r in rules if r["trigger"] == body["trigger"]
            and ("name" not in body or body["name"] in (r.get("custom_action_name"), r.get("url"), r.get("name")))]
    if not hits:
        raise StepFailure(f"the shop has no {body['trigger']} earning rule", expected=body["trigger"],
                          actual=[r["trigger"] for r in rules])
    for rule in hits:
        rule["enabled"] = enabled
    ctx.request("PATCH", f"/_rivosim/shops/{ctx.domain}", json={"program": {"earning_rules": rules}},
                what=f"{'enabling' if enabled else 'disabling'} the {body['trigger']} rule")


def enable_rule(ctx: RunContext, body: dict[str, Any]) -> None:
    _set_rule(ctx, body, True)


def disable_rule(ctx: RunContext, body: dict[str, Any]) -> None:
    _set_rule(ctx, body, False)


def regenerate_key(ctx: RunContext, body: Any) -> None:
    reply = ctx.control("POST", f"/shops/{ctx.domain}/api_key/regenerate")
    ctx.shop["rivo_api_key"] = reply["rivo_api_key"]


# -- direct calls, time, webhooks ---------------------------------------------------------------------------------
def http(ctx: RunContext, body: dict[str, Any]) -> None:
    path = str(ctx.render(body["path"]))
    auth = ctx.render(body.get("auth", "shop" if path.startswith("/merchant_api/") else "none"))
    headers = dict(ctx.render(body.get("headers") or {}))
    if auth == "shop":
        headers.setdefault("Authorization", str(ctx.shop.get("rivo_api_key", "")))
    elif auth != "none":
        headers.setdefault("Authorization", str(auth))
    params = {k: str(v) for k, v in (ctx.render(body.get("query")) or {}).items()}
    timeout = parse_duration(ctx.render(body["timeout"])).seconds if "timeout" in body else None
    reply = ctx.request(body["method"], path, json=ctx.render(body.get("body")), params=params or None,
                        headers=headers, expect=ctx.render(_expect(body)), what=f"{body['method']} {path}",
                        timeout=timeout)
    if "as" in body:
        ctx.values[body["as"]] = reply.json


def advance(ctx: RunContext, body: Any) -> None:
    if isinstance(body, dict):  # {by, shop}: only that shop's clock moves
        ctx.advance_shop(body["by"], str(ctx.render(body["shop"])))
    else:
        ctx.advance(body)


def advance_to(ctx: RunContext, body: str) -> None:
    value = ctx.render(body)
    target = value if not isinstance(value, str) else parse_instant(value)
    ctx.advance_until(target)


def run_until_idle(ctx: RunContext, body: Any) -> None:
    held, ctx.hold_background = ctx.hold_background, False  # asked for explicitly: runs even while held
    try:
        ctx.settle()
    finally:
        ctx.hold_background = held


def restore(ctx: RunContext, body: str) -> None:
    """``restore: FILE``: POST the saved snapshot to ``/_rivosim/snapshot``, then re-read the scenario's shop (its
    keys are the snapshot's) and start the scenario's slice of the journal at the restore."""
    snapshot_file = snapshot_path(ctx.scenario.path, str(ctx.render(body)))
    try:
        document = orjson.loads(snapshot_file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StepFailure(f"cannot read the snapshot {snapshot_file}: {exc}") from exc
    domains = ctx.control("POST", "/snapshot", json=document)["shops"]
    if ctx.domain not in domains:
        raise StepFailure(f"the snapshot {snapshot_file.name} has no shop {ctx.domain} (the scenario's shop); "
                          f"shops now: {', '.join(map(str, domains)) or 'none'}",
                          expected=ctx.domain, actual=domains)
    ctx.values["shop"] = dict(ctx.control("GET", f"/shops/{ctx.domain}"))
    entries = ctx.control("GET", "/journal", params={"route": "control.snapshot.restore"}).get("entries") or []
    ctx.journal_since = entries[-1]["seq"] - 1 if entries else 0


def redeliver(ctx: RunContext, body: dict[str, Any]) -> None:
    items = ctx.control("GET", "/webhooks/deliveries", params={"shop": ctx.domain, "topic": body["topic"],
                                                               "body": "false"})["deliveries"]
    index = body.get("index", -1)
    if not items or not -len(items) <= index < len(items):
        raise StepFailure(f"no {body['topic']} delivery at index {index}", expected=f"index {index}",
                          actual=f"{len(items)} deliveries")
    ctx.control("POST", f"/webhooks/deliveries/{items[index]['id']}/redeliver")


def fault(ctx: RunContext, body: dict[str, Any]) -> None:
    """A fault rule scoped to this scenario's shop, or ``{clear: true}`` to drop the shop's rules."""
    if body.get("clear"):
        ctx.request("DELETE", "/_rivosim/faults", params={"shop": ctx.domain}, what="clearing the shop's faults")
        return
    rule = ctx.render(dict(body))
    rule["match"] = {"shop": ctx.domain, **(rule.get("match") or {})}
    ctx.request("POST", "/_rivosim/faults", json=rule, what="adding a fault rule")


def _client(ctx: RunContext) -> Any:
    if ctx.client is None:
        raise StepFailure("this scenario declares no workflows, so there is no workflow client")
    return ctx.client


def workflow_credential(ctx: RunContext, body: dict[str, Any]) -> None:
    client = _client(ctx)
    if "shop_domain" in body:
        client.shop_domain = str(ctx.render(body["shop_domain"]))
    client.connect(str(ctx.render(body["api_key"])))


def background(ctx: RunContext, body: dict[str, Any]) -> None:
    ctx.hold_background = bool(body["hold"])


def workflow_settings(ctx: RunContext, body: dict[str, Any]) -> None:
    client = _client(ctx)
    for name in ("dedupe", "verify_signatures", "shop_domain"):
        if name in body:
            setattr(client, name, ctx.render(body[name]))


def workflow_update(ctx: RunContext, body: dict[str, Any]) -> None:
    _client(ctx).update_workflow(body["name"], {k: v for k, v in body.items() if k != "name"})


# -- expectations (checked in expectations.py) ------------------------------------------------------------
def expect(ctx: RunContext, body: dict[str, Any]) -> None:
    body = ctx.render(body)
    for kind, check in CHECKS.items():
        if kind in body:
            check(ctx, body[kind])


def default_steps() -> dict[str, Handler]:
    """Every step kind of the scenario format and what it does: a new table each call, which the runner that
    asks for it owns (``ScenarioRunner.steps``)."""
    return {
        "customer_created": customer_created,
        "order_placed": order_placed,
        "order_paid": order_paid,
        "order_refunded": order_refunded,
        "order_cancelled": order_cancelled,
        "follow": follow,
        "share": share,
        "subscribe": subscribe,
        "review": review,
        "custom_action": custom_action,
        "visit_url": visit_url,
        "receipt_upload": receipt_upload,
        "set_birthday": set_birthday,
        "storefront": storefront,
        "referral_claim": referral_claim,
        "adjust_points": adjust_points,
        "change_tier": change_tier,
        "patch_shop": patch_shop,
        "enable_rule": enable_rule,
        "disable_rule": disable_rule,
        "regenerate_key": regenerate_key,
        "http": http,
        "advance": advance,
        "advance_to": advance_to,
        "run_until_idle": run_until_idle,
        "restore": restore,
        "redeliver": redeliver,
        "fault": fault,
        "workflow_credential": workflow_credential,
        "workflow_settings": workflow_settings,
        "workflow_update": workflow_update,
        "background": background,
        "expect": expect,
    }
