"""Reading numbers and flags as every API here receives them — JSON values, or the text form-encoded bodies
carry — and refusing, with the field's name, anything a field cannot take (never a 500)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from rivosim.kernel.errors import ValidationFailed

__all__ = ["int_text", "parse_bool", "parse_decimal", "parse_int", "parse_optional_int"]

_INT_TEXT = re.compile(r"-?[0-9]{1,30}")
# A decimal as text: ASCII digits, an optional sign, point and exponent; nothing around it. Decimal() itself also
# takes other scripts' digits ("١٢" is 12) and surrounding spaces, which no API here accepts.
_DECIMAL_TEXT = re.compile(r"[-+]?(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})(?:[eE][-+]?[0-9]{1,4})?")


def int_text(text: str) -> int | None:
    """The integer a form-encoded field spells (``"42"``, ``"-5"``), else None. ASCII digits only and nothing
    around them: ``"²".isdigit()`` is true but ``int()`` refuses it, ``int(" 5")`` and ``int("١٢")`` accept what
    the APIs refuse, and a 5000-digit string would exceed int()'s limit."""
    return int(text) if _INT_TEXT.fullmatch(text) else None


def parse_int(value: Any, field: str, *, low: int = -100_000_000, high: int = 100_000_000) -> int:
    if isinstance(value, str):
        value = int_text(value)  # None (refused below) unless it spells an integer
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be an integer", field=field)
    if not low <= value <= high:
        raise ValidationFailed(f"{field} must be between {low} and {high}", field=field)
    return value


def parse_optional_int(value: Any, field: str, *, low: int = -100_000_000, high: int = 100_000_000) -> int | None:
    return None if value is None else parse_int(value, field, low=low, high=high)


def parse_decimal(value: Any, field: str, *, low: Decimal | None, high: Decimal) -> Decimal:
    """A finite decimal within ``[low, high]`` (``low=None``: negative amounts allowed down to ``-high``)."""
    if isinstance(value, bool):
        raise ValidationFailed(f"{field} must be a number", field=field)
    text = str(value)
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(text):
        raise ValidationFailed(f"{field} must be a number (ASCII digits, nothing around them), got {value!r}",
                               field=field)
    try:
        out = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(f"{field} must be a number, got {value!r}", field=field) from exc
    if not out.is_finite():
        raise ValidationFailed(f"{field} must be a finite number", field=field)
    if low is not None and out < low:
        raise ValidationFailed(f"{field} must be a non-negative number" if low == 0
                               else f"{field} must be at least {low}", field=field)
    # The upper bound also keeps later quantize() inside Decimal's precision ("1e999" would raise there).
    if abs(out) > high:
        raise ValidationFailed(f"{field} must be at most {high}", field=field)
    return out


def parse_bool(value: Any, field: str, *, numeric_text: bool = False) -> bool:
    """``true``/``false`` as JSON or text (and ``1``/``0`` as text where the API takes them)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false") or (numeric_text and text in ("1", "0")):
            return text in ("true", "1")
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be true or false", field=field)
    return value
