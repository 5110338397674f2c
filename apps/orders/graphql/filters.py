"""Filters and orderings of the order list (explicit inputs, checked with clear errors)."""

from __future__ import annotations

from enum import Enum

import strawberry
from django.db.models import F
from strawberry import relay

from apps.core.graphql.enums import enum_codes
from apps.core.graphql.relay import (
    DateTimeRange,
    DecimalRange,
    SortDirection,
    node_pk,
    order_expression,
    range_bounds,
    search_text,
)
from apps.orders.graphql.types import OrderStatus, SalesChannel


@strawberry.input(name="OrderFilter", description="Every filter given must hold (AND).")
class OrderFilter:
    customer: relay.GlobalID | None = None
    stream: relay.GlobalID | None = strawberry.field(
        default=None, description="Attributed to this live stream."
    )
    statuses: list[OrderStatus] | None = strawberry.field(default=None, description="Status is one of these.")
    channels: list[SalesChannel] | None = strawberry.field(
        default=None, description="Channel is one of these."
    )
    placed_at: DateTimeRange | None = None
    total_amount: DecimalRange | None = strawberry.field(
        default=None, description="The total, in the order's currency."
    )
    search: str | None = strawberry.field(default=None, description="External id, exact.")


@strawberry.enum(name="OrderSortField")
class OrderSortField(Enum):
    PLACED_AT = "placed_at"
    TOTAL_AMOUNT = "total_amount"


@strawberry.input(name="OrderOrder", description="Sort order of orders.")
class OrderOrder:
    field: OrderSortField
    direction: SortDirection = SortDirection.DESC


def orders_filter(queryset, value: OrderFilter | None):
    if value is None:
        return queryset
    if value.customer is not None:
        queryset = queryset.filter(
            customer_id=node_pk(value.customer, type_name="Customer", field="customer")
        )
    if value.stream is not None:
        queryset = queryset.filter(stream_id=node_pk(value.stream, type_name="Stream", field="stream"))
    if value.statuses is not None:
        queryset = queryset.filter(status__in=enum_codes(value.statuses))
    if value.channels is not None:
        queryset = queryset.filter(channel__in=enum_codes(value.channels))
    if value.placed_at is not None:
        low, high = range_bounds(value.placed_at, field="placedAt")
        if low is not None:
            queryset = queryset.filter(placed_at__gte=low)
        if high is not None:
            queryset = queryset.filter(placed_at__lte=high)
    if value.total_amount is not None:
        low, high = range_bounds(value.total_amount, field="totalAmount")
        if low is not None:
            queryset = queryset.filter(total_amount__gte=low)
        if high is not None:
            queryset = queryset.filter(total_amount__lte=high)
    text = search_text(value.search)
    if text:
        queryset = queryset.filter(external_id=text)
    return queryset


def orders_order(queryset, value: OrderOrder | None):
    if value is None:
        return queryset.order_by("-placed_at", "-pk")
    tie_break = "-pk" if value.direction == SortDirection.DESC else "pk"
    return queryset.order_by(order_expression(F(value.field.value), value.direction), tie_break)
