"""How good a set of predictions was, judged on what happened after the cutoff (held-out time).

Every metric is computed only where it is defined on the data at hand; otherwise it is absent (None) and
`reasons[metric]` holds a code from REASONS saying why. Nothing is made up and nothing raises: a purchase log of
any shape gets a result.
"""

from __future__ import annotations

import math

import numpy as np

from .metrics import (
    brier,
    censoring_support,
    expected_calibration_error,
    harrell_c,
    integrated_brier,
    reliability_table,
    time_dependent_auc,
    top_decile_capture,
    truncated,
    uno_c,
)

AUC_DAYS = (30, 90, 180)
MIN_CUSTOMERS = 20

# Why a metric is absent (the codes stored on a run; apps.analytics.evaluation words them for staff).
REASONS = {
    "too_few_customers": f"fewer than {MIN_CUSTOMERS} customers to judge",
    "one_outcome": "everyone bought, or nobody did, within the horizon: it needs both outcomes",
    "no_event": "nobody bought during the follow-up",
    "no_amounts": "the purchase log has no amounts",
    "no_revenue": "no revenue in the follow-up",
    "no_training_gaps": "needs the model's training gaps for its censoring weights",
    "ipcw_support": "the follow-up lies beyond the training data's censoring support (no inverse-probability "
    "weight can be computed there)",
    "no_comparable_pairs": "no pair of customers can be compared",
    "not_computable": "scikit-survival could not compute it on these data",
}
METRICS = (
    "harrell_c",
    "auc_horizon",
    "brier_horizon",
    "ece_horizon",
    "top_decile_revenue_capture",
    "revenue_error",
    "uno_c",
    "td_auc",
    "integrated_brier",
)


def _clean(value):
    return (
        None if value is None or (isinstance(value, float) and not math.isfinite(value)) else round(value, 5)
    )


def evaluate(
    *,
    duration,
    event,
    revenue_horizon,
    p_purchase_horizon,
    expected_revenue_horizon,
    horizon_days: int,
    train_duration=None,
    train_event=None,
    survival_curve=None,
    grid_days=None,
    amounts_known: bool = True,
    expected_purchases_horizon=None,
    purchases_horizon=None,
) -> dict:
    """Discrimination, calibration and revenue accuracy of one model's predictions for one group.

    duration/event: days from the cutoff to the first purchase after it (censored at the end of follow-up).
    Survival metrics (Uno's C, integrated Brier, time-dependent AUC) need the training gaps for IPCW weights
    and are computed only inside their censoring support. With `expected_purchases_horizon` and the actual
    `purchases_horizon`, the purchase-count accuracy too (Spearman, mean absolute error, total error).
    """
    duration = np.asarray(duration, float)
    event = np.asarray(event, bool)
    p = np.asarray(p_purchase_horizon, float)
    revenue = np.asarray(revenue_horizon, float)
    forecast = np.asarray(expected_revenue_horizon, float)
    n = int(duration.size)
    bought_mask = event & (duration <= horizon_days)
    out: dict = {"customers": n, "buyers_in_horizon": int(bought_mask.sum())}
    reasons: dict[str, str] = {}
    out["reasons"] = reasons

    def absent(metrics, code):
        for metric in metrics:
            out[metric] = None
            reasons[metric] = code

    if n < MIN_CUSTOMERS:
        absent(METRICS, "too_few_customers")
        return out
    if not event.any():
        absent(METRICS, "no_event")
        return out
    bought = bought_mask.astype(float)
    try:
        out["harrell_c"] = _clean(harrell_c(duration, event, p))
    except ValueError:
        absent(["harrell_c"], "no_comparable_pairs")
    if len(np.unique(bought)) == 2:
        from sklearn.metrics import roc_auc_score

        out["auc_horizon"] = _clean(float(roc_auc_score(bought, p)))
    else:
        absent(["auc_horizon"], "one_outcome")
    out["brier_horizon"] = _clean(brier(p, bought))
    out["ece_horizon"] = _clean(expected_calibration_error(p, bought))
    out["reliability"] = [
        {k: (_clean(float(v)) if k != "count" else int(v)) for k, v in row.items()}
        for row in reliability_table(p, bought).to_dict("records")
    ]
    if expected_purchases_horizon is not None and purchases_horizon is not None:
        counts, missing = purchase_counts(expected_purchases_horizon, purchases_horizon)
        out.update(counts)
        for metric, code in missing.items():
            absent([metric], code)
    if not amounts_known:
        absent(["top_decile_revenue_capture", "revenue_error"], "no_amounts")
        out["revenue_actual"] = out["revenue_forecast"] = None
    else:
        actual, predicted = float(revenue.sum()), float(forecast.sum())
        out["revenue_actual"] = round(actual, 2)
        out["revenue_forecast"] = round(predicted, 2)
        if actual > 0:
            out["top_decile_revenue_capture"] = _clean(top_decile_capture(forecast, revenue))
            out["revenue_error"] = _clean((predicted - actual) / actual)
        else:
            absent(["top_decile_revenue_capture", "revenue_error"], "no_revenue")
    if train_duration is None:
        absent(["uno_c", "td_auc", "integrated_brier"], "no_training_gaps")
        return out
    _ipcw_metrics(out, absent, train_duration, train_event, duration, event, p, survival_curve, grid_days)
    return out


def _ipcw_metrics(out, absent, train_duration, train_event, duration, event, p, survival_curve, grid_days):
    """Uno's C, time-dependent AUC and the integrated Brier score over the follow-up inside the censoring
    support of the training gaps (follow-up beyond it is cut there)."""
    support = censoring_support(train_duration, train_event)
    tau = min(float(duration.max()), support)
    d, e = truncated(duration, event, tau)
    if not e.any() or tau <= float(d.min()):
        absent(["uno_c", "td_auc", "integrated_brier"], "ipcw_support")
        return
    try:
        out["uno_c"] = _clean(uno_c(train_duration, train_event, d, e, p, tau=tau - 1e-6))
    except ValueError:
        absent(["uno_c"], "not_computable")
    valid = [t for t in AUC_DAYS if float(d.min()) <= t < float(d.max())]
    if not valid:
        absent(["td_auc"], "ipcw_support")
    else:
        try:
            aucs = time_dependent_auc(train_duration, train_event, d, e, p, valid)
            out["td_auc"] = {str(int(k)): _clean(v) for k, v in aucs.items()}
            outside = [str(t) for t in AUC_DAYS if t not in valid]
            if outside:
                out["reasons"]["td_auc"] = "ipcw_support"  # some of the days could not be judged
        except ValueError:
            absent(["td_auc"], "not_computable")
    if survival_curve is None or grid_days is None:
        return
    grid = np.asarray(grid_days, float)
    inside = (grid > float(d.min())) & (grid < float(d.max()))
    if inside.sum() < 2:
        absent(["integrated_brier"], "ipcw_support")
        return
    curve = np.asarray(survival_curve, float)[:, inside]
    try:
        out["integrated_brier"] = _clean(
            integrated_brier(train_duration, train_event, d, e, curve, grid[inside])
        )
    except ValueError:
        absent(["integrated_brier"], "not_computable")


def purchase_counts(expected, actual) -> tuple[dict, dict[str, str]]:
    """How well expected purchase counts match the actual ones: Spearman's rank correlation, mean absolute
    error per customer and the error of the total. Returns (values, reasons for the absent ones)."""
    from scipy.stats import spearmanr

    expected = np.asarray(expected, float)
    actual = np.asarray(actual, float)
    out: dict = {}
    missing: dict[str, str] = {}
    if np.ptp(actual) > 0 and np.ptp(expected) > 0:
        out["spearman_purchases"] = _clean(float(spearmanr(expected, actual).statistic))
    else:
        missing["spearman_purchases"] = "one_outcome"
    out["mae_purchases"] = _clean(float(np.mean(np.abs(expected - actual))))
    total = float(actual.sum())
    out["purchases_actual"] = round(total, 1)
    out["purchases_forecast"] = round(float(expected.sum()), 1)
    if total > 0:
        out["purchases_error"] = _clean((float(expected.sum()) - total) / total)
    else:
        missing["purchases_error"] = "no_event"
    return out, missing
