"""GraphQL types of the orders app: orders and their items. Orders are relay nodes scoped to the caller's
brands (BrandScopedType); items are listed under their order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from strawberry import relay

from apps.core.graphql.scoping import BrandScopedType
from apps.orders import models

if TYPE_CHECKING:
    from apps.customers.graphql.types import CustomerType
    from apps.streams.graphql.types import StreamType

CustomerRef = Annotated["CustomerType", strawberry.lazy("apps.customers.graphql.types")]
StreamRef = Annotated["StreamType", strawberry.lazy("apps.streams.graphql.types")]


@strawberry_django.type(models.OrderItem, name="OrderItem", description="One line of an order.")
class OrderItemType(BrandScopedType):
    line_no: strawberry.auto
    sku: strawberry.auto
    category: strawberry.auto
    quantity: strawberry.auto
    unit_price: strawberry.auto
    amount: strawberry.auto

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs):
        queryset = super().get_queryset(queryset, info, **kwargs)
        if not queryset.query.order_by:
            queryset = queryset.order_by("line_no", "pk")
        return queryset


@strawberry_django.type(models.Order, name="Order", description="A customer's order. Refunds are a status.")
class OrderType(BrandScopedType, relay.Node):
    external_id: strawberry.auto
    customer: CustomerRef
    placed_at: strawberry.auto
    status: str = strawberry_django.field(description="paid, refunded or cancelled.")
    total_amount: strawberry.auto
    currency: strawberry.auto
    channel: str = strawberry_django.field(
        description="live_stream, short_video, shop, mini_program, community, offline or other."
    )
    items: list[OrderItemType] = strawberry_django.field(description="The order's lines, in line order.")

    # Joined in the orders' own query (same brand by the composite same-brand key): no query of its own.
    @strawberry_django.field(
        select_related=["stream"], description="The live stream the order is attributed to."
    )
    def stream(self) -> StreamRef | None:
        return self.stream

    @strawberry_django.field(only=["status"], description="The status in the caller's language.")
    def status_label(self) -> str:
        return str(self.get_status_display())

    @strawberry_django.field(only=["channel"], description="The channel in the caller's language.")
    def channel_label(self) -> str:
        return str(self.get_channel_display())

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs):
        queryset = super().get_queryset(queryset, info, **kwargs)
        if not queryset.query.order_by:
            queryset = queryset.order_by("-placed_at", "-pk")
        return queryset
