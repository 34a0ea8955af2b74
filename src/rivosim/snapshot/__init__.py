"""Snapshot and restore of a whole simulator (or one shop): a versioned JSON document (``format.py`` checks its
envelope against ``schema/snapshot.schema.json``), the reflective codec that carries the object graph
(``codec.py`` writes, ``decode.py`` reads, over the allowlist of ``registry.py``; big collections of records go
column by column, ``tables.py``, checked against ``checks.py``), and the assembly of a simulator's sections
(``simulator.py``) or of one shop's (``shop.py``, from each service's ``export_state``/``import_state``). Sits
between the services (faults, webhooks) and the engine, which calls it."""

from __future__ import annotations

from rivosim.snapshot.codec import SnapshotError
from rivosim.snapshot.format import FORMAT, VERSION, load_document, snapshot_schema
from rivosim.snapshot.simulator import restore_simulator, take_snapshot

__all__ = ["FORMAT", "VERSION", "SnapshotError", "load_document", "restore_simulator", "snapshot_schema",
           "take_snapshot"]
