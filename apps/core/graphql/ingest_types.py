"""Input and payload types of the batch ingest and erasure mutations (apps.core.graphql.ingest).

Input fields are named after the CSV columns of docs/importing.md (customer_id → customerId) and parsed by the
same importers, so a value accepted in a file is accepted here and vice versa. Fields left out of an item keep
the stored value; `null` clears it to its default (orders excepted: an order item is the whole order).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal

import strawberry
from strawberry import relay

from apps.core.importing.batch import BatchResult, ItemError

KEEP = "Left out: the stored value stays; null: cleared to the default."


@strawberry.input(name="CustomerIngestInput", description="A customer, created or updated by customerId.")
class CustomerIngestInput:
    customer_id: str = strawberry.field(description="The brand's id for the customer, kept exactly as given.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description=f"Display name. {KEEP}")
    phone: str | None = strawberry.field(default=strawberry.UNSET, description=f"Phone number. {KEEP}")
    gender: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"female, male or unknown (女 / 男 accepted). {KEEP}"
    )
    birth_year: int | None = strawberry.field(default=strawberry.UNSET, description=f"1900–2100. {KEEP}")
    age: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Age in years; only its age band is stored (when ageBand is not given).",
    )
    age_band: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"<18, 18-24, 25-34, 35-44, 45-54 or 55+. {KEEP}"
    )
    province: str | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    city: str | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    acquisition_channel: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"live_stream, short_video, search, community, referral, ads, offline or other. {KEEP}",
    )
    acquisition_stream_id: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"streamId of the live stream that brought the customer. {KEEP}"
    )
    first_seen_at: datetime.datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"ISO 8601; without an offset it is the brand's local time. {KEEP}",
    )
    marketing_consent: bool | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    automated_decisions_opt_out: bool | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    preferred_touch_channel: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"sms, wechat, wecom, email, app_push or none. {KEEP}"
    )


@strawberry.input(name="StreamIngestInput", description="A live stream, created or updated by streamId.")
class StreamIngestInput:
    stream_id: str = strawberry.field(description="The brand's id for the stream, kept exactly as given.")
    started_at: datetime.datetime = strawberry.field(
        description="ISO 8601; without an offset it is the brand's local time."
    )
    title: str | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    host: str | None = strawberry.field(default=strawberry.UNSET, description=f"The host's name. {KEEP}")
    platform: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"douyin, kuaishou, taobao, wechat_channels or other (抖音 / 快手 / 淘宝 / 视频号 accepted). {KEEP}",
    )
    category: str | None = strawberry.field(default=strawberry.UNSET, description=KEEP)
    ended_at: datetime.datetime | None = strawberry.field(
        default=strawberry.UNSET, description=f"Not before startedAt. {KEEP}"
    )


@strawberry.input(
    name="StreamViewIngestInput",
    description="One customer's engagement in one live stream, created or updated by (streamId, customerId). "
    "A customer the brand does not know yet is created.",
)
class StreamViewIngestInput:
    stream_id: str = strawberry.field(description="streamId of a live stream ingested before.")
    customer_id: str = strawberry.field(description="The brand's id for the customer.")
    joined_at: datetime.datetime | None = strawberry.field(
        default=strawberry.UNSET, description=f"When the customer joined; default: the stream's start. {KEEP}"
    )
    watch_seconds: int | None = strawberry.field(default=strawberry.UNSET, description=f"Default 0. {KEEP}")
    comments: int | None = strawberry.field(default=strawberry.UNSET, description=f"Default 0. {KEEP}")
    likes: int | None = strawberry.field(default=strawberry.UNSET, description=f"Default 0. {KEEP}")
    shares: int | None = strawberry.field(default=strawberry.UNSET, description=f"Default 0. {KEEP}")


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


@strawberry.type(
    name="IngestError",
    description="Why one item was refused. Messages never repeat the value (it may be personal data).",
)
class IngestErrorType:
    index: int | None = strawberry.field(
        description="0-based position of the item in `items`; null when the error is about the whole call."
    )
    field: str = strawberry.field(
        description='The input field, e.g. "customerId", or a path such as "lines.2.amount"; "items" for the call.'
    )
    message: str = strawberry.field(description="The reason, in the caller's language.")


@strawberry.type(
    name="IngestPayload",
    description="What a batch ingest did. With any error nothing is written and the counts are 0.",
)
class IngestPayload:
    ok: bool = strawberry.field(description="True when every item was valid and the batch was written.")
    created: int = strawberry.field(description="Items that did not exist before.")
    updated: int = strawberry.field(description="Existing items of which some field changed.")
    unchanged: int = strawberry.field(description="Existing items sent again as they were.")
    customers_created: int = strawberry.field(
        description="Customers created because a stream view or order mentioned them."
    )
    errors: list[IngestErrorType] = strawberry.field(description="One entry per problem, by item index.")

    @classmethod
    def from_result(cls, result: BatchResult) -> IngestPayload:
        return cls(
            ok=result.ok,
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
            customers_created=result.customers_created,
            errors=[_error(e) for e in result.errors],
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _error(error: ItemError) -> IngestErrorType:
    """Import columns and paths ("lines.2.unit_price") in GraphQL spelling ("lines.2.unitPrice")."""
    field = ".".join(_camel(part) for part in error.field.split(".")) if error.field else ""
    return IngestErrorType(index=error.index, field=field, message=error.message)


def input_values(item) -> dict[str, object]:
    """An input object as an import record: the fields the client gave (null included), by column name."""
    values: dict[str, object] = {}
    for f in dataclasses.fields(item):
        value = getattr(item, f.name)
        if value is strawberry.UNSET:
            continue
        if isinstance(value, list):
            value = [input_values(v) for v in value]
        values[f.name] = value
    return values


@strawberry.type(name="EraseCustomerPayload", description="The outcome of eraseCustomer.")
class EraseCustomerPayload:
    customer_id: relay.GlobalID = strawberry.field(description="The customer's relay id (unchanged).")
    erased_at: datetime.datetime = strawberry.field(description="When the personal data was erased.")
    erased_now: bool = strawberry.field(
        description="False when the customer had already been erased (nothing changed)."
    )
