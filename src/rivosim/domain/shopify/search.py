"""Shopify's customer search syntax (``customers/search.json?query=…``, GraphQL ``customers(query:)``).

Terms are ``field:value`` joined by spaces (all must match), ``OR`` between groups, ``-field:value`` negates,
``*`` is a wildcard, values may be quoted, and numbers and dates compare with ``>``, ``>=``, ``<``, ``<=``
(shopify-api.md §1.2: ``email:*@mail.example.com``, ``customer_tag:New Customer``). A value runs on over the
bare words after it up to the next ``field:`` term, so the official example ``customer_tag:New Customer``
means the tag "New Customer". Words before any field match names, email and tags. Unknown fields match
nothing, as a search for an attribute no customer has.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from rivosim.domain.shopify.models import ShopifyCustomer

__all__ = ["CustomerMatcher", "parse_customer_query"]

CustomerMatcher = Callable[[ShopifyCustomer], bool]

_TOKEN = re.compile(r'"[^"]*"|\S+')
_FIELD = re.compile(r"^(-?)([a-z_]+):(.*)$", re.IGNORECASE)
_COMPARE = re.compile(r"^(>=|<=|>|<)(.*)$")


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _text_matcher(value: str) -> Callable[[str | None], bool]:
    """Case-insensitive equality, or a wildcard pattern when the value has ``*``."""
    wanted = value.casefold()
    if "*" in wanted:
        pattern = re.compile("^" + ".*".join(re.escape(part) for part in wanted.split("*")) + "$", re.DOTALL)
        return lambda text: text is not None and pattern.match(text.casefold()) is not None
    return lambda text: text is not None and text.casefold() == wanted


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _instant(text: str) -> datetime | date | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _compare(op: str, left: object, right: object) -> bool:
    try:
        if op == ">":
            return left > right  # type: ignore[operator, no-any-return]
        if op == ">=":
            return left >= right  # type: ignore[operator, no-any-return]
        if op == "<":
            return left < right  # type: ignore[operator, no-any-return]
        if op == "<=":
            return left <= right  # type: ignore[operator, no-any-return]
        return left == right
    except TypeError:
        return False


def _term(field: str, raw: str) -> CustomerMatcher:
    field = field.casefold()
    value = _unquote(raw.strip())
    if field in ("email", "first_name", "last_name", "phone", "state", "note"):
        match = _text_matcher(value)
        return lambda c: match(getattr(c, field))
    if field in ("tag", "customer_tag", "tag_not"):
        match = _text_matcher(value)
        found: CustomerMatcher = lambda c: any(match(t) for t in c.tags)  # noqa: E731
        return (lambda c: not found(c)) if field == "tag_not" else found
    if field in ("verified_email", "accepts_marketing"):
        flag = value.casefold() == "true"
        return lambda c: bool(getattr(c, field)) is flag
    compare = _COMPARE.match(value)
    op, operand = (compare.group(1), compare.group(2)) if compare else ("=", value)
    if field in ("id", "orders_count", "total_spent"):
        number = _number(operand)
        if number is None:
            return lambda c: False
        return lambda c: _compare(op, Decimal(getattr(c, field)), number)
    if field in ("created_at", "updated_at", "customer_date"):
        attr = "created_at" if field == "customer_date" else field
        instant = _instant(operand)
        if instant is None:
            return lambda c: False
        if isinstance(instant, datetime) and instant.tzinfo is not None:
            return lambda c: _compare(op, getattr(c, attr), instant)
        day = instant.date() if isinstance(instant, datetime) else instant
        return lambda c: _compare(op, getattr(c, attr).date(), day)
    return lambda c: False


def _free_text(word: str) -> CustomerMatcher:
    needle = _unquote(word).casefold()
    if "*" in needle:
        match = _text_matcher(needle)
        return lambda c: any(match(x) for x in (c.first_name, c.last_name, c.email, *c.tags))

    def matcher(c: ShopifyCustomer) -> bool:
        for text in (c.first_name, c.last_name, c.email):
            if text and needle in text.casefold():
                return True
        return any(needle in tag.casefold() for tag in c.tags)

    return matcher


def _group(tokens: list[str]) -> CustomerMatcher:
    terms: list[CustomerMatcher] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.upper() == "AND":
            continue
        fielded = _FIELD.match(token) if not token.startswith('"') else None
        if fielded is None:
            terms.append(_free_text(token))
            continue
        negate, field, value = fielded.groups()
        # The value runs on over bare words until the next field:value term (see the module docstring).
        while i < len(tokens) and _FIELD.match(tokens[i]) is None and tokens[i].upper() not in ("AND", "OR"):
            value = f"{value} {tokens[i]}" if value else tokens[i]
            i += 1
        matcher = _term(field, value)
        terms.append((lambda m: lambda c: not m(c))(matcher) if negate else matcher)
    return lambda c: all(term(c) for term in terms)


def parse_customer_query(query: str) -> CustomerMatcher:
    """A predicate for ``query``; an empty query matches every customer."""
    tokens = _TOKEN.findall(query or "")
    groups: list[list[str]] = [[]]
    for token in tokens:
        if token == "OR":
            groups.append([])
        else:
            groups[-1].append(token)
    matchers = [_group(g) for g in groups if g]
    if not matchers:
        return lambda c: True
    return lambda c: any(m(c) for m in matchers)
