"""The example clients under ``examples/`` pass their own tests, written with the rivosim pytest plugin (the
suite's ``testpaths`` do not reach them, so this runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if any(p.glob("test_*.py"))))
def test_example_suite_passes(pytester: pytest.Pytester, example: str) -> None:
    result = pytester.runpytest_subprocess(str(EXAMPLES / example), "-p", "no:cacheprovider", "-q")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 0 and not outcomes.get("failed") and not outcomes.get("errors"), \
        result.stdout.str()
