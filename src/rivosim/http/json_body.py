"""Request bodies as JSON, for every API: orjson, with the nesting limit (``MAX_JSON_DEPTH``, 64 levels) checked
first. A deeper body fails like any invalid JSON, so each API refuses it with its usual 400 in its own shape."""

from __future__ import annotations

from typing import Any

import orjson

from rivosim.kernel.json_depth import MAX_JSON_DEPTH, json_depth_exceeds

__all__ = ["MAX_JSON_DEPTH", "loads"]


def loads(raw: bytes) -> Any:
    """``orjson.loads(raw)``, refusing (``orjson.JSONDecodeError``) JSON nested deeper than 64 levels."""
    if json_depth_exceeds(raw):
        raise orjson.JSONDecodeError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "", 0)
    return orjson.loads(raw)
