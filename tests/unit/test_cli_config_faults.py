"""``rivosim serve --config FILE``: top-level ``faults`` next to ``shops`` and ``seed`` (and ``journal_cap``),
validated before anything is made, with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from rivosim.cli import build_simulator, load_config_file

CONFIG = """\
seed: 9
journal_cap: 50
shops:
  - domain: flaky.myshopify.com
    faults:
      - match: {route: rivo.rewards.list}
        action: {type: error, status: 503, retry_after: 2}
  - domain: calm.myshopify.com
faults:
  - id: slow-customers
    match: {api: rivo, route: "rivo.customers.*"}
    action: {type: latency, distribution: lognormal, median_ms: 80, sigma: 0.4}
    probability: 0.5
"""


def test_top_level_faults_and_shop_faults(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(CONFIG, "utf-8")
    loaded = load_config_file(path)
    assert loaded["seed"] == 9 and loaded["journal_cap"] == 50 and len(loaded["faults"]) == 1
    sim = build_simulator(seed=0, clock="virtual", demo=False, customers=0, config=str(path))
    assert sim.seed == 9 and sim.journal.cap == 50
    rules = {r.id: r for r in sim.faults.rules}
    assert rules["slow-customers"].origin == "config" and rules["slow-customers"].probability == 0.5
    scoped = rules["flaky.myshopify.com:fault-1"]
    assert scoped.match["shop"] == "flaky.myshopify.com" and scoped.origin == "shop:flaky.myshopify.com"


def test_a_file_of_rules_only(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n  - action: {type: reset}\n", "utf-8")
    sim = build_simulator(seed=1, clock="virtual", demo=False, customers=0, config=str(path))
    assert [r.kind for r in sim.faults.rules] == ["reset"] and sim.shops == {}


@pytest.mark.parametrize(("text", "message"), [
    ("faults:\n  - action: {type: latency}\n", "faults[0].action.ms"),
    ("shops: []\nfaults:\n  - action: {type: reset}\n    colour: red\n", "faults[0].colour"),
    ("shops:\n  - faults:\n      - action: {type: nope}\n", "shops[0].faults[0].action.type"),
    ("shops: []\njournal_cap: 0\n", "journal_cap"),
    ("shops: []\nextra: 1\n", "unknown top-level key 'extra'"),
])
def test_bad_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(SystemExit) as info:
        load_config_file(path)
    assert message in str(info.value) and str(path) in str(info.value)
