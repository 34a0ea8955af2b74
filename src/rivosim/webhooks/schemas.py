"""The webhook contract as JSON Schema files: one per topic's payload and one per API's headers, under
``rivosim/schema/webhooks/{rivo,shopify}/`` (``points_event/created`` -> ``points_event.created.json``), written
from the public references (docs/fidelity.md says where each field comes from). This module only loads them and
checks a delivery against them; it never looks at how rivosim builds a payload, so a payload that drifts from
the reference fails here.

    >>> problems = check_delivery("rivo", "points_event/created", body, headers)   # [] when it conforms
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

__all__ = ["APIS", "check_delivery", "schema_path", "topic_schema", "topics"]

APIS = ("rivo", "shopify")


def _dir(api: str) -> Any:
    if api not in APIS:
        raise ValueError(f"unknown api {api!r}; one of {', '.join(APIS)}")
    return resources.files("rivosim") / "schema" / "webhooks" / api


def schema_path(api: str, topic: str) -> str:
    """The file's path inside the package: ``schema/webhooks/rivo/points_event.created.json``."""
    return f"schema/webhooks/{api}/{topic.replace('/', '.')}.json"


@cache
def _documents(api: str) -> dict[str, dict[str, Any]]:
    out = {}
    for entry in _dir(api).iterdir():
        if entry.name.endswith(".json"):
            out[entry.name] = json.loads(entry.read_text(encoding="utf-8"))
    return out


@cache
def _registry(api: str) -> Registry:
    docs = _documents(api)
    return Registry().with_resources((doc["$id"], Resource.from_contents(doc)) for doc in docs.values())


def topics(api: str) -> list[str]:
    """Every topic with a schema, in file order."""
    return sorted(doc["x-topic"] for doc in _documents(api).values() if "x-topic" in doc)


def topic_schema(api: str, topic: str) -> dict[str, Any]:
    name = f"{topic.replace('/', '.')}.json"
    docs = _documents(api)
    if name not in docs:
        raise KeyError(f"no schema for {api} topic {topic!r}; known: {', '.join(topics(api))}")
    return docs[name]


@cache
def _validator(api: str, name: str) -> Draft202012Validator:
    return Draft202012Validator(_documents(api)[name], registry=_registry(api))


def _errors(api: str, name: str, instance: Any, what: str, *, required: Sequence[str] | None = None) -> list[str]:
    validator = _validator(api, name)
    if required is not None:  # a Shopify subscription's include_fields: only those fields are promised
        schema = {**_documents(api)[name], "required": [f for f in _documents(api)[name]["required"]
                                                          if f in required]}
        validator = Draft202012Validator(schema, registry=_registry(api))
    return [f"{what}{'.' + '.'.join(map(str, e.absolute_path)) if e.absolute_path else ''}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]


def check_delivery(api: str, topic: str, body: bytes | Mapping[str, Any], headers: Mapping[str, str], *,
                   include_fields: Sequence[str] | None = None) -> list[str]:
    """What is wrong with one delivery of ``topic`` (an empty list when it conforms): its headers against
    ``headers.json``, its payload against the topic's schema, and, for Rivo, the top-level ``event_type`` rule
    of the signing mode (rivo-api.md §4.3: the Standard-Webhooks mode omits it, except on referral/completed)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    problems = _errors(api, "headers.json", lowered, "headers")
    if isinstance(body, bytes | bytearray):
        try:
            payload = json.loads(body)
        except ValueError as exc:
            return [*problems, f"body is not JSON: {exc}"]
    else:
        payload = dict(body)
    try:
        topic_schema(api, topic)
    except KeyError as exc:
        return [*problems, str(exc.args[0])]
    name = f"{topic.replace('/', '.')}.json"
    problems += _errors(api, name, payload, "payload", required=include_fields)
    if api == "rivo" and isinstance(payload, dict):
        header_topic = lowered.get("rivo-webhook-topic")
        if header_topic is not None and header_topic != topic:
            problems.append(f"headers.rivo-webhook-topic: {header_topic!r} is not {topic!r}")
        standard_only = "rivo-webhook-signature" in lowered and "rivo-signature" not in lowered
        has_event_type = "event_type" in payload
        if standard_only and has_event_type and topic != "referral/completed":
            problems.append("payload.event_type: present, but live (Standard-Webhooks) deliveries omit it")
        if not standard_only and not has_event_type:
            problems.append("payload: 'event_type' is a required property with rivo-signature deliveries")
        if has_event_type and payload["event_type"] != topic:
            problems.append(f"payload.event_type: {payload['event_type']!r} is not {topic!r}")
    if api == "shopify":
        header_topic = lowered.get("x-shopify-topic")
        if header_topic is not None and header_topic != topic:
            problems.append(f"headers.x-shopify-topic: {header_topic!r} is not {topic!r}")
    return problems
