"""Admin REST orders (shopify-api.md §1.3): create, list (``status`` default ``open``, ``financial_status``,
``since_id``, dates), get, count, update (tags replace the set), cancel, close, open, transactions (a capture
or sale that settles the order makes it paid and fires ``orders/paid``), refunds, and a customer's orders.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.shopify.models import Order, Transaction
from rivosim.domain.shopify.orders import CANCEL_REASONS
from rivosim.domain.shopify.values import money
from rivosim.http.errors import json_response
from rivosim.http.shopify.blueprint import route, shop
from rivosim.http.shopify.params import (
    boolean,
    choice_param,
    fields_param,
    id_path,
    ids_param,
    int_param,
    only,
    paged,
    read_json,
    read_page_request,
    time_window,
)
from rivosim.kernel.errors import MalformedRequest, NotFound, ValidationFailed
from rivosim.wire import shopify as wire

__all__: list[str] = []

STATUSES = ("open", "closed", "cancelled", "any")
FINANCIAL = ("authorized", "pending", "paid", "partially_paid", "refunded", "voided", "partially_refunded", "any",
             "unpaid")
FULFILMENT = ("shipped", "partial", "unshipped", "any", "unfulfilled")
_FILTERS = ("ids", "since_id", "created_at_min", "created_at_max", "updated_at_min", "updated_at_max",
            "processed_at_min", "processed_at_max", "status", "financial_status", "fulfillment_status",
            "attribution_app_id")


def _json(o: Order) -> dict[str, Any]:
    return wire.order(o, shop())


def _matches_status(o: Order, status: str) -> bool:
    if status == "open":
        return o.closed_at is None and o.cancelled_at is None
    if status == "closed":
        return o.closed_at is not None
    if status == "cancelled":
        return o.cancelled_at is not None
    return True


def _matches_financial(o: Order, value: str) -> bool:
    if value == "any":
        return True
    if value == "unpaid":
        return o.financial_status in ("authorized", "pending", "partially_paid")
    return o.financial_status == value


def _filtered(orders: list[Order], args: dict[str, str]) -> list[Order]:
    tz = shop().settings.timezone
    status = choice_param(args, "status", STATUSES, "open")
    financial = choice_param(args, "financial_status", FINANCIAL, "any")
    fulfilment = choice_param(args, "fulfillment_status", FULFILMENT, "any")
    ids = ids_param(args)
    since = int_param(args, "since_id")
    created, updated = time_window(args, "created_at", tz), time_window(args, "updated_at", tz)
    processed = time_window(args, "processed_at", tz)
    return [o for o in orders
            if (ids is None or o.id in ids) and (since is None or o.id > since) and _matches_status(o, status)
            and _matches_financial(o, financial)
            and (fulfilment in ("any", "unshipped", "unfulfilled") or o.fulfillment_status is not None)
            and created(o.created_at) and updated(o.updated_at) and processed(o.processed_at)]


@route("/orders.json", "GET", "shopify.orders.list", "read_orders")
def orders_list() -> Response:
    page = read_page_request(_FILTERS)
    return paged("orders", _filtered(list(shop().shopify.orders.values()), page.filters), lambda o: o.id, _json,
                 page)


@route("/orders/count.json", "GET", "shopify.orders.count", "read_orders")
def orders_count() -> Response:
    return json_response({"count": len(_filtered(list(shop().shopify.orders.values()), dict(request.args)))})


@route("/customers/<customer_id>/orders.json", "GET", "shopify.customers.orders", "read_orders")
def customer_orders(customer_id: str) -> Response:
    orders = shop().shopify.orders_of(id_path(customer_id))
    page = read_page_request(_FILTERS)
    return paged("orders", _filtered(orders, page.filters), lambda o: o.id, _json, page)


@route("/orders/<order_id>.json", "GET", "shopify.orders.get", "read_orders")
def orders_get(order_id: str) -> Response:
    order = shop().shopify.get_order(id_path(order_id))
    return json_response({"order": only(_json(order), fields_param())})


def _customer_for(body: dict[str, Any]) -> int | None:
    """``customer: {"id"}`` attaches an existing customer; ``customer: {"email", …}`` or a top-level ``email``
    finds the customer with that email or creates one, as Shopify does."""
    sf = shop().shopify
    raw = body.get("customer")
    if raw is not None and not isinstance(raw, dict):
        raise ValidationFailed("customer must be an object", field="customer")
    if raw and raw.get("id") is not None:
        cid = raw["id"]
        if isinstance(cid, bool) or not isinstance(cid, int) or cid not in sf.customers:
            raise ValidationFailed(f"customer {cid!r} does not exist", field="customer")
        return int(cid)
    email = (raw or {}).get("email") or body.get("email")
    if not email:
        return None
    existing = sf.find_customer_by_email(str(email)) if isinstance(email, str) else None
    if existing is not None:
        return existing.id
    return -1  # created once the rest of the order is known to be valid


@route("/orders.json", "POST", "shopify.orders.create", "write_orders")
def orders_create() -> Response:
    body = read_json("order")
    sf = shop().shopify
    status = body.get("financial_status")
    transactions = body.get("transactions")
    if transactions is not None:
        if not isinstance(transactions, list) or not all(isinstance(t, dict) for t in transactions):
            raise ValidationFailed("transactions must be a list of transaction objects", field="transactions")
        kinds = {t.get("kind", "sale") for t in transactions if t.get("status", "success") == "success"}
        if kinds - {"sale", "capture", "authorization"}:
            raise ValidationFailed("transactions on a new order may be sale, capture or authorization",
                                   field="transactions")
        if status is None:
            status = "paid" if kinds & {"sale", "capture"} else ("authorized" if kinds else "pending")
    if status is not None and status not in ("pending", "authorized", "paid"):
        raise ValidationFailed("financial_status must be pending, authorized or paid on a new order",
                               field="financial_status")
    codes = body.get("discount_codes")
    if codes is not None and (not isinstance(codes, list) or not all(isinstance(c, dict) for c in codes)):
        raise ValidationFailed('discount_codes must be a list of {"code", "amount", "type"}', field="discount_codes")
    source_name = body.get("source_name", "api")
    if not isinstance(source_name, str) or not source_name.strip():
        raise ValidationFailed("source_name must be a non-empty string", field="source_name")
    test = boolean(body, "test", False)
    customer_id = _customer_for(body)
    fields: dict[str, Any] = {
        "line_items": body.get("line_items"), "discount_details": codes, "total_tax": body.get("total_tax", 0),
        "tags": body.get("tags"), "note": body.get("note"), "note_attributes": body.get("note_attributes"),
        "financial_status": status or "pending", "source_name": source_name, "test": bool(test),
    }
    if "total_discounts" in body:
        fields["total_discounts"] = body["total_discounts"]
    if customer_id == -1:
        # Validate the order against no customer first, so a refused order creates no customer either.
        _dry_run(fields)
        raw = body.get("customer") or {}
        created = sf.create_customer(email=raw.get("email") or body.get("email"),
                                     first_name=raw.get("first_name"), last_name=raw.get("last_name"),
                                     state="disabled")
        customer_id = created.id
    order = sf.create_order(customer_id=customer_id, email=None if customer_id else body.get("email"), **fields)
    return json_response({"order": _json(order)}, 201)


def _dry_run(fields: dict[str, Any]) -> None:
    sf = shop().shopify
    sf._lines(fields["line_items"])
    sf._discounts(None, fields["discount_details"])
    sf._tags(fields["tags"], order=True)
    sf._note_attributes(fields["note_attributes"])


@route("/orders/<order_id>.json", "PUT", "shopify.orders.update", "write_orders")
def orders_update(order_id: str) -> Response:
    oid = id_path(order_id)
    sf = shop().shopify
    sf.get_order(oid)
    body = read_json("order")
    changes = {k: body[k] for k in ("tags", "note", "email", "note_attributes") if k in body}
    return json_response({"order": _json(sf.update_order(oid, changes))})


def _top_level_body() -> dict[str, Any]:
    """Cancel takes its options at the top level (``{"reason": "customer", "email": true}``), or none."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest("Required parameter missing or invalid", field="reason") from exc
    if not isinstance(body, dict):
        raise MalformedRequest("Required parameter missing or invalid", field="reason")
    return body


@route("/orders/<order_id>/cancel.json", "POST", "shopify.orders.cancel", "write_orders")
def orders_cancel(order_id: str) -> Response:
    oid = id_path(order_id)
    sf = shop().shopify
    sf.get_order(oid)
    body = _top_level_body()
    reason = body.get("reason", "other")
    if reason not in CANCEL_REASONS:
        raise ValidationFailed(f"reason must be one of {', '.join(CANCEL_REASONS)}", field="reason")
    return json_response({"order": _json(sf.cancel_order(oid, reason))})


@route("/orders/<order_id>/close.json", "POST", "shopify.orders.close", "write_orders")
def orders_close(order_id: str) -> Response:
    return json_response({"order": _json(shop().shopify.close_order(id_path(order_id)))})


@route("/orders/<order_id>/open.json", "POST", "shopify.orders.open", "write_orders")
def orders_open(order_id: str) -> Response:
    return json_response({"order": _json(shop().shopify.reopen_order(id_path(order_id)))})


# -- transactions -------------------------------------------------------------------------------------------
def _txn_json(t: Transaction, o: Order) -> dict[str, Any]:
    return wire.transaction(t, o, shop().settings.timezone)


@route("/orders/<order_id>/transactions.json", "GET", "shopify.transactions.list", "read_orders")
def transactions_list(order_id: str) -> Response:
    order = shop().shopify.get_order(id_path(order_id))
    fields = fields_param()
    return json_response({"transactions": [only(_txn_json(t, order), fields) for t in order.transactions]})


@route("/orders/<order_id>/transactions/count.json", "GET", "shopify.transactions.count", "read_orders")
def transactions_count(order_id: str) -> Response:
    return json_response({"count": len(shop().shopify.get_order(id_path(order_id)).transactions)})


@route("/orders/<order_id>/transactions/<txn_id>.json", "GET", "shopify.transactions.get", "read_orders")
def transactions_get(order_id: str, txn_id: str) -> Response:
    order = shop().shopify.get_order(id_path(order_id))
    tid = id_path(txn_id)
    for txn in order.transactions:
        if txn.id == tid:
            return json_response({"transaction": only(_txn_json(txn, order), fields_param())})
    raise NotFound("Not Found")


@route("/orders/<order_id>/transactions.json", "POST", "shopify.transactions.create", "write_orders")
def transactions_create(order_id: str) -> Response:
    oid = id_path(order_id)
    sf = shop().shopify
    order = sf.get_order(oid)
    body = read_json("transaction")
    kind = body.get("kind")
    if kind not in ("capture", "sale", "void", "refund"):
        raise ValidationFailed("kind must be capture, sale, void or refund", field="kind")
    amount = body.get("amount")
    before = {t.id for t in order.transactions}
    if kind == "capture":
        sf.capture_payment(oid, amount)
    elif kind == "sale":
        sf.sell(oid, amount)
    elif kind == "void":
        sf.void_authorization(oid)
    else:
        sf.refund_order(oid, amount)
    made = [t for t in order.transactions if t.id not in before]
    return json_response({"transaction": _txn_json(made[-1], order)}, 201)


# -- refunds ------------------------------------------------------------------------------------------------
@route("/orders/<order_id>/refunds.json", "GET", "shopify.refunds.list", "read_orders")
def refunds_list(order_id: str) -> Response:
    order = shop().shopify.get_order(id_path(order_id))
    tz = shop().settings.timezone
    return json_response({"refunds": [only(wire.refund(r, order, tz), fields_param()) for r in order.refunds]})


@route("/orders/<order_id>/refunds/<refund_id>.json", "GET", "shopify.refunds.get", "read_orders")
def refunds_get(order_id: str, refund_id: str) -> Response:
    oid = id_path(order_id)
    refund = shop().shopify.get_refund(oid, id_path(refund_id))
    order = shop().shopify.get_order(oid)
    return json_response({"refund": only(wire.refund(refund, order, shop().settings.timezone), fields_param())})


@route("/orders/<order_id>/refunds.json", "POST", "shopify.refunds.create", "write_orders")
def refunds_create(order_id: str) -> Response:
    """The amount is the sum of ``transactions[].amount``, else of ``refund_line_items`` (price x quantity)."""
    oid = id_path(order_id)
    sf = shop().shopify
    order = sf.get_order(oid)
    body = read_json("refund")
    note = body.get("note")
    amount = None
    txns = body.get("transactions")
    lines = body.get("refund_line_items")
    if txns:
        if not isinstance(txns, list) or not all(isinstance(t, dict) and "amount" in t for t in txns):
            raise ValidationFailed("transactions must be a list of {kind: refund, amount}", field="transactions")
        amount = sum((money(t["amount"], "transactions.amount") for t in txns), start=money(0))
    elif lines:
        if not isinstance(lines, list):
            raise ValidationFailed("refund_line_items must be a list", field="refund_line_items")
        by_id = {li.id: li for li in order.line_items}
        total = money(0)
        for i, item in enumerate(lines):
            line_id = item.get("line_item_id") if isinstance(item, dict) else None
            line = by_id.get(line_id) if isinstance(line_id, int) else None
            qty = item.get("quantity", 1) if isinstance(item, dict) else None
            if line is None:
                raise ValidationFailed(f"refund_line_items[{i}].line_item_id is not a line item of this order",
                                       field="refund_line_items")
            if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= line.quantity:
                raise ValidationFailed(f"refund_line_items[{i}].quantity must be from 1 to {line.quantity}",
                                       field="refund_line_items")
            total += line.price * qty
        amount = min(total, order.total_price - order.refunded_amount)
    if amount is None:
        raise ValidationFailed("send transactions (with amounts) or refund_line_items to refund", field="base")
    refund = sf.refund_order(oid, amount, note)
    return json_response({"refund": wire.refund(refund, order, shop().settings.timezone)}, 201)
