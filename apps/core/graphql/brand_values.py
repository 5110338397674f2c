"""A brand's values as the API shows them: money with the brand's currency, instants in the brand's time zone.

Every brand-owned value belongs to one brand, found without a query per row:

- `brand_id_of(root, info)`: the brand of the object a field is resolved on — its loaded `brand_id` (every
  brand-scoped type asks the optimizer for it), a Brand itself, a report object that carries `brand_id`, or an
  object reached through a single relation of such an object (same brand by the composite same-brand keys).
  Failing those, the request's brand: the root field's `brand` argument, else the caller's only brand (an API
  token always has exactly one).
- `brand_facts(info, brand_id)`: its currency and time zone, read once per request for all the caller's brands
  (an API token's brand is loaded with the token: no query at all).

`BrandValues` is the schema extension that applies this to every field: a DateTime is rendered in the brand's
time zone (`2026-06-01T21:30:00+08:00` for Asia/Shanghai, not UTC). Wrapping every field anyway, it also turns
an argument that is not a global id into a clear, translated error naming it (apps.core.graphql.ids).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from graphql import FieldNode, InlineFragmentNode, StringValueNode, VariableNode
from strawberry.extensions import SchemaExtension
from strawberry.relay import GlobalID, GlobalIDValueError

from apps.core.graphql.ids import invalid_global_id_error, is_node_number
from apps.core.graphql.permissions import caller_brand_ids, request_user


@dataclass(frozen=True)
class BrandFacts:
    currency: str
    tzinfo: zoneinfo.ZoneInfo


def _facts(brand) -> BrandFacts:
    return BrandFacts(currency=brand.currency, tzinfo=zoneinfo.ZoneInfo(brand.timezone))


def _holder(info):
    """Where per-request values are kept: the Django request (shared by every field of the operation)."""
    context = info.context
    request = getattr(context, "request", None)
    if request is None and isinstance(context, dict):
        request = context.get("request")
    return request if request is not None else context


def _request_cache(info, name: str) -> dict:
    holder = _holder(info)
    cache = getattr(holder, name, None)
    if cache is None:
        cache = {}
        setattr(holder, name, cache)
    return cache


def brand_facts(info, brand_id: int | None) -> BrandFacts | None:
    """The currency and time zone of a brand the caller may see (None for any other brand or none)."""
    if brand_id is None:
        return None
    cache = _request_cache(info, "_clv_brand_facts")
    if brand_id in cache:
        return cache[brand_id]
    from apps.brands.models import Brand

    user = request_user(info)
    token = getattr(user, "api_token", None)
    token_brand = token._state.fields_cache.get("brand") if token is not None else None
    if token_brand is not None:  # an API token: its brand came with it
        cache[token_brand.pk] = _facts(token_brand)
    else:
        ids = caller_brand_ids(info)
        brands = Brand.objects.all() if ids is None else Brand.objects.filter(pk__in=ids)
        for brand in brands.order_by().only("id", "currency", "timezone"):
            cache[brand.pk] = _facts(brand)
    cache.setdefault(brand_id, None)  # not one of the caller's: asked once
    return cache[brand_id]


def request_brand_id(info) -> int | None:
    """The brand the operation asks about at this path: the root field's `brand` argument (a brand the caller
    may see), else the caller's only brand; None when neither says."""
    path = info.path
    while path.prev is not None:
        path = path.prev
    cache = _request_cache(info, "_clv_root_brands")
    if path.key not in cache:
        cache[path.key] = _root_brand_argument(info, path.key) or _only_brand(info)
    return cache[path.key]


def _only_brand(info) -> int | None:
    ids = caller_brand_ids(info)
    return ids[0] if ids is not None and len(ids) == 1 else None


def _root_brand_argument(info, response_key: str) -> int | None:
    operation = info.operation
    for node in _root_fields(operation.selection_set.selections if operation else ()):
        if (node.alias or node.name).value != response_key:
            continue
        for argument in node.arguments or ():
            if argument.name.value != "brand":
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                raw = (info.variable_values or {}).get(value.name.value)
            elif isinstance(value, StringValueNode):
                raw = value.value
            else:
                return None
            pk = _brand_pk(raw)
            ids = caller_brand_ids(info)
            return pk if pk is not None and (ids is None or pk in ids) else None
    return None


def _root_fields(selections):
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set.selections)


def _brand_pk(value) -> int | None:
    try:
        global_id = value if isinstance(value, GlobalID) else GlobalID.from_id(str(value))
    except (GlobalIDValueError, ValueError, TypeError):
        return None
    if global_id.type_name != "Brand" or not is_node_number(str(global_id.node_id)):
        return None
    return int(global_id.node_id)


def brand_id_of(root: Any, info=None) -> int | None:
    """The brand of the object a field is resolved on (see the module docstring), without a query."""
    loaded = getattr(root, "__dict__", None) or {}
    brand_id = loaded.get("brand_id")
    if brand_id is None:
        brand_id = loaded.get("_clv_brand_id")
    if brand_id is None and _is_brand(root):
        brand_id = loaded.get("id")
    if brand_id is None and info is not None:
        brand_id = request_brand_id(info)
    return brand_id


def _is_brand(root) -> bool:
    return isinstance(root, models.Model) and root._meta.label == "brands.Brand"


def brand_currency(info, root) -> str | None:
    facts = brand_facts(info, brand_id_of(root, info))
    return facts.currency if facts else None


def in_brand_time(value: datetime, root, info) -> datetime:
    """An aware instant in the time zone of the root object's brand (unchanged when no brand is known)."""
    facts = brand_facts(info, brand_id_of(root, info))
    return value.astimezone(facts.tzinfo) if facts else value


class BrandValues(SchemaExtension):
    """Every DateTime a field returns, in the time zone of its brand; an argument that is not a global id, a
    clear error that names it."""

    def resolve(self, _next, root, info, *args, **kwargs):
        try:
            result = _next(root, info, *args, **kwargs)
        except GlobalIDValueError:
            raise invalid_global_id_error(info, kwargs) from None
        if isinstance(result, datetime):
            if result.tzinfo is not None:
                return in_brand_time(result, root, info)
        elif isinstance(result, models.Model) and "brand_id" not in result.__dict__:
            # a single relation (joined without its brand column): the same brand as the object it hangs on
            brand_id = brand_id_of(root)
            if brand_id is not None:
                result.__dict__["_clv_brand_id"] = brand_id
        return result


__all__ = [
    "BrandFacts",
    "BrandValues",
    "brand_currency",
    "brand_facts",
    "brand_id_of",
    "in_brand_time",
    "request_brand_id",
]
