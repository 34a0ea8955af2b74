"""Snapshot files: ``rivosim serve --state FILE`` reads one at start, ``--save-state FILE`` writes one on a clean
shutdown. Written atomically — a temporary file next to the target, flushed to disk, then renamed over it — so
a crash mid-write leaves the previous file whole, never a truncated one."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from rivosim.snapshot.codec import SnapshotError

__all__ = ["add_serve_flags", "load_for_serve", "read_state_file", "save_for_serve", "write_atomically",
           "write_state_file"]


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


def add_serve_flags(serve: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``rivosim serve --state FILE --save-state FILE``."""
    serve.add_argument("--state", metavar="FILE", help="start from this snapshot (GET /_rivosim/snapshot)")
    serve.add_argument("--save-state", metavar="FILE", help="save everything here on a clean shutdown (Ctrl-C, TERM)")
    return serve


def load_for_serve(sim: Any, path: str | None) -> Any:
    """``rivosim serve --state``: ``sim`` restored from ``path`` (when given); a refused file stops the command
    (exit status 2) saying why."""
    if path:
        try:
            read_state_file(sim, path)
        except SnapshotError as exc:
            print(f"rivosim serve --state: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
    return sim


def save_for_serve(sim: Any, path: str | None) -> None:
    """``rivosim serve --save-state`` at shutdown (when given): says on stderr what happened. A failed save never
    hides the shutdown (nor blocks it)."""
    if not path:
        return
    try:
        size = write_state_file(sim, path)
    except Exception as exc:
        print(f"rivosim: could not save the state to {path}: {exc}", file=sys.stderr, flush=True)
    else:
        print(f"rivosim: state saved to {path} ({size} bytes)", file=sys.stderr, flush=True)
