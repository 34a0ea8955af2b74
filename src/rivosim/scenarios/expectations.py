"""How each expectation of an ``expect:`` step is checked (through the control API and the workflow client's
records). A mismatch raises ``StepFailure`` with what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rivosim.kernel.clock import parse_duration, parse_instant
from rivosim.scenarios.context import RunContext, StepFailure, journal_entries
from rivosim.scenarios.matching import equal as _equal
from rivosim.scenarios.matching import subset_mismatch
from rivosim.webhooks import verify

__all__ = ["CHECKS", "subset_mismatch"]


def _client(ctx: RunContext) -> Any:
    if ctx.client is None:
        raise StepFailure("this scenario declares no workflows, so there is no workflow client")
    return ctx.client


def _count(what: str, items: list[Any], want: dict[str, Any], seen: Any) -> None:
    count = want.get("count")
    if (count is None and not items) or (count is not None and len(items) != count):
        raise StepFailure(f"{what}: expected {'at least one' if count is None else count}, found {len(items)}",
                          expected=want, actual=seen)


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
                        in " ".join(e.get("notes") or ()).casefold())
                   and ("min_latency_ms" not in want or (e.get("latency_ms") or 0) >= want["min_latency_ms"])
                   and ("max_latency_ms" not in want or (e.get("latency_ms") or 0) <= want["max_latency_ms"])]
        count = want.get("count")
        if (count is None and not entries) or (count is not None and len(entries) != count):
            # Every call of the route, with its status and injected latency: what the filters did not match.
            seen = [f"{e['method']} {e['path']} -> {e['status']}"
                    + (f" (latency {e['latency_ms']:g} ms)" if e.get("latency_ms") else "")
                    + (f" {e['notes']}" if e.get("notes") else "") for e in journal_entries(ctx, route=want["route"])]
            _count(f"journal calls of {want['route']}", entries, want, seen)


def _check_errors(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    client = _client(ctx)
    for want in wanted:
        errs = [e for e in client.errors if ("where" not in want or e.where == want["where"])
                and ("status" not in want or e.status == want["status"])
                and ("workflow" not in want or e.workflow == want["workflow"])
                and ("timed_out" not in want or e.timed_out is bool(want["timed_out"]))
                and ("contains" not in want or str(want["contains"]).casefold() in e.message.casefold())]
        _count("client errors", errs, want, [e.to_dict() for e in client.errors])


def _check_latency(ctx: RunContext, wanted: list[dict[str, Any]]) -> None:
    """Runs whose latency — from the triggering delivery's receipt by the workflow tool (a schedule: its fire
    time) to the run's end — lies within ``min``/``max``; runs that have not ended have no latency yet."""
    client = _client(ctx)
    for want in wanted:
        cid = ctx.customer_id(want["customer"]) if "customer" in want else None
        low = parse_duration(want["min"]).seconds if "min" in want else None
        high = parse_duration(want["max"]).seconds if "max" in want else None
        ended = [r for r in client.runs if r.workflow == want["workflow"] and r.latency is not None
                 and ("status" not in want or r.status == want["status"]) and (cid is None or r.customer_id == cid)]
        runs = [r for r in ended if (low is None or r.latency >= low) and (high is None or r.latency <= high)]
        bounds = " and ".join(part for part in (f"at least {want['min']}" if "min" in want else "",
                                                f"at most {want['max']}" if "max" in want else "") if part)
        _count(f"runs of workflow {want['workflow']!r} that took {bounds or 'any time'} from delivery to end",
               runs, want, [{"run": r.id, "status": r.status, "customer_id": r.customer_id,
                             "latency": f"{r.latency:.3f} s"} for r in ended])


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
    "loops": _check_loops, "duplicates": _check_duplicates, "workflow_latency": _check_latency,
}
