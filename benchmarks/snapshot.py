"""Snapshot and restore of 100,000 customers (issue 17): the snapshot's size and the time to take it, and the
time to restore it into a fresh simulator, next to the time to seed the same customers and the RSS they take.

Each measurement runs in a fresh subprocess (``python -m benchmarks.snapshot seed|restore N FILE``), seeding and
restoring interleaved, repeated, the median reported (the machine is shared: single runs are noisy). Targets:
restore <= 2x the seeding time, file <= 2x the seeded customers' RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ._common import PYTHON, ROOT, Figure, child_env, median, rss_kb

__all__ = ["run"]

CONFIG = {"domain": "big.myshopify.com", "rate_limits": {"rivo": {"enabled": False}}}


def _seed(count: int, path: str) -> dict[str, float]:
    import orjson

    from rivosim import Simulator

    sim = Simulator(seed=1)
    before = rss_kb()
    started = time.perf_counter()
    sim.create_shop(CONFIG, customers=count)
    seeded = time.perf_counter() - started
    grown = rss_kb() - before
    started = time.perf_counter()
    data = orjson.dumps(sim.snapshot())
    Path(path).write_bytes(data)
    saved = time.perf_counter() - started
    return {"seed_s": seeded, "rss_kb": grown, "snapshot_s": saved, "bytes": len(data)}


def _restore(path: str) -> dict[str, float]:
    from rivosim import Simulator

    sim = Simulator()
    started = time.perf_counter()
    sim.restore(Path(path).read_bytes())
    return {"restore_s": time.perf_counter() - started, "customers": len(sim.shops["big.myshopify.com"].rivo.members)}


def _child(*args: str) -> dict[str, float]:
    out = subprocess.run([PYTHON, "-m", "benchmarks.snapshot", *args], cwd=ROOT, env=child_env(),
                         capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(quick: bool, say: Callable[[str], None]) -> list[Figure]:
    count = 20_000 if quick else 100_000
    rounds = 1 if quick else 5
    seeds: list[dict[str, float]] = []
    restores: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "snapshot.json")
        for i in range(rounds):  # interleaved: seed (and save), then restore that file, each in a fresh process
            say(f"snapshot: round {i + 1}/{rounds}, {count:,} customers")
            seeds.append(_child("seed", str(count), path))
            restored = _child("restore", path)
            assert restored["customers"] == count, restored
            restores.append(restored["restore_s"])
    seed_s = median([s["seed_s"] for s in seeds])
    rss_mb = median([s["rss_kb"] for s in seeds]) / 1024
    size_mb = median([s["bytes"] for s in seeds]) / 1e6
    snapshot_s = median([s["snapshot_s"] for s in seeds])
    restore_s = median(restores)
    # Ratios: the median of each round's own ratio (a round's seed and restore ran back to back, under one load).
    restore_ratio = median([r / s["seed_s"] for r, s in zip(restores, seeds, strict=True)])
    size_ratio = median([s["bytes"] / 1e6 / (s["rss_kb"] / 1024 * 1.048576) for s in seeds])
    snapshot_ratio = median([s["snapshot_s"] / s["seed_s"] for s in seeds])
    note = f"{count:,} customers, median of {rounds} interleaved runs in fresh processes (ratios: of each run's own)"
    return [
        Figure(f"restore {count // 1000}k customers", f"{restore_s:.2f} s", f"seed {seed_s:.2f} s",
               f"{restore_ratio:.2f}x", "<= 2x", restore_ratio <= 2, note),
        Figure(f"snapshot file {count // 1000}k customers", f"{size_mb:.0f} MB", f"RSS {rss_mb:.0f} MB",
               f"{size_ratio:.2f}x", "<= 2x", size_ratio <= 2),
        Figure(f"take snapshot {count // 1000}k customers", f"{snapshot_s:.2f} s", f"seed {seed_s:.2f} s",
               f"{snapshot_ratio:.2f}x", "info", None),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.snapshot")
    parser.add_argument("mode", choices=("seed", "restore"))
    parser.add_argument("args", nargs="+")
    ns = parser.parse_args(argv)
    result = _seed(int(ns.args[0]), ns.args[1]) if ns.mode == "seed" else _restore(ns.args[0])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
