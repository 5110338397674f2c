"""A vectorised replacement for scikit-survival's per-sample Python loop that counts events at each time.

`sksurv.nonparametric._compute_counts` walks every sample in a Python `while` loop. It sits under the
Kaplan-Meier estimator and the censoring distribution of the IPCW metrics (Uno's C, Brier score, dynamic AUC),
which the engine evaluates on hundreds of thousands of purchases: about 0.3 s per call at 100k samples, 80% of
the holdout metrics phase. `counts` returns the same arrays with numpy (tests/analytics/test_survival.py
checks them equal to the original on ties, all-censored and single-sample inputs). Competing risks (integer
events above 1) still go to the original.
"""

from __future__ import annotations

import numpy as np
from sksurv import nonparametric

_original = nonparametric._compute_counts


def counts(event, time, order=None):
    """(unique times, events at each, number at risk just before each, censored at each)."""
    event = np.asarray(event)
    time = np.asarray(time)
    if np.issubdtype(event.dtype, np.integer) and event.size and event.max() > 1:
        return _original(event, time, order)
    n = event.shape[0]
    if order is None:
        order = np.argsort(time, kind="mergesort")
    t = time[order]
    e = (event[order] != 0).astype(int)
    times, first, total = np.unique(t, return_index=True, return_counts=True)
    n_events = np.add.reduceat(e, first) if n else np.zeros(0, dtype=int)
    at_risk = n - np.concatenate([[0], np.cumsum(total)[:-1]])
    return times, n_events, at_risk, total - n_events


def install() -> None:
    """Route scikit-survival's counting through `counts` (idempotent)."""
    nonparametric._compute_counts = counts
