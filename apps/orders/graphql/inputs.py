"""Input types of ingestOrders."""

from __future__ import annotations

import datetime
import decimal

import strawberry


@strawberry.input(name="OrderLineIngestInput", description="One line of an order.")
class OrderLineIngestInput:
    amount: decimal.Decimal = strawberry.field(
        description="The line's amount (at most 2 decimals, not negative; 0 for gifts)."
    )
    quantity: int | None = strawberry.field(default=None, description="A positive whole number; default 1.")
    sku: str | None = strawberry.field(default=None, description="Default empty.")
    category: str | None = strawberry.field(default=None, description="Product category; default empty.")


@strawberry.input(
    name="OrderIngestInput",
    description="A whole order, created or updated by orderId: optional fields left out take their defaults "
    "and lines the order no longer has are removed. A customer the brand does not know yet is created.",
)
class OrderIngestInput:
    order_id: str = strawberry.field(description="The brand's id for the order, kept exactly as given.")
    customer_id: str = strawberry.field(description="The brand's id for the customer.")
    ordered_at: datetime.datetime = strawberry.field(
        description="ISO 8601; without an offset it is the brand's local time."
    )
    lines: list[OrderLineIngestInput] = strawberry.field(
        description="1 to 100 lines; the total is their sum."
    )
    status: str | None = strawberry.field(
        default=None,
        description="paid, refunded or cancelled (已支付 / 已退款 / 已取消 accepted); default paid.",
    )
    stream_id: str | None = strawberry.field(
        default=None, description="streamId of the live stream the order is attributed to."
    )
    channel: str | None = strawberry.field(
        default=None, description="Sales channel; default live_stream with a stream, else other."
    )
    currency: str | None = strawberry.field(
        default=None, description="Three-letter code; default the brand's currency."
    )
