"""How deep a JSON text nests, measured on the bytes before any parser recurses into them.

Every API here refuses JSON that nests deeper than :data:`MAX_JSON_DEPTH` (64) levels with a 400 in its own
shape; the journal keeps such a body but shows no parse of it. Without the limit a 1,000-deep body was refused by
the API yet broke every later read of the journal (``RecursionError`` re-encoding it).
"""

from __future__ import annotations

import re

__all__ = ["MAX_JSON_DEPTH", "json_depth_exceeds"]

MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``raw`` opens more than ``limit`` arrays/objects inside one another. Cheap for
    ordinary bodies: only when ``raw`` holds more than ``limit`` opening brackets at all are strings skipped and
    the nesting counted."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
