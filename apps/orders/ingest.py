"""Batch ingest of whole orders (the ingestOrders mutation): apps.core.importing.batch with this app's
importer. An order item is the whole order, as the lines of a file are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing.batch import (
    BatchResult,
    BatchRow,
    ItemError,
    duplicates,
    given,
    key_text,
    run_batch,
    too_many_items,
    without,
)
from apps.orders.importers import orders_import

MAX_ORDER_LINES = 100
ORDER_COLUMNS = ("order_id", "customer_id", "ordered_at", "status", "stream_id", "channel", "currency")
LINE_COLUMNS = ("amount", "quantity", "sku", "category")


def orders_ingest(*, brand: Brand, items: Sequence[Mapping[str, object]]) -> BatchResult:
    """Create or update orders by order_id. Each item is a whole order: the order columns (ORDER_COLUMNS)
    and "lines", a list of dicts of LINE_COLUMNS. Optional columns left out take their defaults (status
    paid, the brand's currency, channel live_stream with a stream, else other), as in a CSV file; lines an
    order no longer has are removed. Customers the brand does not know yet are created."""
    if too_many := too_many_items(len(items)):
        return too_many
    items = given(items)
    if not items:
        return BatchResult()
    required = _("a value is required")
    errors = [
        ItemError(i, "order_id", required)
        for i, item in enumerate(items)
        if key_text(item.get("order_id")) is None
    ]
    errors += duplicates(
        items,
        lambda item: key_text(item.get("order_id")),
        "order_id",
        _("the same order appears in item %(index)d"),
    )
    rows: list[BatchRow] = []
    for index, item in enumerate(items):
        lines = list(item.get("lines") or ())
        if not lines:
            errors.append(ItemError(index, "lines", _("an order needs at least one line")))
            continue
        if len(lines) > MAX_ORDER_LINES:
            errors.append(
                ItemError(index, "lines", _("at most %(max)d lines per order") % {"max": MAX_ORDER_LINES})
            )
            continue
        header = {column: item.get(column) for column in ORDER_COLUMNS}
        for number, line in enumerate(lines):
            values = {**header, **{column: line.get(column) for column in LINE_COLUMNS}}
            rows.append(BatchRow(index, values, {column: f"lines.{number}." for column in LINE_COLUMNS}))
    return run_batch(
        importer=orders_import,
        brand=brand,
        rows=without(rows, errors),
        errors=errors,
        grouped=False,
        name="items",
    )
