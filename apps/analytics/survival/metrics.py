"""How good the predictions are: scikit-survival's metrics plus calibration and revenue capture."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.exceptions import NoComparablePairException
from sksurv.metrics import cumulative_dynamic_auc, integrated_brier_score
from sksurv.nonparametric import CensoringDistributionEstimator

from .models import survival_target

TIED_TOL = 1e-8  # risk scores this close count as tied (half a concordant pair), as in scikit-survival


def _prefix_counts(keys_by_position: np.ndarray, prefix: np.ndarray, below: np.ndarray) -> np.ndarray:
    """For each query q: #{p < prefix[q] : keys_by_position[p] < below[q]}, in O(n log² n) with arrays.

    The prefix [0, g) splits into dyadic blocks, one per set bit of g; at each level the keys are sorted
    within blocks (block index × n + key) and every query counts its block with one searchsorted.
    """
    n = keys_by_position.size
    out = np.zeros(prefix.size, dtype=np.int64)
    if n == 0 or prefix.size == 0:
        return out
    positions = np.arange(n, dtype=np.int64)
    stride = np.int64(n + 1)
    level = 0
    while (1 << level) <= n:
        has = (prefix >> level) & 1 == 1
        if has.any():
            block_keys = np.sort((positions >> level) * stride + keys_by_position)
            block = (prefix[has] >> level) - 1
            lo = np.searchsorted(block_keys, block * stride)
            hi = np.searchsorted(block_keys, block * stride + below[has])
            out[has] += hi - lo
        level += 1
    return out


def concordance(durations, events, risk, weights=None, *, tied_tol: float = TIED_TOL) -> float:
    """Concordance index with the exact pair rules of scikit-survival's `_estimate_concordance_index`:
    an event i is comparable with every j that lasted longer, and with censored j at the same time; a pair
    is concordant when i's risk is higher, half when the risks are within `tied_tol`; each event i's pairs
    weigh weights[i]. Computed by counting in sorted arrays, O(n log² n), not pair by pair."""
    time = np.asarray(durations, dtype=float)
    event = np.asarray(events, dtype=bool)
    est = np.asarray(risk, dtype=float)
    w = np.ones(time.size) if weights is None else np.asarray(weights, dtype=float)
    n = time.size
    order = np.argsort(-time, kind="mergesort")  # longest first: rows before i lasted at least as long
    t_desc = time[order]
    # est rank of every row, so "est_j < x" becomes "rank_j < searchsorted(sorted est, x)"
    sorted_est = np.sort(est)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(est, kind="mergesort")] = np.arange(n)
    rank_desc = rank[order]
    # rows that lasted strictly longer than row i: those before its time group in the descending order
    longer = np.searchsorted(-t_desc, -t_desc, side="left").astype(np.int64)
    ev = np.flatnonzero(event[order])
    # scikit-survival never yields an event alone at the longest time (it has nothing to compare with)
    group_start = longer[ev]
    alone_longest = (ev == 0) & (n == 1 or t_desc[min(1, n - 1)] != t_desc[0])
    if ev.size == 0 or (ev.size == 1 and alone_longest[0]):
        raise NoComparablePairException("Data has no comparable pairs, cannot estimate concordance index.")
    x = est[order][ev]
    below = np.searchsorted(sorted_est, x - tied_tol, side="left").astype(np.int64)
    upto = np.searchsorted(sorted_est, x + tied_tol, side="right").astype(np.int64)
    con = _prefix_counts(rank_desc, group_start, below)
    tie = _prefix_counts(rank_desc, group_start, upto) - con
    size = group_start.copy()
    # censored rows at the same time as the event are comparable too
    cens = ~event[order]
    if cens.any():
        group_id = np.searchsorted(np.unique(-t_desc), -t_desc).astype(np.int64)  # 0: the longest time
        stride = np.int64(n + 1)
        cens_keys = np.sort(group_id[cens] * stride + rank_desc[cens])
        g = group_id[ev].astype(np.int64) * stride
        base = np.searchsorted(cens_keys, g)
        c_below = np.searchsorted(cens_keys, g + below) - base
        c_upto = np.searchsorted(cens_keys, g + upto) - base
        con += c_below
        tie += c_upto - c_below
        size += np.searchsorted(cens_keys, g + stride) - base
    wi = w[order][ev]
    numerator = float(np.sum(wi * con) + 0.5 * np.sum(wi * tie))
    denominator = float(np.sum(wi * size))
    return numerator / denominator


def harrell_c(durations, events, risk) -> float:
    return concordance(durations, events, risk)


def uno_c(train_durations, train_events, durations, events, risk, *, tau: float | None = None) -> float:
    """Uno's C: the concordance of pairs weighted by inverse probability of censoring (squared), truncated
    at tau; the weights are scikit-survival's (`concordance_index_ipcw`), the counting is `concordance`."""
    y_train = survival_target(train_durations, train_events)
    y_test = survival_target(durations, events)
    time = np.asarray(durations, dtype=float)
    risk = np.asarray(risk, dtype=float)
    cens = CensoringDistributionEstimator().fit(y_train)
    if tau is None:
        ipcw = cens.predict_ipcw(y_test)
    else:
        mask = time < tau
        ipcw = np.zeros(time.size)
        ipcw[mask] = cens.predict_ipcw(y_test[mask])
    return float(concordance(time, y_test["event"], risk, np.square(ipcw)))


def censoring_support(train_durations, train_events) -> float:
    """The time from which the censoring survival G(t), estimated from the training data as scikit-survival
    does for its inverse-probability-of-censoring weights, is zero (infinity when it never is). IPCW metrics
    can only weigh test events before it."""
    cens = CensoringDistributionEstimator().fit(survival_target(train_durations, train_events))
    zero = np.asarray(cens.unique_time_)[np.asarray(cens.prob_) <= 0.0]
    return float(zero.min()) if zero.size else float("inf")


def truncated(durations, events, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Follow-up cut just before `tau`: later times are censored there (what is known of every customer up
    to tau is kept, and no event falls where the censoring survival is zero)."""
    durations = np.asarray(durations, float)
    events = np.asarray(events, bool)
    late = durations >= tau
    cut = np.nextafter(tau, -np.inf)
    return np.where(late, cut, durations), events & ~late


def time_dependent_auc(train_durations, train_events, durations, events, risk, times) -> dict[float, float]:
    """Cumulative/dynamic AUC at each time that lies inside the follow-up of the test data (the caller
    truncates the follow-up to the censoring support)."""
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
