"""Tenant scoping for GraphQL: every brand-owned type inherits BrandScopedType.

strawberry-django calls a type's `get_queryset(queryset, info)` for every list, connection, single object
and optimizer prefetch of that type, so rows of other brands never leave the database.
"""

from __future__ import annotations

from typing import Any, ClassVar

from apps.core.graphql.permissions import request_user
from apps.core.scoping import brand_ids_for_user


class BrandScopedType:
    """Mixin for strawberry_django types: rows of the caller's brands only (superusers: all; anonymous:
    none). `brand_scope_lookup` names the column holding the brand id ("pk" for Brand itself)."""

    brand_scope_lookup = "brand_id"
    # Relay nodes are identified by the model's pk. Said here once: otherwise strawberry looks through every
    # annotation of the type for a NodeID each time it resolves a node's id (about 5 ms a node).
    _id_attr: ClassVar[str | None] = "pk"

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
