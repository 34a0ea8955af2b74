"""What each step kind does (through the control API and the Rivo API, never the simulator's insides) and how
each expectation is checked. A step raises ``StepFailure`` with what was expected and what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..clock import parse_instant
from ..webhooks import verify
from .runner import RunContext, StepFailure, journal_entries

__all__ = ["STEPS", "subset_mismatch"]

Handler = Callable[[RunContext, Any], None]
STEPS: dict[str, Handler] = {}


def step(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        STEPS[kind] = fn
        return fn

    return register


def _expect(body: Any) -> Any:
    return body.get("expect") if isinstance(body, Mapping) else None


# -- Shopify side -------------------------------------------------------------------------------------------------
@step("customer_created")
def customer_created(ctx: RunContext, body: dict[str, Any]) -> None:
    fields = ctx.render({k: v for k, v in body.items() if k not in ("as", "expect")})
    reply = ctx.request("POST", f"/_rivosim/shops/{ctx.domain}/customers", json=fields, expect=_expect(body),
                        what=f"customer {body['as']} signs up")
    if reply.ok:
        ctx.values["customers"][body["as"]] = reply.json


@step("order_placed")
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


@step("order_paid")
def order_paid(ctx: RunContext, body: dict[str, Any]) -> None:
    _order_call(ctx, body, "pay", {})


@step("order_refunded")
def order_refunded(ctx: RunContext, body: dict[str, Any]) -> None:
    _order_call(ctx, body, "refund", {k: body[k] for k in ("amount", "note") if k in body})


@step("order_cancelled")
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


@step("follow")
def follow(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, _FOLLOW[body["network"]])


@step("share")
def share(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, f"{body['network']}_share")


@step("subscribe")
def subscribe(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, f"{body['channel']}_subscribe")


@step("review")
def review(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "review", **{k: body[k] for k in ("product_id", "rating") if k in body})


@step("custom_action")
def custom_action(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "custom_action", custom_action_name=body["name"])


@step("visit_url")
def visit_url(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "visit_url", url=body["url"])


@step("receipt_upload")
def receipt_upload(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "receipt_upload")


@step("set_birthday")
def set_birthday(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, "birthday_set", dob=body["dob"])


@step("storefront")
def storefront(ctx: RunContext, body: dict[str, Any]) -> None:
    _storefront(ctx, body, body["action"], **{k: v for k, v in body.items()
                                               if k not in ("customer", "action", "expect")})


@step("referral_claim")
def referral_claim(ctx: RunContext, body: dict[str, Any]) -> None:
    advocate = ctx.control("GET", f"/shops/{ctx.domain}/customers/{ctx.customer_id(body['advocate'])}")
    ctx.claims += 1
    claim = {"email": ctx.render(body["email"]), "referral_code": (advocate.get("loyalty") or {}).get("referral_code"),
             "remote_ip": ctx.render(body.get("remote_ip", f"198.51.100.{ctx.claims % 250 + 1}"))}
    reply = ctx.rivo("POST", "/referrals", json=claim, expect=_expect(body), what="claiming the referral")
    if reply.ok and "as" in body:
        ctx.values[body["as"]] = reply.json["data"]["attributes"]


# -- merchant -----------------------------------------------------------------------------------------------------
@step("adjust_points")
def adjust_points(ctx: RunContext, body: dict[str, Any]) -> None:
    points = ctx.render(body["points"])
    event = {"customer_identifier": ctx.identifier(body["customer"]), "source": "manual",
             "points_amount": int(points), "credits_amount": ctx.render(body.get("credits", 0)),
             "internal_note": ctx.render(body.get("note", "merchant adjustment"))}
    reply = ctx.rivo("POST", "/points_events", json=event, expect=_expect(body), what="adjusting points")
    if reply.ok and "as" in body:
        ctx.values[body["as"]] = reply.json["data"]["attributes"]


@step("change_tier")
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


@step("patch_shop")
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


@step("enable_rule")
def enable_rule(ctx: RunContext, body: dict[str, Any]) -> None:
    _set_rule(ctx, body, True)


@step("disable_rule")
def disable_rule(ctx: RunContext, body: dict[str, Any]) -> None:
    _set_rule(ctx, body, False)


@step("regenerate_key")
def regenerate_key(ctx: RunContext, body: Any) -> None:
    reply = ctx.control("POST", f"/shops/{ctx.domain}/api_key/regenerate")
    ctx.shop["rivo_api_key"] = reply["rivo_api_key"]


# -- direct calls, time, webhooks ---------------------------------------------------------------------------------
@step("http")
def http(ctx: RunContext, body: dict[str, Any]) -> None:
    path = str(ctx.render(body["path"]))
    auth = ctx.render(body.get("auth", "shop" if path.startswith("/merchant_api/") else "none"))
    headers = dict(ctx.render(body.get("headers") or {}))
    if auth == "shop":
        headers.setdefault("Authorization", str(ctx.shop.get("rivo_api_key", "")))
    elif auth != "none":
        headers.setdefault("Authorization", str(auth))
    params = {k: str(v) for k, v in (ctx.render(body.get("query")) or {}).items()}
    reply = ctx.request(body["method"], path, json=ctx.render(body.get("body")), params=params or None,
                        headers=headers, expect=ctx.render(_expect(body)), what=f"{body['method']} {path}")
    if "as" in body:
        ctx.values[body["as"]] = reply.json


@step("advance")
def advance(ctx: RunContext, body: Any) -> None:
    ctx.advance(body)


@step("advance_to")
def advance_to(ctx: RunContext, body: str) -> None:
    value = ctx.render(body)
    target = value if not isinstance(value, str) else parse_instant(value)
    ctx.advance_until(target)


@step("run_until_idle")
def run_until_idle(ctx: RunContext, body: Any) -> None:
    ctx.settle()


@step("redeliver")
def redeliver(ctx: RunContext, body: dict[str, Any]) -> None:
    items = ctx.control("GET", "/webhooks/deliveries", params={"shop": ctx.domain, "topic": body["topic"],
                                                               "body": "false"})["deliveries"]
    index = body.get("index", -1)
    if not items or not -len(items) <= index < len(items):
        raise StepFailure(f"no {body['topic']} delivery at index {index}", expected=f"index {index}",
                          actual=f"{len(items)} deliveries")
    ctx.control("POST", f"/webhooks/deliveries/{items[index]['id']}/redeliver")


@step("fault")
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


@step("workflow_credential")
def workflow_credential(ctx: RunContext, body: dict[str, Any]) -> None:
    _client(ctx).connect(str(ctx.render(body["api_key"])))


@step("workflow_update")
def workflow_update(ctx: RunContext, body: dict[str, Any]) -> None:
    _client(ctx).update_workflow(body["name"], {k: v for k, v in body.items() if k != "name"})


# -- expectations -------------------------------------------------------------------------------------------------
def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected if isinstance(expected, bool) else actual == expected
    if isinstance(expected, int | float) and isinstance(actual, str | int | float):
        try:
            return Decimal(str(actual)) == Decimal(str(expected))
        except InvalidOperation:
            return False
    if isinstance(expected, str) and isinstance(actual, int | float):
        return _equal(expected, actual)
    return bool(actual == expected)


def subset_mismatch(actual: Any, expected: Any, path: str = "") -> str | None:
    """Where ``expected`` is not a subset of ``actual`` (None when it is)."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"{path or 'value'}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}{'.' if path else ''}{key}: missing"
            problem = subset_mismatch(actual[key], value, f"{path}{'.' if path else ''}{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path or 'value'}: expected {expected!r}, got {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            problem = subset_mismatch(a, e, f"{path}[{i}]")
            if problem:
                return problem
        return None
    return None if _equal(actual, expected) else f"{path or 'value'}: expected {expected!r}, got {actual!r}"


def _count(what: str, items: list[Any], want: dict[str, Any], seen: Any) -> None:
    count = want.get("count")
    if (count is None and not items) or (count is not None and len(items) != count):
        raise StepFailure(f"{what}: expected {'at least one' if count is None else count}, found {len(items)}",
                          expected=want, actual=seen)


@step("expect")
def expect(ctx: RunContext, body: dict[str, Any]) -> None:
    body = ctx.render(body)
    for kind, check in CHECKS.items():
        if kind in body:
            check(ctx, body[kind])


def _check_customers(ctx: RunContext, wanted: dict[str, dict[str, Any]]) -> None:
    now = ctx.transport.now()
    for name, want in wanted.items():
        c = ctx.control("GET", f"/shops/{ctx.domain}/customers/{ctx.customer_id(name)}")
        loyalty = c.get("loyalty") or {}
        actual = {"points": loyalty.get("points_tally"), "credits": loyalty.get("credits_tally"),
                  "lifetime_points": loyalty.get("lifetime_points"), "tier": loyalty.get("vip_tier"),
                  "loyalty_status": loyalty.get("loyalty_status"), "dob": loyalty.get("dob"),
                  "visible": c.get("rivo_visible_at") is not None and parse_instant(c["rivo_visible_at"]) <= now,
                  "orders_count": c.get("orders_count"), "tags": c.get("tags")}
        problems = []
        for key, value in want.items():
            if key == "tags":
                have = {t.casefold() for t in actual["tags"] or ()}
                missing = [t for t in value if t.casefold() not in have]
                if missing:
                    problems.append(f"tags: missing {missing}")
            elif key == "tags_absent":
                present = [t for t in value if t.casefold() in {x.casefold() for x in actual["tags"] or ()}]
                if present:
                    problems.append(f"tags: should not have {present}")
            elif not _equal(actual[key], value):
                problems.append(f"{key}: expected {value!r}, got {actual[key]!r}")
        if problems:
            raise StepFailure(f"customer {name}: {'; '.join(problems)}", expected=want,
                              actual={k: actual[k] for k in want if k in actual} | {"tags": actual["tags"]})


def _check_ledger(ctx: RunContext, wanted: dict[str, list[dict[str, Any]]]) -> None:
    state = ctx.control("GET", "/state", params={"shop": ctx.domain, "limit": 100_000})
    for name, entries in wanted.items():
        cid = ctx.customer_id(name)
        events = sorted((e for e in state["points_events"] if e["customer_id"] == cid), key=lambda e: e["id"])
        brief = [{"source": e["source"], "points_diff": e["points_diff"]} for e in events]
        if len(events) != len(entries):
            raise StepFailure(f"ledger of {name}: expected {len(entries)} points events, found {len(events)}",
                              expected=entries, actual=brief)
        for i, (event, want) in enumerate(zip(events, entries, strict=True)):
            problem = subset_mismatch(event, want)
            if problem:
                raise StepFailure(f"ledger of {name}, entry {i}: {problem}", expected=entries, actual=brief)
        customer = next(c for c in state["customers"] if c["id"] == cid)
        total = sum(e["points_diff"] for e in events)
        if total != customer["points_tally"]:
            raise StepFailure(f"ledger of {name}: the balance is not the sum of the ledger",
                              expected=total, actual=customer["points_tally"])


def _check_triggers(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    for want in wanted:
        params = {"topic": want["topic"]}
        if "customer" in want:
            params["customer_id"] = str(ctx.customer_id(want["customer"]))
        fired = ctx.control("GET", f"/shops/{ctx.domain}/triggers", params=params)["triggers"]
        matching = [t for t in fired if not subset_mismatch(t["payload"], want.get("payload") or {})]
        _count(f"trigger {want['topic']}", matching, want,
               [{"topic": t["topic"], "customer_id": t["customer_id"]} for t in fired] or
               _topics_fired(ctx))


def _topics_fired(ctx: RunContext) -> dict[str, int]:
    fired = ctx.control("GET", f"/shops/{ctx.domain}/triggers")["triggers"]
    out: dict[str, int] = {}
    for t in fired:
        out[t["topic"]] = out.get(t["topic"], 0) + 1
    return out


def _check_deliveries(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    secret = ctx.shop.get("webhook_secret", "")
    for want in wanted:
        items = ctx.control("GET", "/webhooks/deliveries", params={"shop": ctx.domain, "topic": want["topic"]})[
            "deliveries"]
        chosen = [d for d in items if "status" not in want or d["status"] == want["status"]]
        _count(f"deliveries of {want['topic']}" + (f" ({want['status']})" if "status" in want else ""), chosen, want,
               [{"id": d["id"], "status": d["status"], "attempts": len(d["attempts"])} for d in items])
        for d in chosen:
            if "signature_valid" in want:
                valid = verify(d["body"].encode(), d["headers"], secret, tolerance_seconds=None)
                if valid is not want["signature_valid"]:
                    raise StepFailure(f"delivery {d['id']}: signature valid is {valid}",
                                      expected=want["signature_valid"], actual=d["headers"])
            if "attempts" in want and len(d["attempts"]) != want["attempts"]:
                raise StepFailure(f"delivery {d['id']}: {len(d['attempts'])} attempts", expected=want["attempts"],
                                  actual=d["attempts"])


def _check_runs(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    client = _client(ctx)
    for want in wanted:
        cid = ctx.customer_id(want["customer"]) if "customer" in want else None
        runs = [r for r in client.runs if r.workflow == want["workflow"]
                and ("status" not in want or r.status == want["status"]) and (cid is None or r.customer_id == cid)]
        _count(f"runs of workflow {want['workflow']!r}" + (f" ({want['status']})" if "status" in want else ""),
               runs, want, [{"workflow": r.workflow, "status": r.status, "trigger": r.trigger,
                             "detail": r.error or r.detail} for r in client.runs])


def _check_actions(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    client = _client(ctx)
    for want in wanted:
        cid = ctx.customer_id(want["customer"]) if "customer" in want else None
        recs = [a for a in client.actions if a.action == want["action"]
                and ("workflow" not in want or a.workflow == want["workflow"])
                and ("status" not in want or a.status == want["status"])
                and ("ok" not in want or a.ok is want["ok"])
                and (cid is None or a.customer_id == cid)
                and not subset_mismatch(a.fields, want.get("fields") or {})]
        _count(f"workflow action {want['action']}", recs, want,
               [{"workflow": a.workflow, "action": a.action, "status": a.status, "fields": a.fields}
                for a in client.actions])


def _check_messages(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    client = _client(ctx)
    for want in wanted:
        to = None
        if "to" in want:
            named = ctx.customer(want["to"])
            to = str(named["email"] if named else want["to"]).casefold()
        msgs = [m for m in client.messages if ("channel" not in want or m.channel == want["channel"])
                and (to is None or m.to.casefold() == to) and ("workflow" not in want or m.workflow == want["workflow"])
                and not subset_mismatch(m.fields, want.get("fields") or {})
                and all(str(text).casefold() in str(m.fields.get(key, "")).casefold()
                        for key, text in (want.get("contains") or {}).items())]
        _count("messages" + (f" to {want['to']}" if "to" in want else ""), msgs, want,
               [m.to_dict() for m in client.messages])


def _check_journal(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    for want in wanted:
        params = {"route": want["route"]}
        if "status" in want:
            params["status"] = str(want["status"])
        entries = journal_entries(ctx, **params)
        entries = [e for e in entries if ("method" not in want or e["method"] == want["method"])
                   and ("contains" not in want or str(want["contains"]).casefold()
                        in " ".join(e.get("notes") or ()).casefold())]
        _count(f"journal calls of {want['route']}", entries, want,
               [f"{e['method']} {e['path']} -> {e['status']} {e.get('notes') or ''}".rstrip() for e in entries])


def _check_errors(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    client = _client(ctx)
    for want in wanted:
        errs = [e for e in client.errors if ("where" not in want or e.where == want["where"])
                and ("status" not in want or e.status == want["status"])
                and ("workflow" not in want or e.workflow == want["workflow"])
                and ("contains" not in want or str(want["contains"]).casefold() in e.message.casefold())]
        _count("client errors", errs, want, [e.to_dict() for e in client.errors])


def _check_loops(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    client = _client(ctx)
    for want in wanted:
        loops = [loop for loop in client.loops if loop.workflow == want["workflow"]]
        _count(f"loops stopped in {want['workflow']!r}", loops, want, [loop.message for loop in client.loops])


def _check_duplicates(ctx: RunContext, wanted: int) -> None:
    client = _client(ctx)
    if len(client.duplicates) != wanted:
        raise StepFailure("de-duplicated deliveries", expected=wanted, actual=list(client.duplicates))


CHECKS: dict[str, Callable[[RunContext, Any], None]] = {
    "customers": _check_customers, "ledger": _check_ledger, "triggers": _check_triggers,
    "deliveries": _check_deliveries, "workflow_runs": _check_runs, "workflow_actions": _check_actions,
    "messages": _check_messages, "journal": _check_journal, "client_errors": _check_errors,
    "loops": _check_loops, "duplicates": _check_duplicates,
}
