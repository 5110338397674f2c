"""Admin for the engine: the brand's scoring configuration (stage rules) and read-only runs and scores."""

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import CustomerScore, ModelRun, ScoringConfig, StageChange
from apps.core.admin import BrandScopedAdmin


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
    list_filter = ("kind", "status", "estimator")
    date_hierarchy = "as_of"
    exclude = ("engine",)
    readonly_fields = ("metrics_pretty", "stage_models_pretty")

    @admin.display(description=_("holdout C-index"))
    def holdout_c_index(self, run):
        return (run.metrics or {}).get("overall", {}).get("model", {}).get("harrell_c")

    @admin.display(description=_("metrics"))
    def metrics_pretty(self, run):
        return format_html("<pre>{}</pre>", json.dumps(run.metrics, indent=2, ensure_ascii=False))

    @admin.display(description=_("hazard ratios per stage"))
    def stage_models_pretty(self, run):
        return format_html("<pre>{}</pre>", json.dumps(run.stage_models, indent=2, ensure_ascii=False))


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


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ("customer", "from_stage", "to_stage", "rule", "changed_on", "run")
    list_filter = ("to_stage", "from_stage", "rule")
    list_select_related = ("customer", "run")
    search_fields = ("customer__external_id",)
    date_hierarchy = "changed_on"
