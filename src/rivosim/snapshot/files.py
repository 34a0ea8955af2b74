"""Snapshot files: ``rivosim serve --state FILE`` reads one at start, ``--save-state FILE`` writes one on a clean
shutdown. Written atomically — a temporary file next to the target, flushed to disk, then renamed over it — so
a crash mid-write leaves the previous file whole, never a truncated one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from rivosim.snapshot.codec import SnapshotError

__all__ = ["load_for_serve", "read_state_file", "save_for_serve", "write_atomically", "write_state_file"]


def write_atomically(path: str | Path, data: bytes) -> None:
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_state_file(sim: Any, path: str | Path, *, journal: bool = True) -> int:
    """Save ``sim`` (with its journal unless told otherwise) to ``path``; returns the file's size in bytes."""
    data = orjson.dumps(sim.snapshot(journal=journal))
    write_atomically(path, data)
    return len(data)


def read_state_file(sim: Any, path: str | Path) -> str:
    """Restore ``sim`` from the snapshot file ``path`` (refusals name the file); returns the snapshot's scope."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return sim.restore(data)  # type: ignore[no-any-return]
    except SnapshotError as exc:
        raise SnapshotError(f"{path}: {exc}") from exc


def load_for_serve(sim: Any, path: str) -> str | None:
    """``rivosim serve --state``: None once restored, else why not (the server then does not start)."""
    try:
        read_state_file(sim, path)
    except SnapshotError as exc:
        return str(exc)
    return None


def save_for_serve(sim: Any, path: str) -> str:
    """``rivosim serve --save-state`` at shutdown: what happened, as a line for the log. A failed save never
    hides the shutdown (nor blocks it)."""
    try:
        size = write_state_file(sim, path)
    except Exception as exc:
        return f"rivosim: could not save the state to {path}: {exc}"
    return f"rivosim: state saved to {path} ({size} bytes)"
