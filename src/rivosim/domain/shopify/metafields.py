"""Metafields on the shop, customers and orders, unique per (owner, namespace, key) (shopify-api.md §1.4):
REST create (a duplicate is refused), update, delete, and the GraphQL ``metafieldsSet`` upsert — at most 25
per call, all or nothing, each refusal naming its element and a ``MetafieldsSetUserErrorCode``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rivosim.domain.context import ShopContext
from rivosim.domain.shopify.models import Metafield
from rivosim.domain.shopify.state import ShopifyResource
from rivosim.kernel.errors import AlreadyExists, NotFound, ValidationFailed

__all__ = ["METAFIELD_TYPES", "OWNER_RESOURCES", "MetafieldInput", "Metafields", "MetafieldsSetRefused"]

OWNER_RESOURCES = ("shop", "customer", "order")
# shopify-api.md §1.4: the current type names (reference types are not emulated); ``list.<type>`` of these too.
METAFIELD_TYPES = ("single_line_text_field", "multi_line_text_field", "number_integer", "number_decimal", "boolean",
                   "json", "date", "date_time", "money", "rating", "url", "color")
# Pre-2021-10 ``value_type`` names still seen on old metafields (and accepted on input).
LEGACY_TYPES = {"string": "single_line_text_field", "integer": "number_integer", "json_string": "json"}
MAX_SET = 25
# The loyalty app's id (the number in the ``app--<id>`` namespaces ``$app`` resolves to); Rivo's real one is
# not published, so this one is made up.
APP_ID = 3814441
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class MetafieldInput:
    """One validated metafield write."""

    owner_resource: str
    owner_id: int
    namespace: str
    key: str
    type: str
    value: str
    description: str | None = None


class MetafieldsSetRefused(ValidationFailed):
    """``metafieldsSet`` refused: nothing was saved. ``errors`` are the GraphQL ``userErrors``."""

    code = "metafields_set_refused"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "metafieldsSet refused")
        self.errors = errors


def _bad(message: str, field: str, gql_code: str) -> ValidationFailed:
    return ValidationFailed(message, field=field, user_error_code=gql_code)


def check_value(type_: str, value: Any) -> str:
    """The stored (string) form of ``value`` for ``type_``, or a refusal saying why it is not one."""
    if type_.startswith("list."):
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise _bad(f"Value must be a JSON array of {type_[5:]} values", "value", "INVALID_VALUE") from exc
        if not isinstance(items, list):
            raise _bad(f"Value must be a JSON array of {type_[5:]} values", "value", "INVALID_VALUE")
        for item in items:
            check_value(type_[5:], item)
        return text
    if type_ == "json":
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            json.loads(text)
        except ValueError as exc:
            raise _bad(f"Value is invalid JSON: {exc.args[0] if exc.args else exc}", "value", "INVALID_VALUE") from exc
        return text
    if type_ in ("money", "rating"):
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        need = ("amount", "currency_code") if type_ == "money" else ("value", "scale_min", "scale_max")
        if not isinstance(parsed, dict) or any(k not in parsed for k in need):
            raise _bad(f"Value must be a JSON object with {', '.join(need)}", "value", "INVALID_VALUE")
        return text
    if type_ == "number_integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _bad("Value must be an integer.", "value", "INVALID_VALUE")
        text = str(value).strip()
        if not re.fullmatch(r"-?\d{1,19}", text) or not -_INT64 <= int(text) < _INT64:
            raise _bad("Value must be an integer.", "value", "INVALID_VALUE")
        return str(int(text))
    if type_ == "number_decimal":
        if isinstance(value, bool):
            raise _bad("Value must be a decimal.", "value", "INVALID_VALUE")
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError) as exc:
            raise _bad("Value must be a decimal.", "value", "INVALID_VALUE") from exc
        if not number.is_finite():
            raise _bad("Value must be a decimal.", "value", "INVALID_VALUE")
        return str(value).strip()
    if type_ == "boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.strip() in ("true", "false"):
            return value.strip()
        raise _bad("Value must be true or false.", "value", "INVALID_VALUE")
    if not isinstance(value, str):
        raise _bad("Value must be a string.", "value", "INVALID_VALUE")
    if type_ == "single_line_text_field" and ("\n" in value or "\r" in value):
        raise _bad("Value must be a single line of text.", "value", "INVALID_VALUE")
    if type_ == "date":
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise _bad("Value must be a date in YYYY-MM-DD format.", "value", "INVALID_VALUE") from exc
    elif type_ == "date_time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise _bad("Value must be an ISO 8601 date and time.", "value", "INVALID_VALUE") from exc
    elif type_ == "url" and not re.match(r"^(https?|mailto|sms|tel)://?\S+$", value):
        raise _bad("Value must be a URL with the http, https, mailto, sms or tel scheme.", "value", "INVALID_VALUE")
    elif type_ == "color" and not _COLOR_RE.match(value):
        raise _bad("Value must be a hex color code like #ff0000.", "value", "INVALID_VALUE")
    return value


def _resolve_app_namespace(namespace: str) -> str:
    """``$app`` and ``$app:<suffix>`` are the calling app's reserved namespaces (shopify-api.md §2.2)."""
    if namespace == "$app":
        return f"app--{APP_ID}"
    if namespace.startswith("$app:") and _NAME_RE.match(namespace[5:]):
        return f"app--{APP_ID}--{namespace[5:]}"
    if namespace.startswith("$app"):
        raise _bad("Namespace contains one or more invalid characters", "namespace", "INVALID")
    return namespace


class Metafields(ShopifyResource):
    """The shop's metafields (one store for every owner) and their (owner, namespace, key) index.
    Collaborator: ``owners`` says whether an owner exists (``shop``, ``customer``, ``order`` -> id -> bool)."""

    def __init__(self, ctx: ShopContext, owners: Mapping[str, Callable[[int], bool]]) -> None:
        super().__init__(ctx)
        self._owners = owners
        self._metafield_store: dict[int, Metafield] = {}
        # (owner_resource, owner_id, namespace, key) -> metafield id: the uniqueness Shopify enforces, and what
        # keeps an upsert O(1) when Rivo writes a metafield on every points change.
        self._metafield_keys: dict[tuple[str, int, str, str], int] = {}
        # Writers that defer their writes (Rivo's writeback marks a customer on every points change and writes
        # when someone looks): any access to the metafield stores lets them catch up first, so nobody ever sees
        # a stale value, and a burst of changes costs one write.
        self._deferred_writers: list[Callable[[], None]] = []
        self._deferred_pending = False

    @property
    def metafields(self) -> dict[int, Metafield]:
        if self._deferred_pending:
            self.settle_metafields()
        return self._metafield_store

    @property
    def _metafield_index(self) -> dict[tuple[str, int, str, str], int]:
        if self._deferred_pending:
            self.settle_metafields()
        return self._metafield_keys

    def add_deferred_metafield_writer(self, flush: Callable[[], None]) -> None:
        """Register ``flush``, which writes what a writer has deferred; it runs before the next metafield access
        after :meth:`metafield_writes_deferred`."""
        self._deferred_writers.append(flush)

    def metafield_writes_deferred(self) -> None:
        """A registered writer has writes waiting."""
        self._deferred_pending = True

    def settle_metafields(self) -> None:
        """Let deferred writers write now (a reader is about to look, or the options are about to change)."""
        if self._deferred_pending:
            self._deferred_pending = False  # first: the writers' own writes access the stores
            for flush in self._deferred_writers:
                flush()

    # -- reading -------------------------------------------------------------------------------------------
    def get_metafield(self, metafield_id: int, owner_resource: str | None = None, owner_id: int | None = None
                      ) -> Metafield:
        mf = self.metafields.get(metafield_id)
        if mf is None or (owner_resource is not None and (mf.owner_resource, mf.owner_id) != (owner_resource,
                                                                                             owner_id)):
            raise NotFound(f"no metafield {metafield_id}", resource="metafield", id=metafield_id)
        return mf

    def find_metafield(self, owner_resource: str, owner_id: int, namespace: str, key: str) -> Metafield | None:
        mid = self._metafield_index.get((owner_resource, owner_id, namespace, key))
        return self.metafields.get(mid) if mid is not None else None

    def metafields_of(self, owner_resource: str, owner_id: int) -> list[Metafield]:
        return [m for m in self.metafields.values() if m.owner_resource == owner_resource and m.owner_id == owner_id]

    def check_owner(self, owner_resource: str, owner_id: int) -> None:
        exists = self._owners.get(owner_resource)
        if exists is None or not exists(owner_id):
            raise NotFound(f"no {owner_resource} {owner_id} to own a metafield", resource=owner_resource,
                           id=owner_id)

    # -- validation ----------------------------------------------------------------------------------------
    def check_metafield(self, owner_resource: str, owner_id: int, fields: dict[str, Any], *,
                        existing: Metafield | None = None, default_namespace: str | None = None) -> MetafieldInput:
        """A validated write from API input (``namespace``, ``key``, ``type`` or legacy ``value_type``,
        ``value``, ``description``); ``existing`` supplies what an update leaves out."""
        namespace = fields.get("namespace", existing.namespace if existing else default_namespace)
        key = fields.get("key", existing.key if existing else None)
        for name, value, low, high in (("namespace", namespace, 3, 255), ("key", key, 2, 64)):
            if value is None or value == "":
                raise _bad(f"{name.capitalize()} can't be blank", name, "BLANK")
            if not isinstance(value, str):
                raise _bad(f"{name.capitalize()} must be a string", name, "INVALID")
            if len(value) < low:
                raise _bad(f"{name.capitalize()} is too short (minimum is {low} characters)", name, "TOO_SHORT")
            if len(value) > high:
                raise _bad(f"{name.capitalize()} is too long (maximum is {high} characters)", name, "TOO_LONG")
            if not _NAME_RE.match(value) and not (name == "namespace" and value.startswith("$app")):
                raise _bad(f"{name.capitalize()} contains one or more invalid characters", name, "INVALID")
        namespace = _resolve_app_namespace(str(namespace))
        type_ = fields.get("type")
        if type_ is None and "value_type" in fields:
            type_ = LEGACY_TYPES.get(fields["value_type"]) if isinstance(fields["value_type"], str) else None
            if type_ is None:
                raise _bad("Value type is not a valid value type", "value_type", "INVALID_TYPE")
        if type_ is None:
            current = existing or self.find_metafield(owner_resource, owner_id, str(namespace), str(key))
            if current is None:
                raise _bad("Type can't be blank", "type", "BLANK")
            type_ = current.type
        if not isinstance(type_, str) or (type_ not in METAFIELD_TYPES and type_ not in LEGACY_TYPES
                                          and not (type_.startswith("list.") and type_[5:] in METAFIELD_TYPES)):
            raise _bad(f"Type {type_!r} is not a valid type", "type", "INVALID_TYPE")
        type_ = LEGACY_TYPES.get(type_, type_)
        raw = fields.get("value", existing.value if existing is not None else None)
        if raw is None or raw == "":
            raise _bad("Value can't be blank", "value", "BLANK")
        value = check_value(type_, raw)
        if len(value) > 10 * 1024 * 1024:
            raise _bad("Value is too long", "value", "TOO_LONG")
        description = fields.get("description", existing.description if existing else None)
        if description is not None and not isinstance(description, str):
            raise _bad("Description must be a string", "description", "INVALID")
        return MetafieldInput(owner_resource, owner_id, str(namespace), str(key), type_, value, description)

    # -- writing -------------------------------------------------------------------------------------------
    def set_metafield(self, owner_resource: str, owner_id: int, namespace: str, key: str, type_: str,
                      value: str, description: str | None = None, *, at: datetime | None = None,
                      first_at: datetime | None = None) -> Metafield:
        """Create or update the metafield (owner, namespace, key) — an upsert, like ``metafieldsSet``. No
        validation: callers pass checked input (``check_metafield``) or write their own (Rivo's writeback).
        A deferred writer passes when its change happened (``at``; ``first_at`` for a metafield it creates)."""
        now = at or self.ctx.now()
        index_key = (owner_resource, owner_id, namespace, key)
        mid = self._metafield_index.get(index_key)
        if mid is not None:
            mf = self.metafields[mid]
            if (mf.type, mf.value, mf.description) != (type_, value, description or mf.description):
                mf.type, mf.value, mf.updated_at = type_, value, now
                if description is not None:
                    mf.description = description
            return mf
        mf = Metafield(id=self.ctx.ids.next("shopify_metafield"), owner_resource=owner_resource,
                       owner_id=owner_id, namespace=namespace, key=key, type=type_, value=value,
                       created_at=first_at or now, updated_at=now, description=description)
        self.metafields[mf.id] = mf
        self._metafield_index[index_key] = mf.id
        return mf

    def create_metafield(self, owner_resource: str, owner_id: int, fields: dict[str, Any]) -> Metafield:
        """REST create: a second metafield with the same namespace and key on the owner is refused."""
        self.check_owner(owner_resource, owner_id)
        item = self.check_metafield(owner_resource, owner_id, fields)
        if self.find_metafield(owner_resource, owner_id, item.namespace, item.key) is not None:
            raise AlreadyExists("must be unique within this namespace on this resource", field="key")
        return self._write(item)

    def update_metafield(self, metafield_id: int, fields: dict[str, Any], owner_resource: str | None = None,
                         owner_id: int | None = None) -> Metafield:
        mf = self.get_metafield(metafield_id, owner_resource, owner_id)
        item = self.check_metafield(mf.owner_resource, mf.owner_id, fields, existing=mf)
        clash = self.find_metafield(mf.owner_resource, mf.owner_id, item.namespace, item.key)
        if clash is not None and clash is not mf:
            raise AlreadyExists("must be unique within this namespace on this resource", field="key")
        if (item.namespace, item.key) != (mf.namespace, mf.key):
            del self._metafield_index[(mf.owner_resource, mf.owner_id, mf.namespace, mf.key)]
            mf.namespace, mf.key = item.namespace, item.key
            self._metafield_index[(mf.owner_resource, mf.owner_id, mf.namespace, mf.key)] = mf.id
            mf.updated_at = self.ctx.now()
        return self._write(item)

    def delete_metafield(self, metafield_id: int, owner_resource: str | None = None,
                         owner_id: int | None = None) -> Metafield:
        mf = self.get_metafield(metafield_id, owner_resource, owner_id)
        del self.metafields[mf.id]
        self._metafield_index.pop((mf.owner_resource, mf.owner_id, mf.namespace, mf.key), None)
        return mf

    def drop_metafields_of(self, owner_resource: str, owner_id: int) -> None:
        for mf in self.metafields_of(owner_resource, owner_id):
            self.delete_metafield(mf.id)

    def _write(self, item: MetafieldInput) -> Metafield:
        return self.set_metafield(item.owner_resource, item.owner_id, item.namespace, item.key, item.type,
                                  item.value, item.description)

    def metafields_set(self, entries: list[tuple[str, int | None, dict[str, Any]]]) -> list[Metafield]:
        """``metafieldsSet``: ``(owner_resource, owner_id, fields)`` per entry (``owner_id`` None when the
        owner GID did not parse). All are checked first; any refusal saves nothing (shopify-api.md §2.2)."""
        if len(entries) > MAX_SET:
            raise ValidationFailed(f"The input array size of {len(entries)} is greater than the maximum allowed "
                                   f"of {MAX_SET}.", field="metafields", user_error_code="MAX_INPUT_SIZE_EXCEEDED")
        errors: list[dict[str, Any]] = []
        items: list[MetafieldInput] = []
        seen: set[tuple[str, int, str, str]] = set()
        for index, (owner_resource, owner_id, fields) in enumerate(entries):
            try:
                if owner_id is None or owner_resource not in OWNER_RESOURCES:
                    raise _bad("Owner type is not supported or the owner id is invalid", "ownerId", "INVALID")
                try:
                    self.check_owner(owner_resource, owner_id)
                except NotFound as exc:
                    raise _bad(f"Owner does not exist: {exc.message}", "ownerId", "INVALID") from exc
                item = self.check_metafield(owner_resource, owner_id, fields, default_namespace="$app")
                triple = (item.owner_resource, item.owner_id, item.namespace, item.key)
                if triple in seen:
                    raise _bad("The same namespace and key appear more than once for this owner", "key", "TAKEN")
                seen.add(triple)
                items.append(item)
            except ValidationFailed as exc:
                errors.append({"field": ["metafields", str(index), exc.field or "value"], "message": exc.message,
                               "code": exc.details.get("user_error_code", "INVALID"), "elementIndex": index})
        if errors:
            raise MetafieldsSetRefused(errors)
        return [self._write(item) for item in items]
