"""GraphQL types of the orders app: orders and their items. Orders are relay nodes scoped to the caller's
brands (BrandScopedType); items are listed under their order. Amounts are Money in the order's currency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import F
from strawberry import relay

from apps.core.graphql.enums import choices_enum
from apps.core.graphql.money import Money, money
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType
from apps.orders import models

if TYPE_CHECKING:
    from apps.customers.graphql.types import CustomerType
    from apps.streams.graphql.types import StreamType

CustomerRef = Annotated["CustomerType", strawberry.lazy("apps.customers.graphql.types")]
StreamRef = Annotated["StreamType", strawberry.lazy("apps.streams.graphql.types")]

OrderStatus = choices_enum(models.OrderStatus, "OrderStatus", "Where an order stands; refunds are a status.")
SalesChannel = choices_enum(models.SalesChannel, "SalesChannel", "Where an order was placed.")


@strawberry_django.type(
    models.OrderItem, name="OrderItem", description="One line of an order.", only=BRAND_COLUMN
)
class OrderItemType(BrandScopedType):
    line_no: strawberry.auto
    sku: strawberry.auto
    category: strawberry.auto
    quantity: strawberry.auto

    # the order's currency, read in the items' own query
    @strawberry_django.field(
        only=["unit_price"],
        annotate={"order_currency": F("order__currency")},
        description="The price of one unit, in the order's currency.",
    )
    def unit_price(self) -> Money:
        return money(self.unit_price, self.order_currency)

    @strawberry_django.field(
        only=["amount"],
        annotate={"order_currency": F("order__currency")},
        description="The line's amount, in the order's currency.",
    )
    def amount(self) -> Money:
        return money(self.amount, self.order_currency)

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs):
        queryset = super().get_queryset(queryset, info, **kwargs)
        if not queryset.query.order_by:
            queryset = queryset.order_by("line_no", "pk")
        return queryset


@strawberry_django.type(
    models.Order,
    name="Order",
    description="A customer's order. Refunds are a status.",
    only=BRAND_COLUMN,
)
class OrderType(BrandScopedType, relay.Node):
    external_id: strawberry.auto
    customer: CustomerRef
    placed_at: strawberry.auto
    currency: strawberry.auto
    items: list[OrderItemType] = strawberry_django.field(description="The order's lines, in line order.")

    @strawberry_django.field(only=["status"])
    def status(self) -> OrderStatus:
        return OrderStatus(self.status)

    @strawberry_django.field(
        only=["total_amount", "currency"], description="The order's total, in its currency."
    )
    def total_amount(self) -> Money:
        return money(self.total_amount, self.currency)

    @strawberry_django.field(
        only=["original_amount", "original_currency"],
        description="For an order placed in another currency and converted at the rate staff gave "
        "(import_orders --rates): its total as placed, in that currency; null for the others.",
    )
    def original_total(self) -> Money | None:
        if not self.original_currency:
            return None
        return money(self.original_amount, self.original_currency)

    exchange_rate: strawberry.auto = strawberry_django.field(
        description="Units of `totalAmount`'s currency per unit of `originalTotal`'s; null unless converted."
    )

    @strawberry_django.field(only=["channel"])
    def channel(self) -> SalesChannel:
        return SalesChannel(self.channel)

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
