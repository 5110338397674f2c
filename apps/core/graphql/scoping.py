"""Tenant scoping for GraphQL: every brand-owned type inherits BrandScopedType.

strawberry-django calls a type's `get_queryset(queryset, info)` for every list, connection, single object
and optimizer prefetch of that type, so rows of other brands never leave the database.

Brand-owned types also pass `only=BRAND_COLUMN` to `strawberry_django.type`: the optimizer then always loads
the row's brand id, which money and time fields read to find the brand's currency and time zone
(apps.core.graphql.brand_values) without a query per row.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry_django.relay.utils import resolve_model_node, resolve_model_nodes
from strawberry_django.resolvers import django_resolver

from apps.core.graphql.ids import check_node_ids
from apps.core.graphql.permissions import request_user
from apps.core.scoping import brand_ids_for_user

_resolve_node = django_resolver(resolve_model_node)
_resolve_nodes = django_resolver(resolve_model_nodes)

# The type-level optimizer hint of brand-owned types (see the module docstring).
BRAND_COLUMN = ("brand_id",)


class BrandScopedType:
    """Mixin for strawberry_django types: rows of the caller's brands only (superusers: all; anonymous:
    none). `brand_scope_lookup` names the column holding the brand id ("pk" for Brand itself)."""

    brand_scope_lookup = "brand_id"
    # Relay nodes are identified by the model's pk. Said here once: otherwise strawberry looks through every
    # annotation of the type for a NodeID each time it resolves a node's id (about 5 ms a node).
    _id_attr: ClassVar[str | None] = "pk"

    # `node(id:)` and `nodes(ids:)`: strawberry-django's lookups, once the numbers are whole numbers (a
    # non-numeric one is a bad id, named by apps.core.graphql.ids, not a database error)
    @classmethod
    def resolve_node(cls, node_id, *, info=None, required: bool = False):
        check_node_ids([node_id])
        return _resolve_node(cls, node_id, info=info, required=required)

    @classmethod
    def resolve_nodes(cls, *, info=None, node_ids=None, required: bool = False):
        check_node_ids(node_ids)
        return _resolve_nodes(cls, info=info, node_ids=node_ids, required=required)

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs: Any):
        queryset = _without_brand_join(queryset)
        ids = brand_ids_for_user(request_user(info))
        if ids is None:
            return queryset
        return queryset.filter(**{f"{cls.brand_scope_lookup}__in": ids})


def _without_brand_join(queryset):
    """The models' default ordering starts with "brand", which sorts by the brand's own ordering through a
    join to brands_brand; with no explicit order, sort by brand_id instead (the same grouping, no join, and
    the brand-leading indexes serve it)."""
    if queryset.query.order_by or not queryset.query.default_ordering:
        return queryset
    ordering = queryset.model._meta.ordering
    if ordering and ordering[0] == "brand":
        return queryset.order_by("brand_id", *ordering[1:])
    return queryset
