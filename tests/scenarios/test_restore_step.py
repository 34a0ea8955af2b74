"""The scenario step ``restore: FILE``: a troubleshooting case saved as a snapshot opens a scenario, whose later
steps act on the restored shop with its restored keys; a snapshot without the scenario's shop fails the step
saying so, and a missing file is a load error at its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import orjson
import pytest

from rivosim import Simulator, create_app
from rivosim.scenarios.loader import LoadError, load_scenario
from rivosim.scenarios.runner import run_scenario

CASE_DOMAIN = "restore-case.myshopify.com"


def _save_case(path: Path, domain: str = CASE_DOMAIN) -> str:
    sim = Simulator(seed=21)
    shop = sim.create_shop({"domain": domain, "plan": "plus"})
    client = create_app(sim).test_client()
    made = client.post(f"/_rivosim/shops/{domain}/customers", json={"email": "saved@example.com",
                                                                    "visibility_delay": 0})
    assert made.status_code == 201
    sim.advance("P2D")
    path.write_bytes(orjson.dumps(sim.snapshot(journal=True)))
    return shop.credentials.rivo_api_key


def _scenario(tmp_path: Path, body: str) -> Path:
    target = tmp_path / "case.yaml"
    target.write_text(textwrap.dedent(body))
    return target


SCENARIO = """\
    name: restore-case
    seed: 3
    steps:
      - restore: saved/case.json
      - http:
          method: GET
          path: /merchant_api/v1/customers
          expect: {status: 200, json: {data: [{attributes: {email: saved@example.com}}]}}
      - http:
          method: GET
          path: /_rivosim/clock
          expect: {status: 200, json: {now: "2026-01-03T00:00:00+00:00"}}
      - advance: P1D
    """


def test_a_saved_case_opens_a_scenario(tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    _save_case(tmp_path / "saved" / "case.json")
    scenario = load_scenario(_scenario(tmp_path, SCENARIO))
    result = run_scenario(scenario)
    assert result.failure is None, result.failure


def test_a_snapshot_without_the_scenario_s_shop_fails_the_step(tmp_path: Path) -> None:
    (tmp_path / "saved").mkdir()
    _save_case(tmp_path / "saved" / "case.json", domain="someone-else.myshopify.com")
    scenario = load_scenario(_scenario(tmp_path, SCENARIO))
    result = run_scenario(scenario)
    assert result.failure is not None
    assert "has no shop restore-case.myshopify.com" in result.failure.message


def test_a_missing_snapshot_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        load_scenario(_scenario(tmp_path, SCENARIO))
    assert "no snapshot file 'saved/case.json'" in str(info.value)
    assert ":4:" in str(info.value)
