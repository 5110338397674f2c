"""Admin for the engine: the brand's scoring configuration (stage rules) and read-only runs and scores."""

from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _

from apps.analytics import (
    admin_views,
    schedules_admin,  # noqa: F401  registers the brand-scoped periodic task admin
)
from apps.analytics.models import CustomerScore, ModelRun, ScoringConfig, StageChange
from apps.core.admin import BrandScopedAdmin

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
        "rfm_segment",
        "p_purchase_horizon",
        "churn_probability",
        "clv",
        "days_since_last_purchase",
    )
    list_filter = ("stage", "tier", "rfm_segment")
    list_select_related = ("customer", "tier", "run")
    search_fields = ("customer__external_id",)
    show_full_result_count = False

    def get_queryset(self, request):
        # the survival curve and the run's engine are megabytes a page of 100 rows never shows
        return super().get_queryset(request).defer("survival_curve", *(f"run__{f}" for f in RUN_HEAVY))


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ("customer", "from_stage", "to_stage", "rule", "changed_on", "run")
    list_filter = ("to_stage", "from_stage", "rule")
    list_select_related = ("customer", "run")
    search_fields = ("customer__external_id",)
    date_hierarchy = "changed_on"

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*(f"run__{f}" for f in RUN_HEAVY))
