"""Running workflows, the part of ``WorkflowClient`` the runner drives in rounds: dispatching each received
delivery to the workflows it triggers (filters, the loop guard), resuming delayed runs and firing schedules when
they fall due, and executing a run's actions in order (``delay``, ``filter``, ``for_each`` with its ``pace``,
per-action timeouts).

Runs are executed one at a time, like one worker of a workflow tool: a delivery that arrives while a run is busy
waits for it. A run that *waits* frees the worker — a ``delay`` ends its turn, and while a paced ``for_each``
waits between items the deliveries that arrived meanwhile run — so spacing out a bulk loop lets other workflows
through instead of queueing them behind the whole loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from rivosim.kernel.clock import parse_duration, parse_instant
from rivosim.transports.runner import Transport
from rivosim.workflows.expr import ExprError, Scope, parse, render
from rivosim.workflows.model import (
    CUSTOMER_ACTIONS,
    WRITE_ACTIONS,
    ActionFailed,
    ActionRecord,
    Inbound,
    LoopReport,
    Run,
    Workflow,
    _customer_of,
    _ts,
)

__all__ = ["RunsMixin"]


class RunsMixin:
    """Mixed into ``WorkflowClient``; uses its transport, clock, lock, queue, records and ``_error``."""

    http: Transport
    workflows: dict[str, Workflow]
    shop: dict[str, Any]
    loop_limit: int
    max_chain: int
    sleep: Callable[[float], None] | None
    _action_timeout: float | None
    connected: bool
    _lock: threading.RLock
    inbound: list[Inbound]
    runs: list[Run]
    actions: list[ActionRecord]
    loops: list[LoopReport]
    _round: int
    _cause: int | None
    _writers: dict[int, dict[int, list[tuple[str, ...]]]]
    _anchor: datetime | None
    _next_fire: dict[str, datetime]
    now: Callable[[], datetime]
    _instant: Callable[[], datetime]
    _emit: Callable[[str, dict[str, Any]], None]
    _error: Callable[..., None]

    def begin_step(self) -> None:
        """The outside world acts next: what arrives from now on was not caused by a workflow."""
        self._cause = None

    def next_wakeup(self) -> datetime | None:
        """The earliest instant at which a waiting run resumes or a schedule fires."""
        with self._lock:
            times = [r.resume_at for r in self.runs if r.status == "waiting" and r.resume_at is not None]
            times += list(self._schedule_times().values())
            return min(times) if times else None

    def _schedule_times(self) -> dict[str, datetime]:
        if self._anchor is None or not self.connected:
            return {}
        out = {}
        for wf in self.workflows.values():
            if wf.enabled and wf.schedule is not None:
                if wf.name not in self._next_fire:
                    self._next_fire[wf.name] = wf.schedule.next_after(self._anchor, self._anchor)
                out[wf.name] = self._next_fire[wf.name]
        return out

    def listening(self) -> bool:
        """Whether anything can make a workflow run: a subscription, a schedule or a waiting run."""
        return bool(self.subscriptions) or bool(self._schedule_times()) or any(
            r.status == "waiting" for r in self.runs)

    def has_work(self, now: datetime) -> bool:
        with self._lock:
            if self.inbound:
                return True
            wake = self.next_wakeup()
            return wake is not None and wake <= now + timedelta(milliseconds=1)

    def process_round(self) -> None:
        """Run every workflow the queued deliveries trigger, every delayed run now due and every schedule now
        due. What these runs write is attributed to this round (the loop guard)."""
        with self._lock:
            now = self.now()
            self._round += 1
            rnd = self._round
            self._writers[rnd] = {}
            queued, self.inbound = self.inbound, []
            due = [r for r in self.runs if r.status == "waiting" and r.resume_at is not None
                   and r.resume_at <= now + timedelta(milliseconds=1)]
            fires = [(name, at) for name, at in self._schedule_times().items()
                     if at <= now + timedelta(milliseconds=1)]
            self._cause = rnd
        for item in queued:
            self._dispatch(item, rnd)
        for run in due:
            run.status, run.resume_at = "running", None
            self._emit("resume", {"run": run.id, "workflow": run.workflow})
            self._execute(run, rnd)
        for name, at in fires:
            wf = self.workflows[name]
            assert wf.schedule is not None and self._anchor is not None
            self._next_fire[name] = wf.schedule.next_after(self._anchor, now)
            run = self._new_run(wf, "schedule", None, None, (), now, received_at=min(at, now))
            run.values = {"schedule": {"at": _ts(now)}}
            self._execute(run, rnd)
        self._writers.pop(rnd - 2, None)

    def _new_run(self, wf: Workflow, trigger: str, delivery_id: str | None, customer_id: int | None,
                 chain: tuple[str, ...], now: datetime, *, received_at: datetime | None = None) -> Run:
        run = Run(id=len(self.runs) + 1, workflow=wf.name, trigger=trigger, delivery_id=delivery_id,
                  customer_id=customer_id, chain=(*chain, wf.name), started_at=now,
                  received_at=received_at if received_at is not None else now)
        self.runs.append(run)
        return run

    def _scope(self, run: Run) -> Scope:
        values = {**run.values, "workflow": {"name": run.workflow}, "run": {"id": run.id}, "shop": self.shop}
        return Scope(values, self.now)

    def _arrival(self, delivery_id: str) -> datetime | None:
        """When a delivery that arrived without an exact time (a virtual clock over HTTP) reached us: the instant
        of its first answered attempt in the simulator's delivery log. Asked now, not on arrival (the server may
        have been waiting on our answer then); None (the run counts from now) when the log cannot say."""
        reply = self.http.request("GET", f"/_rivosim/webhooks/deliveries/{delivery_id}")
        attempts = reply.json.get("attempts") if reply.ok and isinstance(reply.json, dict) else None
        for attempt in attempts or []:
            if isinstance(attempt, dict) and 200 <= (attempt.get("status_code") or 0) < 300:
                try:
                    return parse_instant(str(attempt["at"]))
                except (KeyError, ValueError):
                    return None
        return None

    def _dispatch(self, item: Inbound, rnd: int) -> None:
        customer_id = _customer_of(item.payload)
        parents: list[tuple[str, ...]] = []
        if item.cause is not None and customer_id is not None:
            parents = self._writers.get(item.cause, {}).get(customer_id, [])
        for wf in list(self.workflows.values()):
            if not wf.enabled or item.topic not in wf.topics:
                continue
            scope_values = {**item.payload, "payload": item.payload, "topic": item.topic,
                            "webhook": {"id": item.delivery_id, "topic": item.topic}}
            parent = next((c for c in parents if c.count(wf.name) >= self.loop_limit),
                          max(parents, key=len) if parents else ())
            if item.received_at is None:
                item.received_at = self._arrival(item.delivery_id)
            run = self._new_run(wf, item.topic, item.delivery_id, customer_id, parent, self._instant(),
                                received_at=item.received_at)
            run.values = scope_values
            scope = self._scope(run)
            try:
                failed = next((f for f in wf.filters if not f.test(scope)), None)
            except ExprError as exc:
                self._finish(run, "failed", error=str(exc))
                self._error("filter", str(exc), run=run)
                continue
            if failed is not None:
                self._finish(run, "filtered", detail=f"filter {failed.source!r} did not hold")
                self._emit("run", run.to_dict())
                continue
            if parent.count(wf.name) >= self.loop_limit or len(parent) >= self.max_chain:
                report = LoopReport(wf.name, parent, item.topic, item.delivery_id, customer_id,
                                    self._causes(item.cause, customer_id))
                self._finish(run, "stopped_loop", detail=report.message)
                self.loops.append(report)
                self._emit("loop", report.to_dict())
                continue
            self._execute(run, rnd)

    def _causes(self, rnd: int | None, customer_id: int | None) -> list[str]:
        out = [f"{rec.action} by {rec.workflow}#{rec.run}" for rec in self.actions
               if rec.round == rnd and rec.action in WRITE_ACTIONS and rec.ok and rec.customer_id == customer_id]
        return out[-3:] or ["a write by an earlier run"]

    def _execute(self, run: Run, rnd: int) -> None:
        scope = self._scope(run)
        actions = self.workflows[run.workflow].actions
        kind = "action"
        try:
            while run.position < len(actions):
                kind, params = next(iter(actions[run.position].items()))
                run.position += 1
                if kind == "delay":
                    run.status = "waiting"
                    run.resume_at = parse_duration(render(params, scope)).after(self.now())
                    self._emit("run", run.to_dict() | {"resume_at": _ts(run.resume_at)})
                    return
                if kind == "filter":
                    if not self._holds(params, scope):
                        self._finish(run, "filtered", detail=f"filter {params!r} did not hold")
                        self._emit("run", run.to_dict())
                        return
                    continue
                scope = self._perform(run, kind, params, scope, rnd)
        except (ActionFailed, ExprError, ValueError) as exc:
            self._finish(run, "failed", error=str(exc))
            self._error(kind, str(exc), run=run, status=getattr(exc, "status", None),
                        method=getattr(exc, "method", None), path=getattr(exc, "path", None),
                        timed_out=getattr(exc, "timed_out", False))
            self._emit("run", run.to_dict())
            return
        self._finish(run, "completed")
        self._emit("run", run.to_dict())

    def _finish(self, run: Run, status: str, *, error: str | None = None, detail: str | None = None) -> None:
        """A run ends: its status, and when (what ``workflow_latency`` measures against its receipt)."""
        run.status, run.finished_at = status, self._instant()
        if error is not None:
            run.error = error
        if detail is not None:
            run.detail = detail

    @staticmethod
    def _holds(condition: Any, scope: Scope) -> bool:
        conditions = condition if isinstance(condition, list) else [condition]
        return all(parse(str(c)).test(scope) for c in conditions)

    def _perform(self, run: Run, kind: str, params: Any, scope: Scope, rnd: int) -> Scope:
        """One action; returns the scope with its result bound (``as:`` or the action's own name)."""
        if kind == "for_each":
            items = render(params["items"], scope)
            name = params.get("as", "item")
            # ``pace``: wait this long (simulator time) between items — spacing out a bulk operation.
            pace = parse_duration(render(params["pace"], scope)).seconds if params.get("pace") else 0.0
            for index, item in enumerate(items or ()):
                if index and pace and self.sleep is not None:
                    self._pause(pace, rnd)
                inner = scope.child(**{name: item})
                for sub in params["actions"]:
                    sub_kind, sub_params = next(iter(sub.items()))
                    if sub_kind == "filter":
                        if not self._holds(sub_params, inner):
                            break
                        continue
                    inner = self._perform(run, sub_kind, sub_params, inner, rnd)
            return scope
        raw = dict(params) if isinstance(params, Mapping) else {}
        bind = raw.pop("as", kind)
        timeout = raw.pop("timeout", None)
        fields = render(raw, scope)
        trigger_customer = scope.values.get("customer")
        if "customer" not in fields and kind in CUSTOMER_ACTIONS and isinstance(trigger_customer, Mapping):
            # MESA maps the trigger's customer into each action by default; ``customer:`` overrides it.
            fields["customer"] = trigger_customer.get("id")
        outer = self._action_timeout
        if timeout is not None:
            seconds = parse_duration(render(timeout, scope)).seconds
            if seconds <= 0:
                raise ValueError(f"{kind}: timeout must be more than 0 seconds, got {timeout!r}")
            self._action_timeout = seconds
        try:
            result = getattr(self, f"_do_{kind}")(run, fields)
        finally:
            self._action_timeout = outer
        run.values[bind] = result
        return scope.child(**{bind: result})

    def _pause(self, seconds: float, rnd: int) -> None:
        """A paced loop waits ``seconds`` between items, and a waiting run does not hold the worker: the
        deliveries that arrived meanwhile run first, then the loop waits out what is left of the pause.

        The simulator's queued work runs before looking (as the runner's settling does between rounds), so
        every delivery due has landed in both modes: in-process the clock delivers it, over HTTP the
        server's sender may still be on its way."""
        assert self.sleep is not None
        until = self._instant() + timedelta(seconds=seconds)
        self.http.run_until_idle()
        with self._lock:
            queued, self.inbound = self.inbound, []
        for item in queued:
            self._dispatch(item, rnd)
        left = (until - self._instant()).total_seconds()
        if left > 0:
            self.sleep(left)
