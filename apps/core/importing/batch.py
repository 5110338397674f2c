"""Batch ingestion: in-memory records (e.g. from a GraphQL mutation) through the same importers as CSV files.

A batch is a list of items, each a dict of import column -> value (the CSV column names of docs/importing.md).
Each item is validated by the entity's importer (`apps/<app>/importers.py`) exactly as a CSV row would be,
and written by the same staging table and set-based upsert. What differs from a file:

- errors name the item (its 0-based index in the batch) and the field, never a file line;
- a column an item leaves out keeps its stored value (a CSV file can only leave out a column for every row),
  while a column given as None (an empty cell) takes its default; items are grouped by the columns they give
  and each group goes through the importer on its own, all in one transaction;
- with any error in any item nothing is written, and the counts are zero;
- at most MAX_BATCH_ITEMS items per call.

Orders are the exception to "left out keeps": an order item is the whole order (as the lines of a file are),
so its optional fields take their defaults and lines it no longer has are removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing.result import ImportResult

MAX_BATCH_ITEMS = 1000
MAX_ORDER_LINES = 100


@dataclass(frozen=True, slots=True)
class ItemError:
    """A problem with one item: `index` is the item's position in the batch (None: the batch as a whole);
    `field` is the import column, or a path such as "lines.2.amount" for a part of the item."""

    index: int | None
    field: str
    message: str


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    customers_created: int = 0
    errors: list[ItemError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One row for the importer: the item it came from, its values, and the path prefix of columns that
    belong to a part of the item (order lines: {"amount": "lines.0.", ...})."""

    index: int
    values: Mapping[str, object]
    prefixes: Mapping[str, str] = field(default_factory=dict)


Importer = Callable[..., ImportResult]


def too_many_items(count: int) -> BatchResult | None:
    """The refusal of a batch over MAX_BATCH_ITEMS items; None when the size is fine."""
    if count <= MAX_BATCH_ITEMS:
        return None
    message = _("At most %(max)d items per call; this call has %(count)d. Nothing was written.") % {
        "max": MAX_BATCH_ITEMS,
        "count": count,
    }
    return BatchResult(errors=[ItemError(None, "items", message)])


def _duplicates(
    items: Sequence[Mapping[str, object]],
    key: Callable[[Mapping[str, object]], object],
    column: str,
    message: str,
) -> list[ItemError]:
    """An error on every item whose key an earlier item already has (keys are compared as trimmed text,
    as the importers compare them)."""
    seen: dict[object, int] = {}
    errors = []
    for index, item in enumerate(items):
        value = key(item)
        if value is None:
            continue
        if value in seen:
            errors.append(ItemError(index, column, message % {"index": seen[value]}))
        else:
            seen[value] = index
    return errors


def _text(value) -> str | None:
    """The trimmed text of a key value; None when empty (the importer reports missing required values)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _run(
    *,
    importer: Importer,
    brand: Brand,
    rows: Sequence[BatchRow],
    errors: list[ItemError],
    grouped: bool,
    name: str,
) -> BatchResult:
    """Run the importer over the rows (per group of rows giving the same columns when `grouped`) in one
    transaction; roll everything back when any item is invalid."""
    groups: dict[frozenset, list[BatchRow]] = {}
    for row in rows:
        key = frozenset(row.values) if grouped else frozenset()
        groups.setdefault(key, []).append(row)
    result = BatchResult(errors=list(errors))
    customers_created = _("customers created")
    with transaction.atomic():
        for group in groups.values():
            outcome = importer(brand=brand, rows=[r.values for r in group], name=name)
            for error in outcome.errors:
                position = error.line - 2  # row i of an in-memory source is "line" i + 2
                if 0 <= position < len(group):
                    row = group[position]
                    column = "" if error.column == "*" else error.column
                    result.errors.append(
                        ItemError(row.index, row.prefixes.get(column, "") + column, error.reason)
                    )
                elif error.line == 1:  # a header problem (a required column no item of the group gives)
                    column = "" if error.column == "*" else error.column
                    result.errors += [
                        ItemError(r.index, r.prefixes.get(column, "") + column, error.reason) for r in group
                    ]
                else:  # the source as a whole
                    result.errors.append(ItemError(None, "items", error.reason))
            result.created += outcome.created
            result.updated += outcome.updated
            result.unchanged += outcome.unchanged
            result.customers_created += outcome.details.get(customers_created, 0)
        if result.errors:
            transaction.set_rollback(True)
    if result.errors:
        unique = dict.fromkeys(result.errors)  # order lines repeat the order's own errors
        result = BatchResult(
            errors=sorted(
                unique, key=lambda e: -1 if e.index is None else e.index
            )  # stable: fields keep order
        )
    return result


def _given(items: Iterable[Mapping[str, object]]) -> list[dict[str, object]]:
    return [dict(item) for item in items]


def _keyed_ingest(
    *,
    brand: Brand,
    items: Sequence[Mapping[str, object]],
    importer: Importer,
    key: Callable[[Mapping[str, object]], object],
    column: str,
    duplicate: str,
    checks: Callable[[list[dict[str, object]]], list[ItemError]] | None = None,
) -> BatchResult:
    """The path of customers, streams and views: the size limit, one item per `key` (a second one is reported
    with `duplicate` on `column`), any further `checks`, then the importer on the columns each item gives."""
    if too_many := too_many_items(len(items)):
        return too_many
    items = _given(items)
    if not items:
        return BatchResult()
    errors = _duplicates(items, key, column, duplicate)
    if checks is not None:
        errors += checks(items)
    rows = [BatchRow(i, item) for i, item in enumerate(items)]
    return _run(
        importer=importer, brand=brand, rows=_without(rows, errors), errors=errors, grouped=True, name="items"
    )


def customers_ingest(*, brand: Brand, items: Sequence[Mapping[str, object]]) -> BatchResult:
    """Create or update customers by customer_id. Columns an item leaves out keep their stored values.
    Customers whose personal data was erased cannot be written again."""
    from apps.customers.importers import customers_import
    from apps.customers.models import Customer

    def not_erased(items: list[dict[str, object]]) -> list[ItemError]:
        ids = {_text(item.get("customer_id")) for item in items} - {None}
        erased = set(
            Customer.objects.filter(brand=brand, external_id__in=ids, erased_at__isnull=False).values_list(
                "external_id", flat=True
            )
        )
        message = _("this customer's personal data was erased; it cannot be written again")
        return [
            ItemError(i, "customer_id", message)
            for i, item in enumerate(items)
            if _text(item.get("customer_id")) in erased
        ]

    return _keyed_ingest(
        brand=brand,
        items=items,
        importer=customers_import,
        key=lambda item: _text(item.get("customer_id")),
        column="customer_id",
        duplicate=_("the same customer appears in item %(index)d"),
        checks=not_erased,
    )


def streams_ingest(*, brand: Brand, items: Sequence[Mapping[str, object]]) -> BatchResult:
    """Create or update live streams by stream_id. Columns an item leaves out keep their stored values."""
    from apps.streams.importers import streams_import

    return _keyed_ingest(
        brand=brand,
        items=items,
        importer=streams_import,
        key=lambda item: _text(item.get("stream_id")),
        column="stream_id",
        duplicate=_("the same stream appears in item %(index)d"),
    )


def stream_views_ingest(*, brand: Brand, items: Sequence[Mapping[str, object]]) -> BatchResult:
    """Create or update stream views by (stream_id, customer_id); customers the brand does not know yet are
    created. Columns an item leaves out keep their stored values."""
    from apps.streams.importers import stream_views_import

    def key(item):
        stream, customer = _text(item.get("stream_id")), _text(item.get("customer_id"))
        return None if stream is None or customer is None else (stream, customer)

    return _keyed_ingest(
        brand=brand,
        items=items,
        importer=stream_views_import,
        key=key,
        column="customer_id",
        duplicate=_("the same live stream and customer appear in item %(index)d"),
    )


ORDER_COLUMNS = ("order_id", "customer_id", "ordered_at", "status", "stream_id", "channel", "currency")
LINE_COLUMNS = ("amount", "quantity", "sku", "category")


def orders_ingest(*, brand: Brand, items: Sequence[Mapping[str, object]]) -> BatchResult:
    """Create or update orders by order_id. Each item is a whole order: the order columns (ORDER_COLUMNS)
    and "lines", a list of dicts of LINE_COLUMNS. Optional columns left out take their defaults (status
    paid, the brand's currency, channel live_stream with a stream, else other), as in a CSV file; lines an
    order no longer has are removed. Customers the brand does not know yet are created."""
    from apps.orders.importers import orders_import

    if too_many := too_many_items(len(items)):
        return too_many
    items = _given(items)
    if not items:
        return BatchResult()
    required = _("a value is required")
    errors = [
        ItemError(i, "order_id", required)
        for i, item in enumerate(items)
        if _text(item.get("order_id")) is None
    ]
    errors += _duplicates(
        items,
        lambda item: _text(item.get("order_id")),
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
    return _run(
        importer=orders_import,
        brand=brand,
        rows=_without(rows, errors),
        errors=errors,
        grouped=False,
        name="items",
    )


def _without(rows: list[BatchRow], errors: list[ItemError]) -> list[BatchRow]:
    """Rows of items without a batch-level error (a duplicate would otherwise be reported twice, by line)."""
    bad = {e.index for e in errors}
    return [row for row in rows if row.index not in bad]
