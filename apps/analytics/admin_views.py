"""The model-run pages of the admin: a run's metrics, data sufficiency and hazard ratios as readable tables,
and the "Refresh now" action (analysts and managers of the brand).

`run_report(run)` shapes a run's JSON (metrics, data_sufficiency, stage_models, params, timings) into rows the
template prints; `refresh_now(model_admin, request)` is the POST behind the button.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.analytics import selectors
from apps.analytics.evaluation import reason_text
from apps.analytics.models import Estimator, RunStatus, ScoringConfig, Stage
from apps.analytics.runs import phase_label, phase_sort_key
from apps.analytics.sufficiency import sufficiency_checks
from apps.brands.models import Brand
from apps.core.charts import number, percent
from apps.core.scoping import ROLE_RANK, brand_ids_for_user, brand_ids_with_role, role_for

logger = logging.getLogger(__name__)

# Roles that may refresh a brand's scores (viewer < analyst < manager); superusers may too.
LOW_C_INDEX = 0.6  # below this the holdout ranking is flagged as barely better than chance

MODELS = [
    ("model", gettext_lazy("Model")),
    ("kaplan_meier_by_stage", gettext_lazy("Baseline: Kaplan–Meier by stage")),
    ("naive_rfm", gettext_lazy("Baseline: naive RFM")),
    ("classic", gettext_lazy("Baseline: classic BG/NBD + Gamma-Gamma")),
]
OUTCOME_LABELS = {
    "fitted": gettext_lazy("fitted"),
    "fallback": gettext_lazy("fallback"),
    "judged": gettext_lazy("judged"),
    "shortened": gettext_lazy("shortened"),
    "not_judged": gettext_lazy("not judged"),
    "skipped": gettext_lazy("skipped"),
    "unknown": gettext_lazy("unknown"),
}


def _three(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def _money(value) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _signed_percent(value) -> str:
    return "—" if value is None else ("+" if value > 0 else "") + percent(value)


# metric key, column heading, formatter, help text
METRIC_COLUMNS = [
    (
        "harrell_c",
        gettext_lazy("Harrell's C"),
        _three,
        gettext_lazy("Ranking of who buys sooner; 0.5 is chance."),
    ),
    ("uno_c", gettext_lazy("Uno's C"), _three, gettext_lazy("Harrell's C corrected for censoring.")),
    (
        "auc_horizon",
        gettext_lazy("AUC at horizon"),
        _three,
        gettext_lazy("Separates buyers within the horizon."),
    ),
    (
        "brier_horizon",
        gettext_lazy("Brier score"),
        _three,
        gettext_lazy("Squared error of the probabilities; lower is better."),
    ),
    (
        "ece_horizon",
        gettext_lazy("calibration error"),
        _three,
        gettext_lazy("Predicted against observed rates; lower is better."),
    ),
    (
        "integrated_brier",
        gettext_lazy("integrated Brier"),
        _three,
        gettext_lazy("Brier score over the whole curve."),
    ),
    (
        "top_decile_revenue_capture",
        gettext_lazy("top-decile revenue capture"),
        percent,
        gettext_lazy("Share of actual revenue from the customers forecast to spend most (top 10%)."),
    ),
    ("revenue_forecast", gettext_lazy("revenue forecast"), _money, ""),
    ("revenue_actual", gettext_lazy("actual revenue"), _money, ""),
    (
        "revenue_error",
        gettext_lazy("revenue error"),
        _signed_percent,
        gettext_lazy("Forecast against actual."),
    ),
]


def group_label(key: str) -> str:
    if key == "overall":
        return _("Overall")
    try:
        return str(Stage(key).label)
    except ValueError:
        return key


def model_kind_label(kind: str) -> str:
    if kind == "pooled":
        return _("pooled model of all stages")
    if kind == "kaplan_meier":
        return _("Kaplan–Meier (no covariates)")
    try:
        return str(Estimator(kind).label)
    except ValueError:
        return kind


def _metric_groups(metrics: dict) -> list[dict]:
    groups = []
    for key in ["overall", *selectors.STAGE_ORDER]:
        group = metrics.get(key)
        if not isinstance(group, dict):
            continue
        model = group.get("model", {})
        rows = []
        for model_key, label in MODELS:
            figures = group.get(model_key)
            if not isinstance(figures, dict):
                continue
            rows.append(
                {
                    "key": model_key,
                    "label": str(label),
                    "cells": [fmt(figures.get(metric)) for metric, _h, fmt, _t in METRIC_COLUMNS],
                }
            )
        groups.append(
            {
                "key": key,
                "label": group_label(key),
                "customers": model.get("customers"),
                "buyers": model.get("buyers_in_horizon"),
                "note": _group_note(model),
                "rows": rows,
                "td_auc": [(days, _three(value)) for days, value in (model.get("td_auc") or {}).items()],
            }
        )
    return groups


def _group_note(model: dict) -> str:
    """Why a group has no figures at all (too few customers, nobody bought), else ""."""
    code = (model.get("reasons") or {}).get("brier_horizon")
    return reason_text(code) if code in ("too_few_customers", "no_event") else ""


def _metric_notes(metrics: dict) -> list[str]:
    """Why figures of the overall group are dashes, once per model and reason."""
    overall = metrics.get("overall") or {}
    notes = []
    for key, label in MODELS:
        figures = overall.get(key)
        if not isinstance(figures, dict):
            continue
        codes = sorted(set((figures.get("reasons") or {}).values()))
        for code in codes:
            notes.append(f"{label}: {reason_text(code)}")
    return notes


def _sufficiency(run) -> tuple[list[dict], list[str]]:
    """Rows per stage (purchase gaps, repeat purchases, the model used, features left out) and warnings."""
    from apps.analytics.features import FEATURES

    data = run.data_sufficiency or {}
    minimum = (run.settings_snapshot or {}).get("min_stage_events")
    rows, warnings = [], []
    if run.status in (RunStatus.SKIPPED, RunStatus.FAILED) and run.message:
        warnings.append(run.message)
    for stage in selectors.STAGE_ORDER:
        entry = data.get(stage)
        if not isinstance(entry, dict):
            continue
        kind = entry.get("model", "")
        dropped = [str(FEATURES.get(f, f)) for f in entry.get("features_dropped", [])]
        rows.append(
            {
                "stage": group_label(stage),
                "rows": entry.get("rows"),
                "events": entry.get("events"),
                "model": model_kind_label(kind),
                "own_model": kind == run.estimator,
                "dropped": dropped,
            }
        )
        if kind and kind != run.estimator:
            warnings.append(
                _(
                    "%(stage)s: only %(events)s repeat purchases (at least %(minimum)s needed for its own model), "
                    "so it uses the %(model)s."
                )
                % {
                    "stage": group_label(stage),
                    "events": entry.get("events"),
                    "minimum": minimum or "—",
                    "model": model_kind_label(kind),
                }
            )
        if dropped:
            warnings.append(
                _("%(stage)s: features left out (too little variation): %(features)s.")
                % {"stage": group_label(stage), "features": ", ".join(dropped)}
            )
    metrics = run.metrics or {}
    for key in ["overall", *selectors.STAGE_ORDER]:
        group = metrics.get(key)
        if isinstance(group, dict) and _group_note(group.get("model", {})):
            warnings.append(
                _("Holdout, %(group)s: no metrics (%(reason)s).")
                % {"group": group_label(key), "reason": _group_note(group.get("model", {}))}
            )
    c_index = (
        metrics.get("overall", {}).get("model", {}).get("harrell_c") if isinstance(metrics, dict) else None
    )
    if c_index is not None and c_index < LOW_C_INDEX:
        warnings.append(
            _("The holdout C-index is %(c)s: the model ranks customers barely better than chance.")
            % {"c": _three(c_index)}
        )
    return rows, warnings


def _hazard_tables(run) -> list[dict]:
    tables = []
    for stage in selectors.STAGE_ORDER:
        if stage not in (run.stage_models or {}):
            continue
        kind = (run.data_sufficiency or {}).get(stage, {}).get("model", run.estimator)
        rows = [
            {
                "label": row["label"],
                "hazard_ratio": f"{row['hazard_ratio']:.2f}",
                "per": _("per unit") if row["per"] == "unit" else _("per standard deviation"),
                "effect": _signed_percent(row["effect_percent"] / 100.0),
                "up": row["direction"] == "more_likely_to_buy",
            }
            for row in selectors.hazard_factors(run=run, stage=stage)
        ]
        tables.append({"stage": group_label(stage), "model": model_kind_label(kind), "rows": rows})
    return tables


def _settings_rows(run) -> list[tuple[str, str]]:
    rows = []
    for name, value in (run.settings_snapshot or {}).items():
        try:
            label = str(ScoringConfig._meta.get_field(name).verbose_name)
        except Exception:  # a setting that no longer exists
            label = name
        rows.append((label, value))
    return rows


def _day(run, value) -> str:
    """An ISO instant of the metrics as the day it starts in the brand's time zone."""
    try:
        return datetime.fromisoformat(value).astimezone(run.brand.tzinfo).date().isoformat()
    except (TypeError, ValueError):
        return "—"


def run_report(run) -> dict:
    """What the run's page shows, shaped from its JSON fields."""
    metrics = run.metrics or {}
    sufficiency, warnings = _sufficiency(run)
    params = run.params or {}
    fit = metrics.get("fit", {}) if isinstance(metrics.get("fit"), dict) else {}
    holdout = [
        (_("window start"), _day(run, metrics.get("start"))),
        (_("window end"), _day(run, metrics.get("end"))),
        (_("follow-up (days)"), metrics.get("follow_up_days", "—")),
        (_("horizon (days)"), metrics.get("horizon_days", "—")),
        (_("paid purchases before the window"), number(fit["purchases"]) if "purchases" in fit else "—"),
        (_("purchase gaps fitted"), number(fit["gap_rows"]) if "gap_rows" in fit else "—"),
    ]
    tiers = params.get("tiers") or {}
    fitted = [
        (
            _("hyperparameters"),
            ", ".join(f"{k} = {v}" for k, v in (params.get("hyperparameters") or {}).items()) or "—",
        ),
        (_("brand's usual days between purchases"), params.get("brand_rhythm_days", "—")),
        (_("paid purchases"), number(params["purchases"]) if "purchases" in params else "—"),
        (_("purchase gaps fitted"), number(params["gap_rows"]) if "gap_rows" in params else "—"),
        (_("tier changes"), tiers.get("changes", "—")),
        (_("benefits granted"), tiers.get("grants_created", "—")),
        (_("benefits revoked"), tiers.get("grants_revoked", "—")),
    ]
    return {
        "progress": refresh_progress(run),
        # money columns say their currency (the brand's): the amounts stand without it
        "metric_columns": [
            (f"{h} ({run.brand.currency})" if f is _money else str(h), str(t))
            for _k, h, f, t in METRIC_COLUMNS
        ],
        "metric_groups": _metric_groups(metrics),
        "holdout": holdout if metrics else [],
        "sufficiency": sufficiency,
        "checks": [
            {**vars(check), "outcome_label": str(OUTCOME_LABELS.get(check.outcome, check.outcome))}
            for check in sufficiency_checks(run)
        ],
        "metric_notes": _metric_notes(metrics),
        "warnings": warnings,
        "hazard_tables": _hazard_tables(run),
        "fitted": fitted if params else [],
        "timings": [
            (phase_label(phase), f"{seconds:.2f}")
            for phase, seconds in sorted(
                (run.timings or {}).items(), key=lambda item: phase_sort_key(item[0])
            )
        ],
        "settings_rows": _settings_rows(run),
    }


# --- Refresh now --------------------------------------------------------------------------------------------

# The steps of a refresh as staff see them, and the run.phase names (services.Clock phases) behind each.
REFRESH_STEPS = [
    ("queued", gettext_lazy("waiting for a worker")),
    ("history", gettext_lazy("checking the data")),
    ("holdout", gettext_lazy("judging the model on held-out time")),
    ("fit", gettext_lazy("fitting the models")),
    ("score", gettext_lazy("scoring every customer")),
    ("prospects", gettext_lazy("scoring prospects")),
    ("recommendations", gettext_lazy("recommending products")),
    ("publish", gettext_lazy("publishing the scores, tiers and benefits")),
]
_STEP_OF_PHASE = {
    "queued": "queued",
    "fit": "fit",
    "rfm": "fit",
    "features: customers": "score",
    "predict": "score",
    "write scores": "score",
    "wait for the recalibration": "score",
    "score chunks (after the holdout)": "score",
    "tiers and percentiles, scores written": "score",
    "prospects": "prospects",
    "recommendations": "recommendations",
    "publish": "publish",
    "dashboard": "publish",
}


def refresh_progress(run) -> dict | None:
    """Where a pending or running refresh is: the step's label, its number among REFRESH_STEPS and the seconds
    since it started (None once the run has finished)."""
    if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
        return None
    phase = run.phase or ("queued" if run.status == RunStatus.PENDING else "history")
    key = _STEP_OF_PHASE.get(phase, "holdout" if ":" in phase else "history")
    keys = [k for k, _label in REFRESH_STEPS]
    since = run.started_at or run.created_at
    return {
        "step": str(dict(REFRESH_STEPS)[key]),
        "number": keys.index(key) + 1,
        "of": len(keys),
        "percent": round(100 * keys.index(key) / len(keys)),
        "seconds": max(0, int((datetime.now(tz=since.tzinfo) - since).total_seconds())) if since else 0,
    }


def may_refresh(user, brand_id: int) -> bool:
    """Analysts and managers of the brand (and superusers) may refresh its scores."""
    return ROLE_RANK.get(role_for(user, brand_id), 0) >= ROLE_RANK["analyst"]


def refreshable_brands(user) -> list[Brand]:
    """Brands whose scores the user may refresh: analyst or manager there (superusers: every brand)."""
    ids = brand_ids_with_role(user, "analyst")
    brands = Brand.objects.order_by("name")
    return list(brands if ids is None else brands.filter(pk__in=ids))


def _back(request, fallback: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(fallback)


def refresh_now(model_admin, request):
    """POST brand=<id>: refresh that brand's scores now. Another brand is a 404; a viewer gets a 403.

    Like the refresh_scores command: without a Celery broker the refresh runs here and its result is reported;
    with one, the analytics.refresh_scores task is queued for the workers."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    changelist = reverse("admin:analytics_modelrun_changelist")
    ids = brand_ids_for_user(request.user)
    raw = request.POST.get("brand", "")
    if not raw and ids is not None and len(ids) == 1:
        raw = str(ids[0])
    if not raw.isdigit():
        messages.error(request, _("Choose the brand to refresh."))
        return _back(request, changelist)
    brand = Brand.objects.filter(pk=int(raw)).first()
    if brand is None or (ids is not None and brand.pk not in ids):
        raise Http404(_("This object does not exist or belongs to another brand."))
    if not may_refresh(request.user, brand.pk):
        raise PermissionDenied(_("Refreshing scores needs the analyst or manager role in this brand."))

    from apps.analytics.services import RefreshSkipped
    from apps.analytics.tasks import BrokerUnavailable, scores_refresh_request

    try:
        run = scores_refresh_request(brand=brand, triggered_by=f"admin:{request.user.get_username()}")
    except RefreshSkipped as exc:
        messages.warning(request, str(exc))
        return _back(request, changelist)
    except BrokerUnavailable as exc:
        messages.error(request, str(exc))
        return _back(request, changelist)
    except Exception as exc:  # the run is marked failed with the reason; staff see which run to look at
        logger.exception("admin refresh of brand %s failed", brand.pk)
        messages.error(
            request,
            _("The refresh of %(brand)s failed (%(error)s); the failed run shows the reason.")
            % {"brand": brand.name, "error": type(exc).__name__},
        )
        return _back(request, changelist)
    if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
        messages.info(
            request,
            _("The refresh of %(brand)s is under way as run #%(id)s; this page follows its progress.")
            % {"brand": brand.name, "id": run.pk},
        )
        return HttpResponseRedirect(reverse("admin:analytics_modelrun_change", args=[run.pk]))
    if run.status == RunStatus.PUBLISHED:
        c_index = (run.metrics or {}).get("overall", {}).get("model", {}).get("harrell_c")
        messages.success(
            request,
            _("Run #%(id)s published: %(n)s customers scored as of %(as_of)s (holdout C-index %(c)s).")
            % {"id": run.pk, "n": number(run.customers_scored), "as_of": run.as_of, "c": _three(c_index)},
        )
    else:
        messages.warning(
            request,
            _("Run #%(id)s %(status)s: %(message)s")
            % {"id": run.pk, "status": run.get_status_display(), "message": run.message},
        )
    return _back(request, changelist)
