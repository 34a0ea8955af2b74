"""The loyalty state machine over the public API (see ``rivosim.testing.machine``)."""

from __future__ import annotations

from rivosim.testing import LoyaltyMachine

TestLoyaltyMachine = LoyaltyMachine.TestCase
