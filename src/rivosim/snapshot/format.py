"""The snapshot document: its format name and version, its JSON Schema, and reading one from bytes with a
clear refusal for each way a file goes wrong (not JSON, cut short, another format, an unknown version, an
envelope of the wrong shape)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import orjson

from rivosim.snapshot.codec import SnapshotError, paused_gc

__all__ = ["FORMAT", "READABLE", "VERSION", "load_document", "rivosim_version", "snapshot_schema"]

FORMAT = "rivosim-snapshot"
VERSION = 2  # 2: large collections of records as column tables (``tables.py``); 1 had one object per record
READABLE = (1, 2)  # version 1 files still read: the version 2 reader knows every version 1 node


def rivosim_version() -> str:
    """The installed rivosim's version, written into each snapshot (informative: readers go by ``version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rivosim")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


@cache
def _schema_text() -> str:
    return resources.files("rivosim").joinpath("schema/snapshot.schema.json").read_text("utf-8")


def snapshot_schema() -> dict[str, Any]:
    """The snapshot format's JSON Schema (``rivosim/schema/snapshot.schema.json``), a fresh copy."""
    return json.loads(_schema_text())


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(snapshot_schema())


def load_document(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """A snapshot document parsed and its envelope checked, or :class:`SnapshotError` saying what is wrong."""
    if isinstance(raw, dict):
        doc: Any = raw
    else:
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if not data.strip():
            raise SnapshotError("the snapshot is empty", "snapshot")
        try:
            with paused_gc():  # a big file is millions of JSON objects, none of them garbage
                doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            cut = " (the file looks cut short: truncated?)" if not data.rstrip().endswith((b"}", b"]")) else ""
            raise SnapshotError(f"not valid JSON{cut}: {exc}", "snapshot") from exc
    if not isinstance(doc, dict):
        raise SnapshotError(f"a snapshot is a JSON object, not {type(doc).__name__}", "snapshot")
    if doc.get("format") != FORMAT:
        raise SnapshotError(f"not a rivosim snapshot (format must be {FORMAT!r}, found {doc.get('format')!r})",
                            "format")
    version = doc.get("version")
    if version not in READABLE or type(version) is not int:
        readable = ", ".join(map(str, READABLE))
        raise SnapshotError(f"unknown snapshot version {version!r}: this rivosim reads versions {readable}",
                            "version")
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.absolute_path) or "snapshot"
        raise SnapshotError(first.message[:300], path)
    if doc["scope"] == "shop" and "shop" not in doc:
        raise SnapshotError("a shop snapshot names its shop", "shop")
    return doc
