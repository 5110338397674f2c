"""What every batch ingest mutation shares: the payload (counts and per-item errors), turning input objects
into import records, and the call itself (the manager role in the brand, the size limit, the app's ingest
service). Each app declares its own mutations and input types (apps/<app>/graphql/schema.py and inputs.py).

Input fields are named after the CSV columns of docs/importing.md (customer_id → customerId) and parsed by the
same importers, so a value accepted in a file is accepted here and vice versa. Fields left out of an item keep
the stored value; `null` clears it to its default (orders excepted: an order item is the whole order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import strawberry
from strawberry.types import Info

from apps.core.graphql.mutations import brand_for
from apps.core.importing import batch
from apps.core.importing.batch import BatchResult, ItemError

KEEP = "Left out: the stored value stays; null: cleared to the default."
MANAGER = "Needs the manager role in the brand (ingest writes the brand's data)."
BATCH = (
    "At most 1,000 items per call (more: one error, nothing written). Idempotent by external id: sending the "
    "same items again changes nothing; changed fields are updated. Every bad item gives an error with its "
    "index and field, and with any error nothing is written."
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


def ingest(info: Info, brand_id, items, service: Callable[..., BatchResult]) -> IngestPayload:
    """Run an app's ingest service for the caller's brand (manager role) on the items as import records."""
    brand = brand_for(info, brand_id, "manager")
    if refused := batch.too_many_items(len(items)):
        return IngestPayload.from_result(refused)
    return IngestPayload.from_result(service(brand=brand, items=[input_values(item) for item in items]))
