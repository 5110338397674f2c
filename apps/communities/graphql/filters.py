"""Filters and orderings of the community list (explicit inputs, checked with clear errors)."""

from __future__ import annotations

from enum import Enum

import strawberry
from django.db.models import F, Q

from apps.communities.graphql.types import CommunityKind
from apps.core.graphql.enums import enum_codes
from apps.core.graphql.relay import SortDirection, order_expression, search_text


@strawberry.input(name="CommunityFilter", description="Every filter given must hold (AND).")
class CommunityFilter:
    kinds: list[CommunityKind] | None = strawberry.field(default=None, description="Kind is one of these.")
    search: str | None = strawberry.field(
        default=None, description="External id (exact) or a part of the name."
    )


@strawberry.enum(name="CommunitySortField")
class CommunitySortField(Enum):
    NAME = "name"
    OPENED_AT = "opened_at"


@strawberry.input(name="CommunityOrder", description="Sort order of communities.")
class CommunityOrder:
    field: CommunitySortField
    direction: SortDirection = SortDirection.ASC


def communities_filter(queryset, value: CommunityFilter | None):
    if value is None:
        return queryset
    if value.kinds is not None:
        queryset = queryset.filter(kind__in=enum_codes(value.kinds))
    text = search_text(value.search)
    if text:
        queryset = queryset.filter(Q(external_id=text) | Q(name__icontains=text))
    return queryset


def communities_order(queryset, value: CommunityOrder | None):
    if value is None:
        return queryset.order_by("name", "pk")
    tie_break = "-pk" if value.direction == SortDirection.DESC else "pk"
    return queryset.order_by(order_expression(F(value.field.value), value.direction), tie_break)
