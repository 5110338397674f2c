"""Batch ingestion: in-memory records (e.g. from a GraphQL mutation) through the same importers as CSV files.
The generic machinery; each app's ingest (`apps/<app>/ingest.py`) uses it with its own importer.

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

from apps.core.importing.result import ImportResult

MAX_BATCH_ITEMS = 1000


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


def duplicates(
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


def key_text(value) -> str | None:
    """The trimmed text of a key value; None when empty (the importer reports missing required values)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def run_batch(
    *,
    importer: Importer,
    brand,
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


def given(items: Iterable[Mapping[str, object]]) -> list[dict[str, object]]:
    return [dict(item) for item in items]


def keyed_ingest(
    *,
    brand,
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
    items = given(items)
    if not items:
        return BatchResult()
    errors = duplicates(items, key, column, duplicate)
    if checks is not None:
        errors += checks(items)
    rows = [BatchRow(i, item) for i, item in enumerate(items)]
    return run_batch(
        importer=importer, brand=brand, rows=without(rows, errors), errors=errors, grouped=True, name="items"
    )


def without(rows: list[BatchRow], errors: list[ItemError]) -> list[BatchRow]:
    """Rows of items without a batch-level error (a duplicate would otherwise be reported twice, by line)."""
    bad = {e.index for e in errors}
    return [row for row in rows if row.index not in bad]
