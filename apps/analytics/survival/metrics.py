"""How good the predictions are: scikit-survival's metrics plus calibration and revenue capture."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

from .models import survival_target


def harrell_c(durations, events, risk) -> float:
    return float(concordance_index_censored(np.asarray(events, bool), np.asarray(durations, float), risk)[0])


def uno_c(train_durations, train_events, durations, events, risk, *, tau: float | None = None) -> float:
    y_train = survival_target(train_durations, train_events)
    y_test = survival_target(durations, events)
    return float(concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0])


def time_dependent_auc(train_durations, train_events, durations, events, risk, times) -> dict[float, float]:
    """Cumulative/dynamic AUC at each time that lies inside the follow-up of the test data."""
    y_train = survival_target(train_durations, train_events)
    y_test = survival_target(durations, events)
    durations = np.asarray(durations, float)
    valid = [t for t in times if durations.min() <= t < durations.max()]
    if not valid:
        return {}
    aucs, _ = cumulative_dynamic_auc(y_train, y_test, risk, valid)
    return {float(t): float(a) for t, a in zip(valid, aucs, strict=True)}


def integrated_brier(train_durations, train_events, durations, events, survival_matrix, times) -> float:
    """IBS over `times`; survival_matrix[i, j] = predicted S(times[j]) for test row i."""
    y_train = survival_target(train_durations, train_events)
    y_test = survival_target(durations, events)
    return float(integrated_brier_score(y_train, y_test, survival_matrix, times))


def reliability_table(predicted, observed, *, bins: int = 10) -> pd.DataFrame:
    """Predicted probability vs observed frequency in equal-width bins (empty bins omitted)."""
    predicted = np.asarray(predicted, float)
    observed = np.asarray(observed, float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(predicted, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": idx, "predicted": predicted, "observed": observed})
    table = frame.groupby("bin").agg(
        count=("predicted", "size"), mean_predicted=("predicted", "mean"), observed_rate=("observed", "mean")
    )
    table["lower"] = edges[table.index]
    table["upper"] = edges[table.index + 1]
    return table.reset_index(drop=True)[["lower", "upper", "count", "mean_predicted", "observed_rate"]]


def expected_calibration_error(predicted, observed, *, bins: int = 10) -> float:
    table = reliability_table(predicted, observed, bins=bins)
    if table.empty:
        return float("nan")
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["mean_predicted"] - table["observed_rate"]).abs()).sum())


def brier(predicted, observed) -> float:
    predicted = np.asarray(predicted, float)
    observed = np.asarray(observed, float)
    return float(np.mean((predicted - observed) ** 2))


def top_decile_capture(score, revenue) -> float:
    """Share of the actual revenue that came from the 10% of customers scored highest."""
    score = np.asarray(score, float)
    revenue = np.asarray(revenue, float)
    total = revenue.sum()
    if total <= 0:
        return float("nan")
    k = max(1, int(np.ceil(score.size * 0.1)))
    top = np.argsort(-score, kind="stable")[:k]
    return float(revenue[top].sum() / total)
