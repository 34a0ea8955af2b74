"""House rule 1: the domain and the kernel import no web or YAML library, and nothing reads the wall clock or
module-level randomness except ``clock.py``'s WallClock. Checked on the source with ``ast``, so an unused code
path cannot hide a violation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rivosim

PACKAGE = Path(rivosim.__file__).parent
DOMAIN = sorted((PACKAGE / "domain").rglob("*.py"))
KERNEL = [*sorted((PACKAGE / "kernel").rglob("*.py")), PACKAGE / "engine.py"]
FORBIDDEN_IMPORTS = {"flask", "werkzeug", "requests", "responses", "yaml", "httptools", "uvloop"}
WALL_CLOCK_CALLS = {("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter"),
                    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
# ``random.Random(seed)`` is how seeded streams are made; every other module-level function uses hidden state.
RANDOM_ALLOWED = {"Random"}


def rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text("utf-8"), filename=str(path))


def imported_roots(module: ast.Module) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def dotted(node: ast.expr) -> list[str]:
    """``datetime.datetime.now`` -> ["datetime", "datetime", "now"]; anything not a plain name chain -> []."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return []


def wall_clock_reads(module: ast.Module) -> list[str]:
    """Calls (or bare references, e.g. a ``time.time`` default argument) that read the wall clock or global
    randomness, plus ``from time import time``-style imports of them."""
    found: list[str] = []
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute):
            chain = dotted(node)
            if len(chain) >= 2 and (chain[-2], chain[-1]) in WALL_CLOCK_CALLS:
                found.append(f"{'.'.join(chain)} (line {node.lineno})")
            if len(chain) == 2 and chain[0] == "random" and chain[1] not in RANDOM_ALLOWED:
                found.append(f"{'.'.join(chain)} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module in ("time", "random"):
            for alias in node.names:
                if node.module == "random" and alias.name in RANDOM_ALLOWED:
                    continue
                if node.module == "random" or ("time", alias.name) in WALL_CLOCK_CALLS:
                    found.append(f"from {node.module} import {alias.name} (line {node.lineno})")
    return found


def test_the_module_lists_are_not_empty() -> None:
    assert len(DOMAIN) >= 10
    assert all(path.exists() for path in KERNEL)


@pytest.mark.parametrize("path", DOMAIN + KERNEL, ids=rel)
def test_no_web_or_yaml_imports(path: Path) -> None:
    bad = imported_roots(tree(path)) & FORBIDDEN_IMPORTS
    assert not bad, f"{rel(path)} imports {sorted(bad)}: the domain and kernel stay free of transport libraries"


@pytest.mark.parametrize("path", DOMAIN + [p for p in KERNEL if p != PACKAGE / "kernel" / "clock.py"], ids=rel)
def test_no_wall_clock_or_global_randomness(path: Path) -> None:
    found = wall_clock_reads(tree(path))
    assert not found, f"{rel(path)} reads the wall clock or global randomness: {found}; use ctx.now() / ctx.rng"


def test_the_only_wall_clock_read_is_the_wall_clocks_source() -> None:
    module = tree(PACKAGE / "kernel" / "clock.py")
    wall = [n for n in module.body if isinstance(n, ast.ClassDef) and n.name == "WallClock"]
    rest = ast.Module(body=[n for n in module.body if n not in wall], type_ignores=[])
    assert wall_clock_reads(rest) == []
    reads = wall_clock_reads(wall[0])  # type: ignore[arg-type]
    assert reads and all(r.startswith("time.time ") for r in reads), reads


def test_the_checker_catches_violations() -> None:
    sample = ast.parse(
        "import time, random\n"
        "from datetime import datetime, date\n"
        "from random import choice\n"
        "import flask.json\n"
        "def f():\n"
        "    time.time(); datetime.now(); datetime.datetime.utcnow(); date.today(); random.randint(1, 2)\n"
        "    random.Random(5)\n"
    )
    found = wall_clock_reads(sample)
    assert any(s.startswith("time.time ") for s in found)
    assert any(s.startswith("datetime.now ") for s in found)
    assert any(s.startswith("datetime.datetime.utcnow ") for s in found)
    assert any(s.startswith("date.today ") for s in found)
    assert any(s.startswith("random.randint ") for s in found)
    assert any(s.startswith("from random import choice") for s in found)
    assert not any("random.Random" in s for s in found)
    assert "flask" in imported_roots(sample)
