"""A MESA-style workflow client: the consumer side of Rivo's triggers and actions, built like a real
integration so it meets what any client meets.

- It **subscribes** through the Rivo ``webhooks`` API with the shop's API key (one subscription per topic, as
  Rivo allows; workflows sharing a trigger share it), **receives** deliveries over HTTP (or, in-process, from a
  ``Sender`` plugged into ``sim.use_sender``), **verifies** their signatures with its own stdlib code written
  from Rivo's documentation (``workflows.signatures``, never rivosim's signer), **checks** every payload against
  its topic's JSON Schema (``rivosim/schema/webhooks/``) and **de-duplicates** them by ``rivo-webhook-id``
  unless told not to.
- Workflows: a ``trigger`` (a topic, a list of topics, or a ``schedule``), ``filters`` (expressions on the
  payload: ``points_diff > 0``, ``vip_tier.name == "Gold"``, ``has_tag(customer.shopify_tags, "VIP")``) and
  ``actions``: the eleven Rivo actions of the MESA connector, each one REST call (or two) with the shop's key,
  plus recorded ``send_email``/``send_sms``, ``delay``, ``filter`` and ``for_each``.
- A receipt is acknowledged at once and the workflow runs afterwards (``process_round``), as a real workflow
  tool does: the runner decides when rounds run, so nothing sleeps and the virtual clock stays in charge.
- **Loop guard**: a delivery caused by a workflow's own write (grant points → ``points_event/created`` → the same
  workflow) is attributed to the run that wrote; a workflow that would run again inside its own causal chain
  is stopped and reported instead of looping forever.
"""

from __future__ import annotations

from rivosim.workflows.client import WorkflowClient
from rivosim.workflows.model import (
    ACTIONS,
    MESA_TRIGGERS,
    WRITE_ACTIONS,
    ActionRecord,
    ClientError,
    LoopReport,
    Message,
    Run,
    Schedule,
    Workflow,
)
from rivosim.workflows.receivers import HttpReceiver, InProcessReceiver

__all__ = [
    "ACTIONS",
    "MESA_TRIGGERS",
    "WRITE_ACTIONS",
    "ActionRecord",
    "ClientError",
    "HttpReceiver",
    "InProcessReceiver",
    "LoopReport",
    "Message",
    "Run",
    "Schedule",
    "Workflow",
    "WorkflowClient",
]
