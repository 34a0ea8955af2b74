"""The actions a workflow performs: the eleven Rivo actions of the MESA connector (each one or two REST calls
with the shop's key, through the same client path as everything else), the recorded outbound messages, and
the bookkeeping every action leaves (action records, the writers the loop guard attributes deliveries to).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from rivosim.transports.runner import Reply
from rivosim.workflows.model import (
    API,
    WRITE_ACTIONS,
    ActionFailed,
    ActionRecord,
    Message,
    Run,
    _attributes,
    _written_customer,
)

# Points events that spend or take back rather than earn (they never count toward a tier).
_SPENDING = frozenset({"points_purchase", "order_refund", "order_cancelled", "points_expired"})

__all__ = ["ActionsMixin"]


class ActionsMixin:
    """Mixed into ``WorkflowClient``; uses its ``_call``, clock, sequence and records."""

    actions: list[ActionRecord]
    messages: list[Message]
    _round: int
    _writers: dict[int, dict[int, list[tuple[str, ...]]]]
    _call: Callable[..., Reply]
    now: Callable[[], datetime]
    _next_seq: Callable[[], int]
    _emit: Callable[[str, dict[str, Any]], None]

    # -- actions -----------------------------------------------------------------------------------------
    def _record(self, run: Run, action: str, fields: dict[str, Any], reply: Reply | None, method: str | None,
                path: str | None, customer_id: int | None = None, *, wrote: Iterable[int] = ()) -> ActionRecord:
        ok = reply is None or reply.ok
        status = reply.status if reply is not None and reply.error is None else None
        rec = ActionRecord(self._next_seq(), self.now(), run.workflow, run.id, action, customer_id, status, ok,
                           fields, method, path, None if ok or reply is None else reply.error_detail(), self._round)
        self.actions.append(rec)
        self._emit("action", rec.to_dict())
        if ok and action in WRITE_ACTIONS:
            # The loop guard attributes deliveries about these customers to this run.
            for cid in ([customer_id] if customer_id is not None else []) + list(wrote):
                run.wrote.add(cid)
                self._writers.setdefault(self._round, {}).setdefault(cid, []).append(run.chain)
        return rec

    @staticmethod
    def _failure(action: str, method: str, path: str, reply: Reply) -> ActionFailed:
        """``grant_points: POST /merchant_api/v1/points_events -> 429: Too many requests``, or ``… timed out
        after 2 s (read timeout)`` when no response came."""
        return ActionFailed(f"{action}: {method} {path} {reply.outcome()}",
                            status=reply.status if reply.error is None else None, method=method, path=path,
                            timed_out=reply.timed_out)

    def _request(self, run: Run, action: str, fields: dict[str, Any], method: str, path: str, *,
                 json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        reply = self._call(method, path, json=json, params=params)
        body = reply.json
        attrs = _attributes(body) if reply.ok else None
        self._record(run, action, fields, reply, method, API + path, _written_customer(attrs))
        if not reply.ok:
            raise self._failure(action, method, API + path, reply)
        return attrs

    def _all_pages(self, run: Run, action: str, fields: dict[str, Any], path: str,
                   params: Mapping[str, Any] | None = None) -> list[Any]:
        out: list[Any] = []
        page = 1
        while True:
            query = {**(params or {}), "pagination[per_page]": 250, "pagination[page]": page}
            reply = self._call("GET", path, params=query)
            if not reply.ok:
                self._record(run, action, fields, reply, "GET", API + path)
                raise self._failure(action, "GET", API + path, reply)
            out.extend(_attributes(reply.json))
            if not (reply.json or {}).get("links", {}).get("next"):
                break
            page += 1
        self._record(run, action, fields, Reply(200, b""), "GET", API + path)
        return out

    @staticmethod
    def _customer(fields: Mapping[str, Any]) -> str:
        value = fields.get("customer")
        if value in (None, ""):
            raise ActionFailed("no customer: give `customer:` (a Shopify customer id or an email)")
        return str(value)

    def _do_get_customer(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._request(run, "get_customer", fields, "GET", f"/customers/{quote(self._customer(fields), '@')}")

    def _do_update_vip_tier(self, run: Run, fields: dict[str, Any]) -> Any:
        tier = fields.get("tier")
        tier_id = tier if isinstance(tier, int) else (int(tier) if isinstance(tier, str) and tier.isdigit() else None)
        if tier_id is None:
            tiers = self._request(run, "get_vip_tiers", {}, "GET", "/vip_tiers")
            match = [t for t in tiers if str(t.get("name", "")).casefold() == str(tier).casefold()]
            if not match:
                raise ActionFailed(f"update_vip_tier: no VIP tier named {tier!r}; tiers: "
                                   f"{', '.join(t.get('name', '?') for t in tiers) or 'none'}")
            tier_id = match[0]["id"]
        body: dict[str, Any] = {"vip_tier_id": tier_id}
        for key in ("internal_note", "external_note"):
            if fields.get(key) is not None:
                body[key] = fields[key]
        if fields.get("note") is not None:
            body["internal_note"] = fields["note"]
        return self._request(run, "update_vip_tier", fields, "POST",
                             f"/customers/{quote(self._customer(fields), '@')}/vip_tier", json=body)

    def _do_get_points_history(self, run: Run, fields: dict[str, Any]) -> Any:
        params = {"filters[customer_identifier]": self._customer(fields), "sort[order_type]": "id"}
        if fields.get("source"):
            params["filters[source]"] = fields["source"]
        return self._all_pages(run, "get_points_history", fields, "/points_events", params)

    def _do_get_vip_tier_history(self, run: Run, fields: dict[str, Any]) -> Any:
        """The tiers a customer reached, oldest first: ``[{tier, threshold, reached_at, progress}]``. Rivo's
        merchant API has no tier-log endpoint (its storefront RivoJS ``getCustomerVipTierLogs`` has one), so this
        replays what the API does expose, as a workflow tool would: the entry method and period (``GET /shop``),
        the thresholds (``GET /vip_tiers``) and the points history. Only a ``points_earned`` program over a
        lifetime can be replayed from points; otherwise the list holds the customer's current tier alone.
        Hand-set tiers do not appear in the points history (docs/fidelity.md: inferred)."""
        settings = self._request(run, "get_vip_tier_history", fields, "GET", "/shop")
        vip = settings.get("vip_program") or {}
        tiers = sorted(self._request(run, "get_vip_tier_history", fields, "GET", "/vip_tiers"),
                       key=lambda t: t.get("threshold") or 0)
        if vip.get("tier_type") != "points_earned" or vip.get("program_period") != "lifetime":
            customer = self._request(run, "get_vip_tier_history", fields, "GET",
                                     f"/customers/{quote(self._customer(fields), '@')}")
            current = customer.get("vip_tier")
            return [{"tier": current["name"], "threshold": current["threshold"], "reached_at": None,
                     "progress": None}] if current else []
        events = self._all_pages(run, "get_vip_tier_history", fields, "/points_events",
                                 {"filters[customer_identifier]": self._customer(fields), "sort[order_type]": "id"})
        history: list[dict[str, Any]] = []
        earned = 0
        for event in sorted(events, key=lambda e: (e.get("applied_at") or "", e.get("id") or 0)):
            diff = int(event.get("points_diff") or 0)
            if diff > 0 and event.get("source") not in _SPENDING:
                earned += diff
            elif event.get("source") in ("order_refund", "order_cancelled"):
                earned = max(0, earned + diff)
            reached = [t for t in tiers if (t.get("threshold") or 0) <= earned]
            top = reached[-1] if reached else None
            if top is not None and (not history or history[-1]["tier"] != top["name"]):
                history.append({"tier": top["name"], "threshold": top["threshold"],
                                "reached_at": event.get("applied_at"), "progress": earned})
        return history

    def _do_get_referrals(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._all_pages(run, "get_referrals", fields, "/referrals",
                               {"filters[customer_identifier]": self._customer(fields)})

    def _points(self, run: Run, action: str, fields: dict[str, Any], sign: int) -> Any:
        points = fields.get("points")
        if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
            raise ActionFailed(f"{action}: points must be a positive whole number, got {points!r}")
        body: dict[str, Any] = {"customer_identifier": self._customer(fields), "source": "manual",
                                "points_amount": sign * points, "credits_amount": 0,
                                "internal_note": fields.get("note") or f"MESA workflow {run.workflow}"}
        if fields.get("external_note") is not None:
            body["external_note"] = fields["external_note"]
        return self._request(run, action, fields, "POST", "/points_events", json=body)

    def _do_grant_points(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._points(run, "grant_points", fields, 1)

    def _do_grant_points_batch(self, run: Run, fields: dict[str, Any]) -> Any:
        """Grant Points to many customers in one call (``POST /points_events/batch``: Rivo takes at most 10 and
        applies all or none; more than 10 is refused with its 422)."""
        customers = fields.get("customers")
        if isinstance(customers, str | int) and not isinstance(customers, bool):
            customers = [customers]
        if not isinstance(customers, list) or not customers:
            raise ActionFailed(f"grant_points_batch: customers must be a non-empty list of ids or emails, got "
                               f"{customers!r}")
        points = fields.get("points")
        if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
            raise ActionFailed(f"grant_points_batch: points must be a positive whole number, got {points!r}")
        note = fields.get("note") or f"MESA workflow {run.workflow}"
        events = [{"customer_identifier": str(c.get("id", c.get("email")) if isinstance(c, Mapping) else c),
                   "source": "manual", "points_amount": points, "credits_amount": 0, "internal_note": note}
                  for c in customers]
        path = "/points_events/batch"
        reply = self._call("POST", path, json={"points_events": events})
        attrs = _attributes(reply.json) if reply.ok else None
        wrote = [cid for cid in map(_written_customer, attrs or []) if cid is not None]
        self._record(run, "grant_points_batch", fields, reply, "POST", API + path, wrote=wrote)
        if not reply.ok:
            raise self._failure("grant_points_batch", "POST", API + path, reply)
        return attrs

    def _do_deduct_points(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._points(run, "deduct_points", fields, -1)

    def _do_create_reward(self, run: Run, fields: dict[str, Any]) -> Any:
        name = fields.get("reward") or fields.get("name")
        if not name:
            raise ActionFailed("create_reward: give `reward:` (an existing reward's name) or `name:` and "
                               "`reward_type:` to create one")
        rewards = self._all_pages(run, "get_available_rewards", {}, "/rewards")
        reward = next((r for r in rewards if r.get("name") == name and r.get("enabled", True)), None)
        if reward is None:
            if "reward_type" not in fields:
                raise ActionFailed(f"create_reward: no enabled reward named {name!r} (and no reward_type to create "
                                   "it)")
            definition = {"name": name, "reward_type": fields["reward_type"],
                          "reward_value": fields.get("reward_value", 0),
                          "points_amount": fields.get("points_amount", 0)}
            if fields.get("expiry_months") is not None:
                definition["expiry_months"] = fields["expiry_months"]
            reward = self._request(run, "create_reward", fields, "POST", "/rewards", json=definition)
        if fields.get("customer") in (None, ""):
            return reward
        return self._request(run, "create_reward", fields, "POST", "/points_redemptions",
                             json={"customer_identifier": self._customer(fields), "reward_id": reward["id"]})

    def _do_get_available_rewards(self, run: Run, fields: dict[str, Any]) -> Any:
        rewards = [r for r in self._all_pages(run, "get_available_rewards", fields, "/rewards")
                   if r.get("enabled", True)]
        if fields.get("customer") not in (None, "") and fields.get("affordable", True):
            customer = self._do_get_customer(run, {"customer": fields["customer"]})
            points = customer.get("points_tally", 0)
            rewards = [r for r in rewards
                       if r.get("source") in (None, "points") and r.get("points_amount", 0) <= points]
        return rewards

    def _do_get_vip_tiers(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._all_pages(run, "get_vip_tiers", fields, "/vip_tiers")

    def _do_get_earning_rules(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._all_pages(run, "get_earning_rules", fields, "/earning_rules")

    def _do_get_program_settings(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._request(run, "get_program_settings", fields, "GET", "/shop")

    def _do_list_customers(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._all_pages(run, "list_customers", fields, "/customers")

    def _message(self, run: Run, channel: str, fields: dict[str, Any]) -> Any:
        to = fields.get("to")
        if to in (None, ""):
            raise ActionFailed(f"send_{channel}: no recipient (`to:` rendered empty)")
        customer_id = run.customer_id
        message = Message(self._next_seq(), self.now(), channel, str(to), run.workflow, run.id, customer_id,
                          {k: v for k, v in fields.items() if k != "to"})
        self.messages.append(message)
        self._record(run, f"send_{channel}", fields, None, None, None, customer_id)
        return message.to_dict()

    def _do_send_email(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._message(run, "email", fields)

    def _do_send_sms(self, run: Run, fields: dict[str, Any]) -> Any:
        return self._message(run, "sms", fields)


