"""Filters and orderings of the live-stream list (explicit inputs, checked with clear errors)."""

from __future__ import annotations

from enum import Enum

import strawberry
from django.db.models import F, Q

from apps.core.graphql.enums import enum_codes
from apps.core.graphql.relay import (
    DateTimeRange,
    SortDirection,
    order_expression,
    range_bounds,
    search_text,
)
from apps.streams.graphql.types import StreamPlatform


@strawberry.input(name="StreamFilter", description="Every filter given must hold (AND).")
class StreamFilter:
    platforms: list[StreamPlatform] | None = strawberry.field(
        default=None, description="Platform is one of these."
    )
    started_at: DateTimeRange | None = None
    search: str | None = strawberry.field(
        default=None, description="External id (exact) or a part of the title or host name."
    )


@strawberry.enum(name="StreamSortField")
class StreamSortField(Enum):
    STARTED_AT = "started_at"
    TITLE = "title"


@strawberry.input(name="StreamOrder", description="Sort order of live streams.")
class StreamOrder:
    field: StreamSortField
    direction: SortDirection = SortDirection.DESC


def streams_filter(queryset, value: StreamFilter | None):
    if value is None:
        return queryset
    if value.platforms is not None:
        queryset = queryset.filter(platform__in=enum_codes(value.platforms))
    if value.started_at is not None:
        low, high = range_bounds(value.started_at, field="startedAt")
        if low is not None:
            queryset = queryset.filter(started_at__gte=low)
        if high is not None:
            queryset = queryset.filter(started_at__lte=high)
    text = search_text(value.search)
    if text:
        queryset = queryset.filter(
            Q(external_id=text) | Q(title__icontains=text) | Q(host_name__icontains=text)
        )
    return queryset


def streams_order(queryset, value: StreamOrder | None):
    if value is None:
        return queryset.order_by("-started_at", "-pk")
    tie_break = "-pk" if value.direction == SortDirection.DESC else "pk"
    return queryset.order_by(order_expression(F(value.field.value), value.direction), tie_break)
