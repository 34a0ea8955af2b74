"""Keeps ``benchmarks/plugin.py`` from rotting: its two measurements, at the smallest sizes."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_plugin_benchmark_smoke() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    bench = importlib.import_module("benchmarks.plugin")
    main = importlib.import_module("benchmarks.__main__")
    assert main.SECTIONS["plugin"] is not None
    ms = bench.per_test_ms(["plugin"], count=8, repeats=1)
    assert 0 < ms["plugin"] < 1000
    ours, base, whole = bench.server_start_stop(1)
    assert 0 < ours < 5 and 0 < base < 5 and whole >= ours
