"""Value rules every Shopify resource shares: money amounts (exact decimals, cents) and tags (shopify-api.md §5)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rivosim.domain.numbers import parse_decimal
from rivosim.kernel.errors import ValidationFailed

__all__ = [
    "CENT",
    "MAX_CUSTOMER_TAGS",
    "MAX_CUSTOMER_TAG_LENGTH",
    "MAX_MONEY",
    "MAX_ORDER_TAG_LENGTH",
    "money",
    "normalize_tags",
]

CENT = Decimal("0.01")
MAX_CUSTOMER_TAGS = 250
MAX_CUSTOMER_TAG_LENGTH = 255
MAX_ORDER_TAG_LENGTH = 40
MAX_MONEY = Decimal("1000000000")  # per amount; 250 lines x 10,000 units of this still fit Decimal's precision


def money(value: Any, field: str = "amount") -> Decimal:
    """A non-negative money amount rounded to cents; refuses anything that is not a number."""
    return parse_decimal(value, field, low=Decimal(0), high=MAX_MONEY).quantize(CENT, rounding=ROUND_HALF_UP)


def normalize_tags(raw: str | Iterable[str] | None, *, case_sensitive: bool = False, sort: bool = True,
                   max_count: int | None = MAX_CUSTOMER_TAGS, max_length: int = MAX_CUSTOMER_TAG_LENGTH,
                   field: str = "tags") -> list[str]:
    """Shopify's tag rules (shopify-api.md §5): split on commas, trim, drop empties, de-duplicate
    (case-insensitively unless configured), keep the first casing seen, optionally sort."""
    if raw is None:
        return []
    if isinstance(raw, str):
        pieces = raw.split(",")
    else:
        pieces = []
        for item in raw:
            if not isinstance(item, str):
                raise ValidationFailed(f"{field} must be strings", field=field)
            pieces.extend(item.split(","))
    seen: set[str] = set()
    out: list[str] = []
    for piece in pieces:
        tag = piece.strip()
        if not tag:
            continue
        if len(tag) > max_length:
            raise ValidationFailed(f"{field}: tag {tag[:20]!r}... is longer than {max_length} characters",
                                   field=field)
        key = tag if case_sensitive else tag.casefold()
        if key in seen:
            continue
        seen.add(key)
        out.append(tag)
    if max_count is not None and len(out) > max_count:
        raise ValidationFailed(f"{field}: a customer can have at most {max_count} tags", field=field)
    if sort:
        out.sort(key=str.casefold)
    return out
