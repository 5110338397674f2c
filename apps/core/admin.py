"""Brand scoping for the Django admin: every brand-owned admin and inline inherits from here.

What a staff member sees and may do is decided by apps.core.scoping:
- querysets (changelists, change pages, autocomplete results) hold rows of the user's brands only;
- every foreign-key and many-to-many choice is limited to the user's brands;
- related-object list filters offer the user's brands' rows only;
- object-level permissions come from the user's role in the object's brand, so a manager of one brand
  who is a viewer of another can edit the first and only read the second;
- a row that does not exist for the user is a 404, never a redirect that hints at its existence.

Lists stay fast on a brand of a million customers (ten million orders) through BrandChangeList:
- the count is exact up to EXACT_COUNT_UP_TO rows (a count of at most that many rows), beyond it PostgreSQL's
  row estimate, shown as "about N" (EstimatedCountPaginator); the last, partly filled page makes it exact;
- the date hierarchy of such a list offers the years (months, days) between the first and the last date
  instead of reading every row for the distinct ones;
- facet counts ("Show counts") are counted in one query per set of filters that share their rows (conditional
  counts, never a subquery per choice), only where that set holds at most FACET_LIVE_UP_TO rows, and within
  what is left of LIST_BUDGET_MS when it holds more than FACET_UNTIMED_UP_TO; beyond that an admin may give counts it
  can get cheaply (large_list_facet_counts, e.g. counted once per published run); the others show "(-)";
- the brand filter shows only to staff of several brands.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from contextlib import contextmanager
from math import floor, log10

from django.contrib import admin
from django.contrib.admin.filters import FacetsMixin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_permission_codename
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import EmptyPage, InvalidPage, Paginator
from django.db import OperationalError, connections, models, transaction
from django.db.models import F, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from psycopg.errors import QueryCanceled

from apps.core.scoping import brand_ids_for_user, user_may


def brand_lookup_for(model) -> str | None:
    """The lookup that holds a row's brand id: 'pk' for Brand, 'brand_id' for brand-owned models."""
    from apps.brands.models import Brand

    if model is Brand:
        return "pk"
    try:
        field = model._meta.get_field("brand")
    except FieldDoesNotExist:
        return None
    if (field.many_to_one or field.one_to_one) and field.related_model is Brand:
        return "brand_id"
    return None


def scope_queryset(queryset, user):
    """Rows of the user's brands; unchanged for superusers and for models that have no brand."""
    lookup = brand_lookup_for(queryset.model)
    if lookup is None:
        return queryset
    ids = brand_ids_for_user(user)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{lookup}__in": ids})


def scope_choices_filter(model, user) -> dict | None:
    """A `limit_choices_to` dict restricting `model` rows to the user's brands (None: no restriction)."""
    lookup = brand_lookup_for(model)
    ids = brand_ids_for_user(user)
    if lookup is None or ids is None:
        return None
    return {f"{lookup}__in": ids}


class BrandScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object list filter that offers only rows of the user's brands (plain ones list all)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        limit = scope_choices_filter(field.related_model, request.user)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


# --- Lists that stay fast on a million rows ----------------------------------------------------------------

EXACT_COUNT_UP_TO = 50_000  # a list of more rows is counted by PostgreSQL's estimate ("about N")
FACET_LIVE_UP_TO = 50_000  # facet counts are counted on at most this many rows
FACET_UNTIMED_UP_TO = (
    10_000  # … and on more than this many within a time budget (joins may make few rows slow):
)
LIST_BUDGET_MS = 800  # what is left of this since the list began (its count, its page) …
FACET_MIN_BUDGET_MS = 100  # … and at least this


def count_up_to(queryset, limit: int) -> int:
    """The queryset's row count if it is at most `limit`, else limit + 1: one query that reads at most limit + 1
    rows (of the primary key only: no select_related joins, no ordering)."""
    return queryset.order_by().values("pk")[: limit + 1].count()


def planner_row_estimate(queryset) -> int:
    """PostgreSQL's estimate of the queryset's row count (EXPLAIN, nothing is read): instant at any size."""
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def round_estimate(value: int) -> int:
    """An estimate to two significant digits (1,234,567 -> 1,200,000): it reads as the estimate it is."""
    if value < 100:
        return value
    scale = 10 ** (floor(log10(value)) - 1)
    return int(round(value / scale) * scale)


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to EXACT_COUNT_UP_TO rows; a longer list gets PostgreSQL's estimate (`estimated`), at
    least that many rows. Pages past the estimate stay reachable (and simply empty past the end)."""

    exact_up_to = EXACT_COUNT_UP_TO

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.estimated = False

    @cached_property
    def count(self):
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        counted = count_up_to(queryset, self.exact_up_to)
        if counted <= self.exact_up_to:
            return counted
        self.estimated = True
        return round_estimate(max(planner_row_estimate(queryset), counted))

    def count_is_exact(self, count: int) -> None:
        """The exact count learnt from a partly filled page."""
        self.__dict__["count"] = count
        self.__dict__.pop("num_pages", None)
        self.estimated = False

    def validate_number(self, number):
        if not self.estimated:
            return super().validate_number(number)
        try:
            return super().validate_number(number)
        except EmptyPage:
            number = int(number)
            if number < 1:
                raise
            return number

    def page(self, number):
        if not self.estimated:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)


class _Uncounted(dict):
    """Facet counts of a filter that were not counted: every choice shows "(-)", as Django shows a choice it
    could not count (SimpleListFilter reads .get(key, -1), the field filters read [key])."""

    def __missing__(self, key):
        return "-"


class BrandChangeList(ChangeList):
    """Django's change list with counts, date hierarchy and facets that stay cheap on long lists."""

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self._facets_by_spec = {}
        self._began = time.monotonic()
        super().__init__(request, *args, **kwargs)
        # the filters the page shows (ChangeList.get_queryset replaces filter_specs when it counts facets)
        self.shown_filter_specs = list(self.filter_specs)
        for spec in self.shown_filter_specs:
            if isinstance(spec, FacetsMixin):
                spec.get_facet_queryset = self._facet_counts_getter(spec)

    def get_ordering(self, request, queryset):
        """Django's ordering, with the columns the model admin names in `nulls_last_ordering` (e.g. scores that
        unscored rows lack) sorted with their blanks last both ways: "highest CLV first" starts with the highest
        CLV, not with every customer who has none."""
        ordering = super().get_ordering(request, queryset)
        last = set(getattr(self.model_admin, "nulls_last_ordering", ()))
        if not last:
            return ordering
        out = []
        for item in ordering:
            name = item.lstrip("-") if isinstance(item, str) else None
            if name in last:
                column = F(name)
                out.append(
                    column.desc(nulls_last=True) if item.startswith("-") else column.asc(nulls_last=True)
                )
            else:
                out.append(item)
        return out

    # -- count and page ------------------------------------------------------------------------------------

    def get_results(self, request):
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        result_count = paginator.count
        estimated = getattr(paginator, "estimated", False)
        multi_page = result_count > self.list_per_page
        can_show_all = result_count <= self.list_max_show_all
        if (self.show_all and can_show_all) or not multi_page:
            result_list = self.queryset._clone()
        else:
            try:
                result_list = paginator.page(self.page_num).object_list
            except InvalidPage as error:
                raise admin.options.IncorrectLookupParameters from error
        if estimated:
            rows = len(result_list)  # the page's rows, read now instead of while rendering
            if rows < self.list_per_page and (rows or self.page_num == 1):
                result_count = (self.page_num - 1) * self.list_per_page + rows
                paginator.count_is_exact(result_count)
                estimated = False
                multi_page = result_count > self.list_per_page
                can_show_all = result_count <= self.list_max_show_all
        full_result_count = None
        self.full_result_count_is_estimate = False
        if self.model_admin.show_full_result_count:
            if not self.filters_in_use() and not self.query:  # the whole list: already counted
                full_result_count, self.full_result_count_is_estimate = result_count, estimated
            else:
                full = EstimatedCountPaginator(self.root_queryset.order_by("pk"), self.list_per_page)
                full_result_count, self.full_result_count_is_estimate = full.count, full.estimated
        self.result_count = result_count
        self.result_count_is_estimate = estimated
        self.show_full_result_count = self.model_admin.show_full_result_count
        self.show_admin_actions = not self.show_full_result_count or bool(full_result_count)
        self.full_result_count = full_result_count
        self.result_list = result_list
        self.can_show_all = can_show_all
        self.multi_page = multi_page
        self.paginator = paginator

    # -- date hierarchy ------------------------------------------------------------------------------------

    @cached_property
    def date_hierarchy_links(self) -> dict | None:
        """The date hierarchy of a list too long to count (None: Django's own, exact one): the years, months
        or days between the first and the last date of the list's rows (two index probes), each a link even
        where it holds no row, instead of reading every row for the distinct dates."""
        if not self.date_hierarchy or not self.result_count_is_estimate:
            return None
        from django.utils import formats
        from django.utils.text import capfirst

        field_name = self.date_hierarchy
        field = get_fields_from_path(self.model, field_name)[-1]
        year = self.params.get(f"{field_name}__year")
        month = self.params.get(f"{field_name}__month")
        day = self.params.get(f"{field_name}__day")
        if day:
            return None  # one day: Django's tag reads nothing

        def link(filters):
            return self.get_query_string(filters, [f"{field_name}__"])

        bounds = self.queryset.aggregate(first=models.Min(field_name), last=models.Max(field_name))
        first, last = bounds["first"], bounds["last"]
        if first is None or last is None:
            return {"show": False}
        if isinstance(field, models.DateTimeField):
            first, last = (timezone.localtime(v) if timezone.is_aware(v) else v for v in (first, last))
            first, last = first.date(), last.date()
        if not (year or month) and first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
        if year and month:
            days = (first + datetime.timedelta(days=n) for n in range((last - first).days + 1))
            return {
                "show": True,
                "back": {"link": link({f"{field_name}__year": year}), "title": str(year)},
                "choices": [
                    {
                        "link": link(
                            {
                                f"{field_name}__year": year,
                                f"{field_name}__month": month,
                                f"{field_name}__day": d.day,
                            }
                        ),
                        "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                    }
                    for d in days
                ],
            }
        if year:
            return {
                "show": True,
                "back": {"link": link({}), "title": _("All dates")},
                "choices": [
                    {
                        "link": link({f"{field_name}__year": year, f"{field_name}__month": m}),
                        "title": capfirst(
                            formats.date_format(datetime.date(int(year), m, 1), "YEAR_MONTH_FORMAT")
                        ),
                    }
                    for m in range(first.month, last.month + 1)
                ],
            }
        return {
            "show": True,
            "back": None,
            "choices": [
                {"link": link({f"{field_name}__year": str(y)}), "title": str(y)}
                for y in range(first.year, last.year + 1)
            ],
        }

    # -- facets --------------------------------------------------------------------------------------------

    def _facet_counts_getter(self, spec):
        def get_facet_queryset(changelist):
            return self.facet_counts(spec)

        return get_facet_queryset

    def filters_in_use(self) -> set[str]:
        return set(self.get_filters_params())

    def facet_budget_ms(self) -> int:
        """The time live facet counts may still take: what the list has left of LIST_BUDGET_MS."""
        spent = (time.monotonic() - self._began) * 1000
        return int(max(FACET_MIN_BUDGET_MS, LIST_BUDGET_MS - spent))

    def facet_counts(self, spec) -> dict:
        """The facet counts of one shown filter: those of every filter counted on the same rows come from the
        same query (the list's rows for each filter not in use; the rows without its own choice for one in
        use)."""
        if spec not in self._facets_by_spec:
            in_use = self.filters_in_use()
            facet_specs = [s for s in self.shown_filter_specs if isinstance(s, FacetsMixin)]
            if in_use & set(spec.expected_parameters()):
                group = [spec]
                base = self.get_queryset(self.request, exclude_parameters=spec.expected_parameters())
                unfiltered = not self.query and in_use <= set(spec.expected_parameters())
                rows = count_up_to(base, FACET_LIVE_UP_TO)
            else:
                group = [s for s in facet_specs if not (in_use & set(s.expected_parameters()))]
                base = self.queryset
                unfiltered = not self.query and not in_use
                rows = FACET_LIVE_UP_TO + 1 if self.result_count_is_estimate else self.result_count
            counts = None
            if rows <= FACET_LIVE_UP_TO:
                counts = facet_counts_in_one_query(
                    base,
                    group,
                    self.pk_attname,
                    budget_ms=self.facet_budget_ms() if rows > FACET_UNTIMED_UP_TO else None,
                )
            if counts is None:  # too many rows, or a query that took too long on few
                counts = self.model_admin.large_list_facet_counts(
                    self.request, specs=group, unfiltered=unfiltered
                )
            for member in group:
                self._facets_by_spec[member] = counts.get(member) or _Uncounted()
        return self._facets_by_spec[spec]


def facet_signature(specs) -> str:
    """What a cached set of facet counts depends on besides the rows: the filters, their parameters and
    choices (tiers, communities, …), and today's date (the date filters' "today", "past 7 days", …)."""
    parts: list = [timezone.localdate().isoformat()]
    for spec in specs:
        choices = getattr(spec, "lookup_choices", None) or ()
        parts.append(
            (type(spec).__qualname__, tuple(spec.expected_parameters()), tuple(str(c[0]) for c in choices))
        )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@contextmanager
def without_jit(using: str = "default"):
    """A transaction in which PostgreSQL compiles no JIT code: for one aggregate over a million rows the
    compilation costs more (0.4 s) than it saves."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield


def facet_counts_in_one_query(
    queryset, specs, pk_attname: str = "pk", extra: dict | None = None, budget_ms: int | None = None
) -> dict | None:
    """{filter spec: its facet counts} of several filters, counted on the same rows in one aggregate query;
    with `extra` aggregates, their values under the key None. A filter whose counts are no conditional
    count (a `count_facets(queryset, pk_attname)` method) counts them in a query of its own. With `budget_ms`
    for all the queries (PostgreSQL cancels what runs past it): None when the aggregate query did not finish in
    it; a filter counted on its own that did not gets no counts ("(-)")."""
    expressions = {f"x_{name}": expression for name, expression in (extra or {}).items()}
    separate = []
    for index, spec in enumerate(specs):
        if hasattr(spec, "count_facets"):
            separate.append(spec)
            continue
        for key, expression in spec.get_facet_counts(pk_attname, queryset).items():
            expressions[f"f{index}_{key}"] = expression
    counts: dict = {spec: {} for spec in specs}
    if extra is not None:
        counts[None] = {}
    if not expressions and not separate:
        return counts
    deadline = None if budget_ms is None else time.monotonic() + budget_ms / 1000

    def remaining() -> int | None:
        return None if deadline is None else max(1, int((deadline - time.monotonic()) * 1000))

    try:
        with time_budget(remaining(), queryset.db):
            values = queryset.aggregate(**expressions) if expressions else {}
    except OperationalError as error:
        if budget_ms is None or not isinstance(error.__cause__, QueryCanceled):
            raise
        return None
    for spec in separate:
        try:
            with time_budget(remaining(), queryset.db):
                counts[spec] = spec.count_facets(queryset, pk_attname)
        except OperationalError as error:
            if budget_ms is None or not isinstance(error.__cause__, QueryCanceled):
                raise
            counts[spec] = {}
    for name, value in values.items():
        if name.startswith("x_"):
            counts[None][name[2:]] = value
        else:
            index, _sep, key = name[1:].partition("_")
            counts[specs[int(index)]][key] = value
    return counts


@contextmanager
def time_budget(budget_ms: int | None, using: str = "default"):
    """Statements in the block are cancelled after `budget_ms` (None: no limit), in a savepoint, so that a
    cancelled one leaves the connection usable."""
    if budget_ms is None:
        yield
        return
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(f"SET LOCAL statement_timeout = {int(budget_ms)}")
        yield
        cursor.execute("SET LOCAL statement_timeout TO DEFAULT")  # a savepoint keeps it to the end otherwise


class _BrandScopedBase:
    """Querysets and relation choices scoped to the user's brands; shared by admins and inlines."""

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def scoped_related_queryset(self, db_field, request, using=None):
        """The choices of a relation, limited to the user's brands; None when the related model has none."""
        related_model = db_field.remote_field.model
        if brand_lookup_for(related_model) is None:
            return None
        queryset = self.get_field_queryset(using, db_field, request)
        if queryset is None:
            queryset = related_model._default_manager.using(using).all()
        return scope_queryset(queryset, request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self.scoped_related_queryset(db_field, request, kwargs.get("using"))
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self.scoped_related_queryset(db_field, request, kwargs.get("using"))
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # Object-level permissions: the role in the object's brand decides.

    def brand_id_of(self, obj) -> int | None:
        return obj.pk if brand_lookup_for(type(obj)) == "pk" else getattr(obj, "brand_id", None)

    def permission_name(self, action: str) -> str:
        return f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}"

    def user_may_in_brand(self, request, action: str, brand_id) -> bool:
        if brand_id is None:
            return False
        return user_may(request.user, brand_id, self.permission_name(action))


class BrandScopedAdmin(_BrandScopedBase, admin.ModelAdmin):
    """Base admin for brand-owned models. Subclasses declare list/search options as usual."""

    paginator = EstimatedCountPaginator

    def get_changelist(self, request, **kwargs):
        return BrandChangeList

    def large_list_facet_counts(self, request, *, specs, unfiltered: bool) -> dict:
        """Facet counts for filters whose rows are too many to count on each request: {spec: counts} for the
        specs this admin can count cheaply (`unfiltered`: the rows are the user's whole list, no filter or
        search). The others show "(-)"."""
        return {}

    def get_list_filter(self, request):
        """Related-object filters given by name offer the user's brands' rows only. The brand filter is for
        staff of several brands: with one there is nothing to choose (and no query to run for it)."""
        scoped = []
        several = self.shows_brand_column(request)
        for item in super().get_list_filter(request):
            if item == "brand" and not several and brand_lookup_for(self.model) == "brand_id":
                continue
            if isinstance(item, str):
                try:
                    field = get_fields_from_path(self.model, item)[-1]
                except (FieldDoesNotExist, NotRelationField):
                    field = None
                if field is not None and field.is_relation and brand_lookup_for(field.related_model):
                    item = (item, BrandScopedRelatedFieldListFilter)
            scoped.append(item)
        return scoped

    def get_list_display(self, request):
        """Staff of several brands (and superusers) see which brand each row belongs to."""
        list_display = list(super().get_list_display(request))
        if self.shows_brand_column(request) and "brand" not in list_display:
            list_display.insert(1, "brand")
        return list_display

    def get_list_select_related(self, request):
        select_related = super().get_list_select_related(request)
        if self.shows_brand_column(request) and isinstance(select_related, list | tuple):
            select_related = (*select_related, "brand") if "brand" not in select_related else select_related
        return select_related

    def shows_brand_column(self, request) -> bool:
        if brand_lookup_for(self.model) != "brand_id":
            return False
        ids = brand_ids_for_user(request.user)
        return ids is None or len(ids) > 1

    def get_object(self, request, object_id, from_field=None):
        """Another brand's row (or a missing one) is a plain 404."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(gettext("This object does not exist or belongs to another brand."))
        return obj

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return super().has_view_permission(request, obj)
        brand_id = self.brand_id_of(obj)
        return self.user_may_in_brand(request, "view", brand_id) or self.user_may_in_brand(
            request, "change", brand_id
        )

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request, obj)
        return self.user_may_in_brand(request, "change", self.brand_id_of(obj))

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return super().has_delete_permission(request, obj)
        return self.user_may_in_brand(request, "delete", self.brand_id_of(obj))

    def get_readonly_fields(self, request, obj=None):
        """A row never moves to another brand: its related rows would stay behind."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and brand_lookup_for(self.model) == "brand_id" and "brand" not in fields:
            fields.append("brand")
        return fields

    def get_changeform_initial_data(self, request):
        """A staff member of exactly one brand gets it pre-filled on add forms."""
        initial = super().get_changeform_initial_data(request)
        if brand_lookup_for(self.model) == "brand_id" and "brand" not in initial:
            ids = brand_ids_for_user(request.user)
            if ids is not None and len(ids) == 1:
                initial["brand"] = ids[0]
        return initial

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The chosen brand must be one where the user's role may add (or change) this kind of row."""
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if brand_lookup_for(self.model) != "brand_id" or "brand" not in form_class.base_fields:
            return form_class
        model_admin = self
        action = "change" if obj is not None else "add"

        class BrandPermissionForm(form_class):
            def clean(self):
                cleaned_data = super().clean()
                brand = cleaned_data.get("brand")
                if brand is not None and not model_admin.user_may_in_brand(request, action, brand.pk):
                    self.add_error(
                        "brand",
                        ValidationError(
                            _("Your role in %(brand)s does not allow adding or changing %(model)s."),
                            code="brand_permission",
                            params={"brand": brand, "model": model_admin.opts.verbose_name_plural},
                        ),
                    )
                return cleaned_data

        BrandPermissionForm.__name__ = form_class.__name__
        return BrandPermissionForm

    def save_model(self, request, obj, form, change):
        """Last line of defence (list_editable saves never go through the change view)."""
        self.check_may_write(request, obj, "change" if change else "add")
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        self.check_may_write(request, obj, "delete")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        ids = brand_ids_for_user(request.user)
        if ids is not None:
            brand_ids = set(queryset.values_list(brand_lookup_for(self.model) or "pk", flat=True))
            if any(not self.user_may_in_brand(request, "delete", b) for b in brand_ids):
                raise PermissionDenied
        super().delete_queryset(request, queryset)

    def check_may_write(self, request, obj, action: str) -> None:
        if brand_lookup_for(self.model) is None:
            return
        if not self.user_may_in_brand(request, action, self.brand_id_of(obj)):
            raise PermissionDenied


class BrandScopedInline(_BrandScopedBase):
    """Base for inlines of brand-owned rows: scoped like the admin; new rows take the parent's brand.

    Use with admin.TabularInline or admin.StackedInline, e.g. `class ItemInline(BrandScopedTabularInline)`.
    The inline's form leaves `brand` out; the parent's brand is set on each row before validation so that
    BrandOwnedModel.clean() can compare the row's other foreign keys with it.
    """

    exclude = ("brand",)

    def get_formset(self, request, obj=None, **kwargs):
        formset_class = super().get_formset(request, obj, **kwargs)

        class BrandInlineFormSet(formset_class):
            def add_fields(self, form, index):
                super().add_fields(form, index)
                parent_brand_id = getattr(self.instance, "brand_id", None)
                if form.instance.brand_id is None and parent_brand_id is not None:
                    form.instance.brand_id = parent_brand_id

        BrandInlineFormSet.__name__ = formset_class.__name__
        return BrandInlineFormSet

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return super().has_view_permission(request, obj)
        brand_id = self.brand_id_of(obj)
        return self.user_may_in_brand(request, "view", brand_id) or self.user_may_in_brand(
            request, "change", brand_id
        )

    def has_add_permission(self, request, obj=None):
        if obj is None:
            return super().has_add_permission(request, obj)
        return self.user_may_in_brand(request, "add", self.brand_id_of(obj))

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request, obj)
        return self.user_may_in_brand(request, "change", self.brand_id_of(obj))

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return super().has_delete_permission(request, obj)
        return self.user_may_in_brand(request, "delete", self.brand_id_of(obj))


class BrandScopedTabularInline(BrandScopedInline, admin.TabularInline):
    pass


class BrandScopedStackedInline(BrandScopedInline, admin.StackedInline):
    pass
