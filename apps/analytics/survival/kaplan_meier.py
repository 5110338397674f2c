"""Kaplan-Meier tables and the log-rank test."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.compare import compare_survival
from sksurv.nonparametric import kaplan_meier_estimator

from .steps import step_lookup


def km_table(durations, events) -> pd.DataFrame:
    """One row per distinct time: at risk, events, censored, survival and its 95% log-log interval."""
    durations = np.asarray(durations, dtype=float)
    events = np.asarray(events, dtype=bool)
    if durations.shape != events.shape or durations.ndim != 1:
        raise ValueError("durations and events must be 1-D arrays of the same length")
    if durations.size == 0:
        return pd.DataFrame(
            columns=["time", "at_risk", "events", "censored", "survival", "ci_lower", "ci_upper"]
        )
    if np.any(durations < 0) or not np.all(np.isfinite(durations)):
        raise ValueError("durations must be finite and non-negative")
    times = np.unique(durations)
    order = np.searchsorted(times, durations)
    n_events = np.bincount(order, weights=events, minlength=times.size).astype(int)
    n_total = np.bincount(order, minlength=times.size)
    at_risk = n_total[::-1].cumsum()[::-1]
    t_km, s_km, (lo, hi) = kaplan_meier_estimator(events, durations, conf_type="log-log")
    survival = step_lookup(t_km, s_km, times)
    return pd.DataFrame(
        {
            "time": times,
            "at_risk": at_risk,
            "events": n_events,
            "censored": n_total - n_events,
            "survival": survival,
            "ci_lower": step_lookup(t_km, lo, times),
            "ci_upper": step_lookup(t_km, hi, times),
        }
    )


def km_survival_at(table: pd.DataFrame, query) -> np.ndarray:
    """Survival of a km_table at arbitrary times (1 before the first time)."""
    return step_lookup(table["time"].to_numpy(), table["survival"].to_numpy(), query)


def logrank_test(durations, events, groups) -> tuple[float, float]:
    """Log-rank chi-square statistic and p-value for equal survival across groups."""
    durations = np.asarray(durations, dtype=float)
    events = np.asarray(events, dtype=bool)
    groups = np.asarray(groups)
    if np.unique(groups).size < 2:
        raise ValueError("the log-rank test needs at least two groups")
    y = np.empty(durations.size, dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = events, durations
    chisq, pvalue = compare_survival(y, groups)
    return float(chisq), float(pvalue)
