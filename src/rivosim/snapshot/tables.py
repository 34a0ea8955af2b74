"""Tables (format version 2): a large collection of records of one class — a shop's members and customers, its
ledger — written column by column instead of one tagged object per record.

``{"$table": "module:Class", "fields": [...], "kinds": [...], "columns": [[...], ...]}`` stands for a list of
those records (with ``"keys": [kind, [...]]``, for a dict of them). Each column has a kind: ``raw`` (JSON
scalars as they are), ``dt`` (ISO-8601 strings or null: datetimes in UTC or naive), ``dec`` (decimal strings or
null), ``tuple`` or ``list`` (arrays of strings or booleans: tags) or ``node`` (each value a codec node, ``codec.py``).
So the field names are written once, a column of datetimes or decimals is read with one conversion, and no
per-record reflection runs on either side. (The encoder and decoder come in as arguments: this module sits
below both.)

Only records met nowhere else go in a table (shared ones keep their ``$id``), so identity is kept. Restore
checks every column against the field's annotation (a whole column at a time, by the set of its value types)
and builds the records with the dataclass's generated ``__init__`` when it only assigns fields (no
``__post_init__``, every field an ``init`` field): still no code from the file, only field values.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from typing import Any

from rivosim.snapshot.checks import field_checks
from rivosim.snapshot.errors import SnapshotError, slots_of

__all__ = ["TABLE_MIN", "decode_table", "encode_table"]

TABLE_MIN = 16  # smaller collections stay objects: a table's header would not pay for itself
RAW, DT, DEC, TUPLE, LIST, NODE = "raw", "dt", "dec", "tuple", "list", "node"
_NONE = type(None)
_RAW_TYPES = frozenset({str, bool, int, float, _NONE})
_PLAIN_TYPES = frozenset({str, bool})  # what a tuple column's tuples may hold (tags, names)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_TZINFO = attrgetter("tzinfo")
_MISSING = object()


# -- encoding ---------------------------------------------------------------------------------------------------
def encode_table(encoder: Any, container: Any, values: list[Any], keys: list[Any] | None,
                 where: str) -> dict[str, Any] | None:
    """``container`` (a list, or a dict with these ``keys``) of ``values`` as a table node, or None when they
    cannot be one (too few, of several classes, one written already, not a plain record)."""
    if len(values) < TABLE_MIN:
        return None
    cls = type(values[0])
    if cls not in encoder.reg.class_names or issubclass(cls, deque | type | BaseException):
        return None
    names = _record_fields(cls, values[0])
    if names is None:
        return None
    refs, externals, constants = encoder.refs, encoder.externals, encoder.reg.constant_names
    for value in values:
        key = id(value)
        if type(value) is not cls or key in refs or key in externals or key in constants:
            return None
    rows = _rows(cls, names, values)
    if rows is None:
        return None
    # Numbered before anything inside is written, so a record that refers back to it finds its $id.
    node: dict[str, Any] = encoder.number(container, {"$table": encoder.reg.class_names[cls]})
    node["fields"] = list(names)
    shared = encoder.shared
    if any(id(value) in shared for value in values):  # records met again elsewhere: their $ids, in row order
        node["ids"] = [encoder.identify(value) for value in values]
    if keys is not None:
        node["keys"] = list(encode_column(encoder, keys, where))
    kinds, columns = [], []
    for column in zip(*rows, strict=True):
        kind, encoded = encode_column(encoder, column, where)
        kinds.append(kind)
        columns.append(encoded)
    node["kinds"], node["columns"] = kinds, columns
    return node


def _record_fields(cls: type, sample: Any) -> tuple[str, ...] | None:
    slots = slots_of(cls)
    if hasattr(sample, "__dict__"):
        return None if slots else tuple(vars(sample))
    return slots if len(slots) >= 2 else None


def _rows(cls: type, names: tuple[str, ...], values: list[Any]) -> list[tuple[Any, ...]] | None:
    if slots_of(cls):
        try:
            return list(map(attrgetter(*names), values))  # a slot left unset: not a table
        except AttributeError:
            return None
    rows = []
    for value in values:
        attrs = vars(value)
        if tuple(attrs) != names:
            return None
        rows.append(tuple(attrs.values()))
    return rows


def _isoformats(column: Any, memo: dict[Any, Any]) -> list[str | None]:
    """Each datetime (UTC or naive) of a column as ISO-8601, each datetime object formatted once in a pass (a
    record's created, visible, changed-at times are often one object, and ``isoformat`` is the costly part). The
    objects are the state's, alive through the pass: their ids are not reused."""
    out: list[str | None] = []
    get, missing = memo.get, _MISSING
    for value in column:
        text = get(id(value), missing)  # by identity: hashing a datetime costs as much as formatting it
        if text is missing:
            text = memo[id(value)] = value.isoformat()
        out.append(text)
    return out


def encode_column(encoder: Any, column: Any, where: str) -> tuple[str, list[Any]]:
    """A column's kind and its values as JSON."""
    types = set(map(type, column))
    if types <= _RAW_TYPES:
        if int in types:
            ints = column if types <= {int, bool} else [v for v in column if type(v) is int]
            if min(ints) < _INT_MIN or max(ints) > _INT_MAX:
                types.add(object)  # too big for a JSON reader: each one tagged
        if float in types and not all(math.isfinite(v) for v in column if type(v) is float):
            types.add(object)  # nan, inf: tagged
        if object not in types:
            return RAW, list(column)
    types.discard(_NONE)
    if types == {datetime} and set(map(_TZINFO, filter(None, column))) <= {UTC, None}:
        return DT, _isoformats(column, encoder.memo)
    if types == {Decimal}:
        return DEC, [None if v is None else str(v) for v in column]
    if (types == {tuple} or (types == {list} and not any(id(v) in encoder.shared for v in column))) \
            and set(map(type, chain.from_iterable(v for v in column if v is not None))) <= _PLAIN_TYPES:
        return (TUPLE if types == {tuple} else LIST), [None if v is None else list(v) for v in column]
    encode = encoder.encode
    return NODE, [encode(v, where) for v in column]


# -- decoding ---------------------------------------------------------------------------------------------------
def decode_table(decoder: Any, data: dict[str, Any], where: str) -> list[Any] | dict[Any, Any]:
    made_before = decoder.tables.get(id(data))
    if made_before is not None:  # built already, for a $ref met before the table (a file with reordered keys)
        return made_before  # type: ignore[no-any-return]
    cls = decoder.class_named(data["$table"], where)
    if issubclass(cls, deque | type | BaseException):
        raise SnapshotError(f"{cls.__name__} records cannot make a table", where)
    fields, kinds, columns = data.get("fields"), data.get("kinds"), data.get("columns")
    if not (isinstance(fields, list) and isinstance(kinds, list) and isinstance(columns, list)) \
            or not len(fields) == len(kinds) == len(columns) or not fields \
            or not all(type(f) is str for f in fields) or not all(isinstance(c, list) for c in columns):
        raise SnapshotError("a $table has as many fields, kinds and columns (arrays)", where)
    count = len(columns[0])
    if any(len(c) != count for c in columns):
        raise SnapshotError("a $table's columns are all as long", where)
    keys_data, ids = data.get("keys"), data.get("ids")
    made: list[Any] | dict[Any, Any] = decoder.register(data, [] if keys_data is None else {})
    decoder.tables[id(data)] = made
    records = None
    if ids is not None:  # records met elsewhere exist (empty) before any value is read, for the $refs to them
        if not isinstance(ids, list) or len(ids) != count:
            raise SnapshotError("a $table's ids are one $id (or null) per row", f"{where}.ids")
        records = [cls.__new__(cls) for _ in range(count)]
        for n, record in zip(ids, records, strict=True):
            if n is not None:
                decoder.register_id(n, record)
    keys = None
    if keys_data is not None:
        if not (isinstance(keys_data, list) and len(keys_data) == 2 and isinstance(keys_data[1], list)
                and len(keys_data[1]) == count):
            raise SnapshotError("a $table's keys are [kind, one key per row]", f"{where}.keys")
        keys = decode_column(decoder, keys_data[0], keys_data[1], f"{where}.keys")[0]
    decoded, types = [], []
    for field, kind, column in zip(fields, kinds, columns, strict=True):
        values, held = decode_column(decoder, kind, column, f"{where}.{field}")
        decoded.append(values)
        types.append(held)
    _check_columns(cls, fields, decoded, types, where)
    records = _fill(cls, records, fields, decoded, count, where)
    if keys is None:
        made.extend(records)  # type: ignore[union-attr]
    else:
        made.update(zip(keys, records, strict=True))  # type: ignore[union-attr]
    return made


def decode_column(decoder: Any, kind: Any, column: list[Any], where: str) -> tuple[list[Any], set[type]]:
    """A column's values, and the set of their types (the annotation check reads that, not each value)."""
    held = set(map(type, column))
    if kind == RAW:
        if not held <= _RAW_TYPES:
            raise SnapshotError("a raw column holds JSON scalars only", where)
        return column, held
    if kind in (DT, DEC):
        if not held <= {str, _NONE}:
            raise SnapshotError(f"a {kind} column holds strings or nulls", where)
        convert: Any = datetime.fromisoformat if kind == DT else Decimal
        try:
            values = [None if v is None else convert(v) for v in column] if _NONE in held \
                else list(map(convert, column))
        except (ValueError, ArithmeticError) as exc:
            raise SnapshotError(f"bad {kind} column ({type(exc).__name__}: {exc})", where) from exc
        made = datetime if kind == DT else Decimal  # what fromisoformat and Decimal make of a string
        return values, (held - {str}) | ({made} if str in held else set())
    if kind in (TUPLE, LIST):
        if not held <= {list, _NONE} \
                or not set(map(type, chain.from_iterable(column if _NONE not in held else filter(None, column)))) \
                <= _PLAIN_TYPES:
            raise SnapshotError(f"a {kind} column holds arrays of strings or booleans", where)
        make = tuple if kind == TUPLE else list  # a list of its own for each record, never the document's
        values = [None if v is None else make(v) for v in column] if _NONE in held else list(map(make, column))
        return values, held - {list} | ({make} if list in held else set())
    if kind == NODE:
        decode, out = decoder.decode, []
        try:
            for value in column:
                kind_of = type(value)
                out.append(value if kind_of is str or kind_of is int or kind_of is bool or value is None
                           or kind_of is float else decode(value))
        except SnapshotError as exc:
            raise exc.under(f"{where}[{len(out)}]") from exc
        return out, set(map(type, out))
    raise SnapshotError(f"unknown column kind {kind!r}", where)


def _check_columns(cls: type, fields: list[str], columns: list[list[Any]], types: list[set[type]],
                   where: str) -> None:
    """Each column against its field's annotation, by the set of types in it (per value only to name a culprit)."""
    checks = field_checks(cls)
    if checks is None:
        return
    missing = [f for f in checks if f not in fields]
    if missing:
        raise SnapshotError(f"{cls.__name__} lacks {', '.join(missing)}", where)
    for field, column, held in zip(fields, columns, types, strict=True):
        spec = checks.get(field)
        if spec is None:
            continue
        exact, classes = spec
        for kind in held - exact:
            if not (classes and issubclass(kind, classes)):
                row = next(i for i, v in enumerate(column) if type(v) is kind)
                raise SnapshotError(f"wrong type {kind.__name__} for {cls.__name__}.{field}", f"{where}[{row}]")


def _fill(cls: type, records: list[Any] | None, fields: list[str], columns: list[list[Any]], count: int,
          where: str) -> list[Any]:
    """The records (made now, or the empty ones given) with their fields set from the columns."""
    init = _field_init(cls)
    if init is not None and init[1] == tuple(fields) and vars(cls).get("__init__") is init[0]:
        # The generated __init__: one assignment per field, nothing else.
        if records is None:
            return list(map(cls, *columns))
        for _ in map(init[0], records, *columns):
            pass
        return records
    if records is None:
        records = [cls.__new__(cls) for _ in range(count)]
    for field, column in zip(fields, columns, strict=True):
        try:
            for record, value in zip(records, column, strict=True):
                object.__setattr__(record, field, value)
        except (AttributeError, TypeError) as exc:
            raise SnapshotError(f"{cls.__name__} has no attribute {field!r}", where) from exc
    return records


@functools.cache
def _field_init(cls: type) -> tuple[Any, tuple[str, ...]] | None:
    """A dataclass's ``__init__`` and the fields it takes, in order, when that ``__init__`` is the one
    ``dataclasses`` generated and it only assigns them (no ``__post_init__``, no init-only, keyword-only or
    ``init=False`` field); otherwise None (the records' attributes are then set one by one). Whoever uses it
    checks the class still has that very ``__init__``."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") or cls.__new__ is not object.__new__:
        return None
    init = vars(cls).get("__init__")
    code = getattr(init, "__code__", None)
    if code is None or code.co_filename != "<string>" or init.__qualname__ != f"{cls.__qualname__}.__init__":
        return None
    fields = dataclasses.fields(cls)
    if len(fields) != len(cls.__dataclass_fields__) or any(not f.init or f.kw_only for f in fields):
        return None
    return init, tuple(f.name for f in fields)
