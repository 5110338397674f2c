"""How good a set of predictions was, judged on what happened after the cutoff (held-out time)."""

from __future__ import annotations

import math

import numpy as np

from .metrics import (
    brier,
    expected_calibration_error,
    harrell_c,
    integrated_brier,
    reliability_table,
    time_dependent_auc,
    top_decile_capture,
    uno_c,
)

AUC_DAYS = (30, 90, 180)


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
) -> dict:
    """Discrimination, calibration and revenue accuracy of one model's predictions for one group.

    duration/event: days from the cutoff to the first purchase after it (censored at the end of follow-up).
    Survival metrics (Uno's C, integrated Brier, time-dependent AUC) need the training gaps for IPCW weights
    and are left out when those are not given.
    """
    duration = np.asarray(duration, float)
    event = np.asarray(event, bool)
    p = np.asarray(p_purchase_horizon, float)
    revenue = np.asarray(revenue_horizon, float)
    forecast = np.asarray(expected_revenue_horizon, float)
    n = int(duration.size)
    out: dict = {"customers": n, "buyers_in_horizon": int((event & (duration <= horizon_days)).sum())}
    if n < 20 or not event.any() or event.all():
        out["note"] = "too few customers or no variation in outcomes"
        return out
    bought = (event & (duration <= horizon_days)).astype(float)
    out["harrell_c"] = _clean(harrell_c(duration, event, p))
    if len(np.unique(bought)) == 2:
        from sklearn.metrics import roc_auc_score

        out["auc_horizon"] = _clean(float(roc_auc_score(bought, p)))
    out["brier_horizon"] = _clean(brier(p, bought))
    out["ece_horizon"] = _clean(expected_calibration_error(p, bought))
    out["reliability"] = [
        {k: (_clean(float(v)) if k != "count" else int(v)) for k, v in row.items()}
        for row in reliability_table(p, bought).to_dict("records")
    ]
    out["top_decile_revenue_capture"] = _clean(top_decile_capture(forecast, revenue))
    actual, predicted = float(revenue.sum()), float(forecast.sum())
    out["revenue_actual"] = round(actual, 2)
    out["revenue_forecast"] = round(predicted, 2)
    out["revenue_error"] = _clean((predicted - actual) / actual) if actual > 0 else None
    if train_duration is not None:
        tau = float(duration.max()) - 1e-6
        try:
            out["uno_c"] = _clean(uno_c(train_duration, train_event, duration, event, p, tau=tau))
        except ValueError:
            out["uno_c"] = None
        aucs = time_dependent_auc(train_duration, train_event, duration, event, p, AUC_DAYS)
        out["td_auc"] = {str(int(k)): _clean(v) for k, v in aucs.items()}
        if survival_curve is not None and grid_days is not None:
            grid = np.asarray(grid_days, float)
            inside = (grid > duration.min()) & (grid < duration.max())
            if inside.sum() >= 2:
                curve = np.asarray(survival_curve, float)[:, inside]
                try:
                    out["integrated_brier"] = _clean(
                        integrated_brier(train_duration, train_event, duration, event, curve, grid[inside])
                    )
                except ValueError:
                    out["integrated_brier"] = None
    return out
