"""Why a refused Rivo API key looks like a mangled copy of a real one (the seed's "copy the entire key without
extra spaces"). Surrounding whitespace never reaches a server (RFC 9110 §5.5: the gate strips it, as every
proxy does); what does survive HTTP is a space inside the key, a non-breaking space or another invisible
character picked up from a formatted page, or a key cut short."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rivosim.engine import Simulator

__all__ = ["key_problem"]


def key_problem(sim: Simulator, presented: str) -> str | None:
    """Why a refused key looks like a mangled copy of a real one, in words that help ("copy the entire key
    without extra spaces"): what survives HTTP is a space inside the key, a non-breaking space or another
    invisible character from a formatted page, or a key cut short. None when it looks like no key at all."""
    odd = next((c for c in presented if c in " \t" or not c.isascii() or not c.isprintable()), None)
    if odd is not None:
        cleaned = "".join(c for c in presented if c.isascii() and c.isprintable() and c not in " \t")
        name = {" ": "a space", "\t": "a tab", "\xa0": "a non-breaking space (U+00A0)"}.get(
            odd, f"an invisible or non-ASCII character (U+{ord(odd):04X})")
        hint = " (copied with extra spaces?)" if sim.shop_for_rivo_key(cleaned) is not None else ""
        return (f"contains {name} at position {presented.index(odd) + 1}{hint}: copy the entire key again as "
                "plain text, without extra spaces")
    keys = [shop.credentials.rivo_api_key for shop in sim.shops.values()]
    shortest = min((len(k) for k in keys), default=0)
    if presented and len(presented) < shortest:
        part = any(presented in key for key in keys)
        return (f"is {len(presented)} characters long, shorter than an API key ({shortest} characters)"
                f"{': it is part of a key' if part else ''}; copy the entire key again")
    return None
