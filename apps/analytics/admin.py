"""Admin for the engine: the brand's scoring configuration (stage rules) and read-only runs and scores."""

from django.contrib import admin
from django.core.cache import cache
from django.db import connection
from django.urls import path
from django.utils.translation import gettext_lazy as _

from apps.analytics import (
    admin_views,
    schedules_admin,  # noqa: F401  registers the brand-scoped periodic task admin
)
from apps.analytics.models import CustomerScore, ModelRun, RunStatus, ScoringConfig, StageChange
from apps.core import charts
from apps.core.admin import BrandScopedAdmin, facet_counts_in_one_query, facet_signature, without_jit
from apps.core.scoping import brand_ids_for_user
from apps.loyalty.models import RFM_SEGMENT_LABELS

# A run's heavy columns (the pickled engine, its metrics and models): never read for a list of rows that
# merely name their run.
RUN_HEAVY = (
    "engine",
    "metrics",
    "params",
    "stage_models",
    "settings_snapshot",
    "data_sufficiency",
    "timings",
)


# Facet counts of long lists of a run's rows (scores, stage changes): counted once per run and cached, for runs
# whose rows no longer change (a published or superseded run's scores; the stage changes a publish wrote).
SETTLED_RUNS = (RunStatus.PUBLISHED, RunStatus.SUPERSEDED)


def runs_with_scores(brand_ids: list[int] | None) -> list[tuple[int, int]]:
    """(brand id, run id) of every run that has scores, of these brands (None: every brand): a loose scan of the
    scores' (brand, run, …) index, one probe per run, instead of reading millions of scores."""
    table = CustomerScore._meta.db_table
    brand_filter = "" if brand_ids is None else "AND brand_id = ANY(%(brands)s)"
    sql = f"""
        WITH RECURSIVE runs AS (
            (SELECT brand_id, run_id FROM {table} WHERE TRUE {brand_filter} ORDER BY brand_id, run_id LIMIT 1)
            UNION ALL
            SELECT next.brand_id, next.run_id FROM runs, LATERAL (
                SELECT brand_id, run_id FROM {table}
                WHERE (brand_id, run_id) > (runs.brand_id, runs.run_id) {brand_filter}
                ORDER BY brand_id, run_id LIMIT 1
            ) next
        )
        SELECT brand_id, run_id FROM runs
    """  # noqa: S608 - constant table name
    with connection.cursor() as cursor:
        cursor.execute(sql, {"brands": list(brand_ids or [])})
        return [(brand_id, run_id) for brand_id, run_id in cursor.fetchall()]


def per_run_facet_counts(model, specs, runs: list[tuple[int, int, str]]) -> dict:
    """{spec: counts} of the rows of these (brand id, run id, run status) summed over the runs: one query per
    run, cached for settled runs (the cache key names the filters' conditions, so new choices count afresh)."""
    if not specs:
        return {}
    signature = facet_signature(specs)
    total: dict = {spec: {} for spec in specs}
    for brand_id, run_id, status in runs:
        key = f"clv:run-facets:v1:{model._meta.label_lower}:{run_id}:{signature}"
        counted = cache.get(key) if status in SETTLED_RUNS else None
        if counted is None:
            with without_jit():
                by_spec = facet_counts_in_one_query(
                    model.objects.filter(brand_id=brand_id, run_id=run_id), specs, "id"
                )
            counted = [by_spec[spec] for spec in specs]
            if status in SETTLED_RUNS:
                cache.set(key, counted, 7 * 24 * 3600)
        for spec, counts in zip(specs, counted, strict=True):
            for name, value in counts.items():
                total[spec][name] = total[spec].get(name, 0) + (value or 0)
    return total


class RfmSegmentListFilter(admin.SimpleListFilter):
    """The RFM segments by name, in the staff member's language (no distinct query over the scores)."""

    title = _("RFM segment")
    parameter_name = "rfm_segment"

    def lookups(self, request, model_admin):
        return list(RFM_SEGMENT_LABELS.items())

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value is None else queryset.filter(rfm_segment=value)

    def get_facet_counts(self, pk_attname, filtered_qs):
        from django.db.models import Count, Q

        return {
            f"{i}__c": Count(pk_attname, filter=Q(rfm_segment=value))
            for i, (value, _label) in enumerate(self.lookup_choices)
        }


class ReadOnlyAdmin(BrandScopedAdmin):
    """Written by refreshes only: staff look, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ScoringConfig)
class ScoringConfigAdmin(BrandScopedAdmin):
    list_display = (
        "brand",
        "horizon_days",
        "lifetime_days",
        "estimator",
        "decline_gap_ratio",
        "churn_gap_ratio",
    )
    list_select_related = ("brand",)
    fieldsets = (
        (None, {"fields": ("brand",)}),
        (
            _("Predictions and value"),
            {"fields": ("horizon_days", "lifetime_days", "gross_margin", "annual_discount_rate")},
        ),
        (
            _("Model"),
            {
                "fields": (
                    "estimator",
                    "tune_hyperparameters",
                    "min_stage_events",
                    "fit_sample_rows",
                    "random_seed",
                )
            },
        ),
        (
            _("Lifecycle stage rules"),
            {
                "description": _(
                    "Checked from first to last: churned, decline, maturity, growth, introduction. Rhythm "
                    "is the customer's average days between purchases (the brand's typical gap for "
                    "a single purchase)."
                ),
                "fields": (
                    "churn_gap_ratio",
                    "churn_probability",
                    "decline_gap_ratio",
                    "maturity_min_orders",
                    "growth_min_orders",
                ),
            },
        ),
    )


@admin.register(ModelRun)
class ModelRunAdmin(ReadOnlyAdmin):
    """Runs are read-only; their page shows the metrics, data sufficiency and hazard ratios as tables, and
    analysts and managers get a "Refresh now" button (apps.analytics.admin_views.refresh_now)."""

    def get_queryset(self, request):
        # the pickled engine (megabytes a run) is never shown
        return super().get_queryset(request).defer("engine")

    list_display = (
        "id",
        "kind",
        "status",
        "as_of",
        "horizon_days",
        "estimator",
        "customers_scored",
        "holdout_c_index",
        "finished_at",
    )
    list_filter = ("brand", "kind", "status", "estimator")
    date_hierarchy = "as_of"
    ordering = ("-created_at",)
    fieldsets = (
        (None, {"fields": ("brand", "kind", "status", "message")}),
        (
            _("Run"),
            {"fields": ("as_of", "cutoff", "horizon_days", "estimator", "customers_scored", "triggered_by")},
        ),
        (_("Timing"), {"fields": ("created_at", "started_at", "finished_at", "published_at")}),
    )
    change_form_template = "admin/analytics/modelrun/change_form.html"
    change_list_template = "admin/analytics/modelrun/change_list.html"

    @admin.display(description=_("holdout C-index"))
    def holdout_c_index(self, run):
        value = (run.metrics or {}).get("overall", {}).get("model", {}).get("harrell_c")
        return "—" if value is None else f"{value:.3f}"

    def get_list_filter(self, request):
        """The brand filter only for staff of several brands."""
        filters = super().get_list_filter(request)
        if self.shows_brand_column(request):
            return filters
        return [f for f in filters if not (isinstance(f, tuple) and f[0] == "brand") and f != "brand"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.refresh_view)
        return [path("refresh/", view, name="analytics_modelrun_refresh"), *super().get_urls()]

    def refresh_view(self, request):
        return admin_views.refresh_now(self, request)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "refresh_brands": admin_views.refreshable_brands(request.user),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)  # another brand's run: Http404
        may_refresh = admin_views.may_refresh(request.user, run.brand_id)
        extra_context = {
            **(extra_context or {}),
            **admin_views.run_report(run),
            "refresh_brands": [run.brand] if may_refresh else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(CustomerScore)
class CustomerScoreAdmin(ReadOnlyAdmin):
    list_display = (
        "customer",
        "run",
        "stage",
        "tier",
        "rfm_segment_label",
        "p_purchase",
        "churn",
        "clv_amount",
        "days_since_last_purchase",
    )
    list_filter = ("stage", "tier", RfmSegmentListFilter)
    list_select_related = ("customer", "tier", "run", "brand")
    search_fields = ("customer__external_id",)
    show_full_result_count = False
    # the latest run first; served by the unique (brand, run, customer) index read backwards
    ordering = ("brand_id", "-run_id", "-customer_id")

    # figures as the customer list shows them: segment names, percentages, money with its currency
    @admin.display(description=_("RFM segment"), ordering="rfm_segment")
    def rfm_segment_label(self, obj):
        label = RFM_SEGMENT_LABELS.get(obj.rfm_segment)
        return label if label is not None else (obj.rfm_segment or "—")

    @admin.display(description=_("P(purchase within horizon)"), ordering="p_purchase_horizon")
    def p_purchase(self, obj):
        return charts.percent(obj.p_purchase_horizon)

    @admin.display(description=_("churn probability"), ordering="churn_probability")
    def churn(self, obj):
        return charts.percent(obj.churn_probability)

    @admin.display(description=_("CLV"), ordering="clv")
    def clv_amount(self, obj):
        return "—" if obj.clv is None else f"{obj.clv:,.2f} {obj.brand.currency}"

    def get_queryset(self, request):
        # the survival curve and the run's engine are megabytes a page of 100 rows never shows
        return (
            super()
            .get_queryset(request)
            .defer("survival_curve", "top_covariates", *(f"run__{f}" for f in RUN_HEAVY))
        )

    def large_list_facet_counts(self, request, *, specs, unfiltered):
        """The whole list's counts: per run, cached for settled runs (their scores no longer change)."""
        if not unfiltered:
            return {}
        pairs = runs_with_scores(brand_ids_for_user(request.user))
        status = dict(ModelRun.objects.filter(pk__in=[run for _b, run in pairs]).values_list("pk", "status"))
        return per_run_facet_counts(CustomerScore, specs, [(b, run, status.get(run)) for b, run in pairs])


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ("customer", "from_stage", "to_stage", "rule", "changed_on", "run")
    list_filter = ("to_stage", "from_stage", "rule")
    list_select_related = ("customer", "run")
    search_fields = ("customer__external_id",)
    date_hierarchy = "changed_on"
    # Served by the (brand, -changed_on, -id) index; Meta's "brand" would join the brands and sort by name.
    ordering = ("brand_id", "-changed_on", "-pk")
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*(f"run__{f}" for f in RUN_HEAVY))

    def large_list_facet_counts(self, request, *, specs, unfiltered):
        """The whole list's counts: per published run (a publish writes its stage changes once), cached."""
        if not unfiltered:
            return {}
        runs = ModelRun.objects.ever_published()
        ids = brand_ids_for_user(request.user)
        if ids is not None:
            runs = runs.filter(brand_id__in=ids)
        settled = [
            (brand_id, pk, RunStatus.SUPERSEDED) for brand_id, pk in runs.values_list("brand_id", "pk")
        ]
        return per_run_facet_counts(StageChange, specs, settled)
