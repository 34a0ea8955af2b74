"""The ``LoyaltyMachine``'s rules for what happens around the shop rather than in it: clock jumps and
``run_until_idle`` (checked against the period boundaries the model expects), the webhook receiver going down
and coming back, and faults armed and disarmed through the control API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from rivosim.testing import strategies as rs
from rivosim.testing.machine_program import ProgramModel

__all__ = ["EnvironmentRules"]


class EnvironmentRules(ProgramModel):
    """Time, the receiver and injected faults."""

    def _moved_clock(self, resp: Any, before: datetime) -> None:
        """The clock moved from ``before``: exactly what the model's period boundaries in between fire."""
        assert resp.status_code == 200, resp.get_json()
        after = datetime.fromisoformat(resp.get_json()["now"])
        assert after >= before
        self.expect(self._boundaries(before, after), per_customer=True)

    @precondition(lambda self: self._ready)
    @rule(step=rs.time_steps(max_days=400))
    def advance_clock(self, step: int | str) -> None:
        before = self.now()
        body = {"seconds": step} if isinstance(step, int) else {"duration": step}
        self._moved_clock(self.control("POST", "/clock/advance", body), before)

    @precondition(lambda self: self._ready)
    @rule()
    def run_until_idle(self) -> None:
        before = self.now()
        self._moved_clock(self.control("POST", "/run_until_idle"), before)

    @precondition(lambda self: self._ready)
    @rule(healthy=st.booleans())
    def receiver(self, healthy: bool) -> None:
        self.receiver_healthy = healthy

    @precondition(lambda self: self._ready)
    @rule(data=st.data())
    def toggle_fault(self, data: st.DataObject) -> None:
        """Arm a fault on one of the routes the machine calls (``POST /_rivosim/faults``), or disarm one.
        Only faults that stop a request before its view: what they touch must change nothing."""
        if self.fault_ids and data.draw(st.booleans(), label="disarm"):
            rule_id = self.fault_ids.pop(data.draw(st.integers(0, len(self.fault_ids) - 1), label="which"))
            resp = self.control("DELETE", f"/faults/{rule_id}")
            assert resp.status_code == 200, resp.get_json()
            return
        fault = data.draw(rs.fault_rules(kinds=self.FAULT_KINDS, shop=self.DOMAIN, routes=self.FAULT_ROUTES),
                          label="fault")
        resp = self.control("POST", "/faults", fault)
        assert resp.status_code == 201, resp.get_json()
        self.fault_ids.append(resp.get_json()["id"])
