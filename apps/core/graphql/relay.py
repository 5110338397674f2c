"""The project's relay connection: pages of at most 100 nodes (20 when the caller does not say), with totalCount.

Annotate list fields as `Connection[XType]` and declare them with `connection(...)` from this module (or
`strawberry_django.connection(..., field_cls=ConnectionField)`):

- `first`/`last` above 100 or below 0 are refused with a clear, translated error (PageSizeError);
- an `after`/`before` that is not a cursor of the list is refused with a clear, translated error (CursorError)
  that repeats at most 64 characters of it, instead of the decoder's "Incorrect padding";
- without `first` and `last` a page holds DEFAULT_PAGE_SIZE nodes;
- a connection nested under a list (e.g. each customer's `orders(first: 10)`) is prefetched by the optimizer in
  one query for all parents, paginated per parent with window functions (ROW_NUMBER() OVER (PARTITION BY the
  parent)), so a page of parents costs the same number of queries whatever its size.

strawberry-django only window-paginates nested connections whose type is exactly its own
`DjangoListConnection`; `ConnectionField` does that pagination itself for our subclass.
"""

from __future__ import annotations

import enum
import inspect
import itertools
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
import strawberry_django
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import OuterRef, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils.translation import gettext
from strawberry import relay
from strawberry.extensions.field_extension import FieldExtension
from strawberry.relay.types import PREFIX as CURSOR_PREFIX
from strawberry.relay.utils import SliceMetadata, from_base64
from strawberry.types.nodes import FragmentSpread, InlineFragment
from strawberry.utils.str_converters import to_camel_case
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.optimizer import is_optimized_by_prefetching, mark_optimized_by_prefetching
from strawberry_django.pagination import apply_window_pagination
from strawberry_django.relay import DjangoListConnection
from strawberry_django.relay.utils import resolve_edge_class
from strawberry_django.utils.typing import get_django_definition

from apps.core.graphql.ids import bounded, is_node_number

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

# How a root list's totalCount is counted: set by an app that can cache counts (the analytics app's read
# cache, per brand and data version); called as count_reader(queryset, info, compute) and must return
# compute() whenever it cannot answer for sure. None: every totalCount is counted in the page's query.
count_reader = None


def _selected(selection) -> bool:
    """False when @skip(if: true) or @include(if: false) leaves the selection out."""
    directives = getattr(selection, "directives", None) or {}
    if (directives.get("skip") or {}).get("if") is True:
        return False
    return (directives.get("include") or {}).get("if", True) is not False


def total_count_wanted(info) -> bool:
    """Whether the query selects this connection's own `totalCount`, honouring @include and @skip (a list
    screen that asks for the total on its first page only must not pay a COUNT on every page) and looking at
    the connection's direct fields only (a node's nested `orders { totalCount }` is not the list's total).
    strawberry-django's own check does neither."""

    def direct(selections) -> bool:
        for selection in selections:
            if not _selected(selection):
                continue
            if isinstance(selection, InlineFragment | FragmentSpread):
                if direct(selection.selections):
                    return True
            elif selection.name == "totalCount":
                return True
        return False

    return any(_selected(field) and direct(field.selections) for field in info.selected_fields)


class ArgumentError(ValidationError):
    """A bad argument of a list field: a ValidationError (shown to the client) whose text is the plain message
    (a plain ValidationError reads "['...']" in a GraphQL error)."""

    def __str__(self) -> str:
        return " ".join(str(m) for m in self.messages)


class PageSizeError(ArgumentError):
    """`first`/`last` out of range."""


def page_size_check(first: int | None, last: int | None) -> None:
    for value in (first, last):
        if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
            raise PageSizeError(
                gettext("Page size must be between 0 and %(max)d.") % {"max": MAX_PAGE_SIZE},
                code="page_size",
            )


class CursorError(ArgumentError):
    """`after`/`before` that is not a cursor this list returned."""


MAX_CURSOR_DIGITS = 12  # no list has a trillion rows; a longer offset is no cursor of ours (nor a bigint)


def cursor_offset(value: str, prefix: str = CURSOR_PREFIX) -> int | None:
    """The offset inside a cursor of a list (None when `value` is not one)."""
    try:
        kind, offset = from_base64(value)
    except (ValueError, TypeError):
        return None
    if kind != prefix or not offset.isascii() or not offset.isdigit() or len(offset) > MAX_CURSOR_DIGITS:
        return None
    return int(offset)


def cursor_check(
    *, after: str | None, before: str | None, prefix: str = CURSOR_PREFIX, field: str | None = None
) -> None:
    """A clear error for an `after` or `before` that is not a cursor of the list (`field`: the list's name, for
    a list nested in another, whose errors carry the outer list's path)."""
    for name, value in (("after", after), ("before", before)):
        argument = f"{field}.{name}" if field else name
        if value and cursor_offset(value, prefix) is None:
            raise CursorError(
                gettext(
                    '%(argument)s: "%(value)s" is not a cursor of this list; pass a cursor the list returned '
                    "(pageInfo.endCursor, pageInfo.startCursor or an edge's cursor)."
                )
                % {"argument": argument, "value": bounded(value)},
                code="invalid_cursor",
            )


def page_arguments(first: int | None, last: int | None) -> tuple[int | None, int | None]:
    """Checked `first`/`last`, with the default page size when neither is given."""
    page_size_check(first, last)
    if first is None and last is None:
        first = DEFAULT_PAGE_SIZE
    if last == 0:  # an empty page, as `first: 0` gives (strawberry reads a `last` of 0 as no limit at all)
        return 0, None
    return first, last


@strawberry.type(name="Connection", description="A page of nodes (at most 100) with the total count.")
class Connection(DjangoListConnection[relay.NodeType]):
    @strawberry.field(description="Total quantity of existing nodes.")
    def total_count(self) -> int | None:
        counted = getattr(self, "_clv_total_count", None)
        if counted is not None:  # counted in the parent's query (ConnectionField)
            return counted
        return DjangoListConnection.total_count(self)

    @classmethod
    def resolve_connection(
        cls,
        nodes,
        *,
        info: strawberry.Info,
        before: str | None = None,
        after: str | None = None,
        first: int | None = None,
        last: int | None = None,
        max_results: int | None = None,
        **kwargs: Any,
    ):
        first, last = page_arguments(first, last)
        cursor_check(after=after, before=before)
        counted = getattr(nodes, "_clv_total_count", None)
        if isinstance(nodes, models.QuerySet) and counted is None and info.path.prev is None:
            # A root list: strawberry-django would count with COUNT(*) OVER () in the page's query, which
            # makes the database build every row (joins, subqueries) before the window can count them. A
            # scalar COUNT subquery in the same statement is computed once, on its own, and leaves the page
            # free to come straight off an index with LIMIT.
            if total_count_wanted(info):
                if count_reader is not None:
                    counted = count_reader(nodes, info, lambda: _count_now(nodes))
                    nodes = nodes.annotate(_strawberry_total_count=Value(counted, models.IntegerField()))
                else:
                    nodes = nodes.annotate(_strawberry_total_count=_count_of(nodes))
            connection = super(DjangoListConnection, cls).resolve_connection(
                nodes,
                info=info,
                before=before,
                after=after,
                first=first,
                last=last,
                max_results=MAX_PAGE_SIZE,
                **kwargs,
            )
            connection.nodes = nodes
            return connection
        connection = super().resolve_connection(
            nodes,
            info=info,
            before=before,
            after=after,
            first=first,
            last=last,
            max_results=MAX_PAGE_SIZE,
            **kwargs,
        )
        if counted is not None and not inspect.isawaitable(connection):
            connection._clv_total_count = counted
        return connection


def _count_now(queryset) -> int:
    try:
        return queryset.order_by().count()
    except EmptyResultSet:
        return 0


def _count_of(queryset):
    """COUNT(*) of the queryset's rows as a scalar subquery (no ordering, no selected annotations)."""
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # e.g. a signed-out caller: no brands at all
        return Value(0, output_field=models.IntegerField())
    return RawSQL(f"SELECT COUNT(*) FROM ({sql}) AS _clv_counted", params, output_field=models.IntegerField())


_total_count_keys = itertools.count()


class ConnectionField(StrawberryDjangoField):
    """A connection field that, when the optimizer prefetches it under a list of parents, checks the page
    arguments and paginates the prefetch per parent with window functions.

    When only `totalCount` is asked of a connection nested under a list (so the optimizer prefetches no
    rows), the count is a subquery of the parents' own query instead of one COUNT per parent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.total_count_key = f"_clv_total_{next(_total_count_keys)}"
        self.store.annotate[self.total_count_key] = _nested_total_count

    def __copy__(self):
        new_field = super().__copy__()
        new_field.total_count_key = self.total_count_key
        return new_field

    def get_result(self, source, info, args, kwargs):
        result = super().get_result(source, info, args, kwargs)
        counted = getattr(source, "__dict__", {}).get(self.total_count_key)
        if counted is not None and isinstance(result, models.QuerySet):
            result._clv_total_count = counted
        return result

    def get_queryset(self, queryset, info, **kwargs):
        related_field_id = kwargs.get("_strawberry_related_field_id")
        if related_field_id is None or is_optimized_by_prefetching(queryset):
            return super().get_queryset(queryset, info, **kwargs)
        before, after = kwargs.pop("before", None), kwargs.pop("after", None)
        first, last = page_arguments(kwargs.pop("first", None), kwargs.pop("last", None))
        edge_class = resolve_edge_class(self.type)
        cursor_check(
            after=after,
            before=before,
            prefix=edge_class.CURSOR_PREFIX,
            field=self.graphql_name or to_camel_case(self.python_name),
        )
        queryset = super().get_queryset(queryset, info, **kwargs)
        page = SliceMetadata.from_arguments(
            info,
            before=before,
            after=after,
            first=first,
            last=last,
            max_results=MAX_PAGE_SIZE,
            prefix=edge_class.CURSOR_PREFIX,
        )
        from_end = page.expected is None  # `last` without `before`: the last n of each parent
        queryset = apply_window_pagination(
            queryset,
            related_field_id=related_field_id,
            offset=page.start,
            limit=last if from_end else page.end - page.start,
            max_results=MAX_PAGE_SIZE,
            reverse=from_end,
        )
        return mark_optimized_by_prefetching(queryset)


def _selects(selections, names: set[str]) -> bool:
    for selection in selections:
        if getattr(selection, "name", None) in names:
            return True
        if getattr(selection, "name", None) is None and _selects(selection.selections, names):
            return True  # a fragment
    return False


def _nested_total_count(info: strawberry.Info):
    """The annotation behind a nested connection's totalCount when no rows are asked for: a COUNT subquery
    over the relation, correlated with the parent row (NULL, i.e. unused, when edges are selected: the
    windowed prefetch counts them then)."""
    field = info._field
    unused = Value(None, output_field=models.IntegerField())
    selections = [s for selected in info.selected_fields for s in selected.selections]
    if not _selects(selections, {"totalCount"}) or _selects(selections, {"edges", "pageInfo"}):
        return unused
    definition = get_django_definition(field.origin)
    if definition is None:
        return unused
    try:
        relation = definition.model._meta.get_field(field.django_name or field.python_name)
    except FieldDoesNotExist:
        return unused
    if not isinstance(relation, models.ManyToOneRel):
        return unused
    child, fk = relation.related_model, relation.field
    lookups = {fk.name: OuterRef("pk")}
    if _has_field(child, "brand") and _has_field(definition.model, "brand"):
        lookups["brand_id"] = OuterRef("brand_id")  # the (brand, parent, ...) indexes
    counts = (
        child._base_manager.filter(**lookups)
        .order_by()
        .values(fk.attname)
        .annotate(n=models.Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=models.IntegerField()), 0)


def _has_field(model, name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def connection(graphql_type=None, **kwargs) -> Any:
    """`strawberry_django.connection` with the project's page rules (see the module docstring)."""
    kwargs.setdefault("field_cls", ConnectionField)
    return strawberry_django.connection(graphql_type, **kwargs)


# -- Arguments shared by the list fields: sort direction, ranges, ids of other nodes ------------------------------


@strawberry.enum(name="SortDirection", description="ASC: smallest first; DESC: largest first.")
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(name="FloatRange", description="Inclusive bounds; either may be left out.")
class FloatRange:
    min: float | None = None
    max: float | None = None


@strawberry.input(name="DecimalRange", description="Inclusive bounds; either may be left out.")
class DecimalRange:
    min: Decimal | None = None
    max: Decimal | None = None


@strawberry.input(
    name="DateRange",
    description="Inclusive calendar days in the brand's time zone; either may be left out.",
)
class DateRange:
    start: date | None = None
    end: date | None = None


@strawberry.input(name="DateTimeRange", description="Inclusive instants; either may be left out.")
class DateTimeRange:
    start: datetime | None = None
    end: datetime | None = None


def range_bounds(value, *, field: str, low=None, high=None) -> tuple[Any, Any]:
    """(min, max) of a FloatRange/DecimalRange/DateTimeRange/DateRange, checked: min ≤ max and both within
    [low, high] where given. A clear ArgumentError naming the argument otherwise."""
    lo = getattr(value, "min", getattr(value, "start", None))
    hi = getattr(value, "max", getattr(value, "end", None))
    for bound in (lo, hi):
        if bound is not None and ((low is not None and bound < low) or (high is not None and bound > high)):
            raise ArgumentError(
                gettext("%(field)s must be between %(low)s and %(high)s.")
                % {"field": field, "low": low, "high": high},
                code="out_of_range",
            )
    if lo is not None and hi is not None and lo > hi:
        raise ArgumentError(
            gettext("%(field)s: the lower bound must not be above the upper bound.") % {"field": field},
            code="invalid_range",
        )
    return lo, hi


def node_pk(global_id: relay.GlobalID, *, type_name: str, field: str) -> int:
    """The database id inside a relay global id of `type_name`; a clear ArgumentError for another type or a
    malformed id."""
    if global_id.type_name != type_name or not is_node_number(str(global_id.node_id)):
        raise ArgumentError(
            gettext("%(field)s must be the id of a %(type)s.") % {"field": field, "type": type_name},
            code="invalid_id",
        )
    return int(global_id.node_id)


class NodeIdsLimit(FieldExtension):
    """`nodes(ids:)` takes at most MAX_PAGE_SIZE ids, as a page of any list holds: a clear error for more,
    instead of thousands of rows in one answer."""

    def resolve(self, next_, source, info, **kwargs):
        ids = kwargs.get("ids")
        if ids is not None and len(ids) > MAX_PAGE_SIZE:
            raise ArgumentError(
                gettext("ids: at most %(max)d ids at a time; got %(n)d.")
                % {"max": MAX_PAGE_SIZE, "n": len(ids)},
                code="too_many_ids",
            )
        return next_(source, info, **kwargs)


def search_text(value: str | None, *, field: str = "search", max_length: int = 100) -> str:
    """Stripped search text ('' for none); too long is refused."""
    text = (value or "").strip()
    if "\x00" in text:  # PostgreSQL's text cannot hold it
        raise ArgumentError(
            gettext("%(field)s must not contain a NUL character (U+0000).") % {"field": field},
            code="invalid_character",
        )
    if len(text) > max_length:
        raise ArgumentError(
            gettext("%(field)s must be at most %(n)d characters.") % {"field": field, "n": max_length},
            code="too_long",
        )
    return text


def order_expression(expression, direction: SortDirection):
    """An order_by term with NULLs (e.g. customers not scored yet) last in both directions."""
    if direction == SortDirection.DESC:
        return expression.desc(nulls_last=True)
    return expression.asc(nulls_last=True)


__all__ = [
    "ArgumentError",
    "CursorError",
    "cursor_check",
    "cursor_offset",
    "DateRange",
    "DateTimeRange",
    "DecimalRange",
    "FloatRange",
    "SortDirection",
    "search_text",
    "node_pk",
    "order_expression",
    "range_bounds",
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "NodeIdsLimit",
    "Connection",
    "ConnectionField",
    "PageSizeError",
    "connection",
    "page_arguments",
    "page_size_check",
]
