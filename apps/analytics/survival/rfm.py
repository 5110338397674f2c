"""RFM quintile scores and named segments, per brand, and the naive RFM baseline built on them."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "promising",
    "need_attention",
    "cant_lose",
    "at_risk",
    "about_to_sleep",
    "hibernating",
    "lost",
)


def quintile_score(values, *, higher_is_better: bool = True) -> np.ndarray:
    """1–5 by the share of customers strictly below (ties share a score, so equal customers score equal)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.zeros(0, dtype=int)
    keyed = values if higher_is_better else -values
    below = pd.Series(keyed).rank(method="min").to_numpy() - 1
    return np.clip(np.floor(below / values.size * 5).astype(int) + 1, 1, 5)


def rfm_scores(days_since_last, frequency, monetary) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        quintile_score(days_since_last, higher_is_better=False),
        quintile_score(frequency),
        quintile_score(monetary),
    )


def quintile_cuts(values, *, higher_is_better: bool = True) -> list[float]:
    """Cut points c2..c5 such that score = 1 + #{k : c_k < x} equals quintile_score over the same population
    (score ≥ k exactly when at least ceil((k − 1)·n/5) customers are strictly below). Lets chunks of a
    population be scored against the whole of it."""
    keyed = np.sort(np.asarray(values, dtype=float) * (1 if higher_is_better else -1))
    n = keyed.size
    if n == 0:
        return [np.inf] * 4
    return [float(keyed[int(np.ceil((k - 1) * n / 5)) - 1]) for k in range(2, 6)]


def score_with_cuts(values, cuts, *, higher_is_better: bool = True) -> np.ndarray:
    keyed = np.asarray(values, dtype=float) * (1 if higher_is_better else -1)
    return 1 + (keyed[:, None] > np.asarray(cuts, dtype=float)[None, :]).sum(axis=1)


def rfm_cuts(days_since_last, frequency, monetary) -> dict[str, list[float]]:
    return {
        "recency": quintile_cuts(days_since_last, higher_is_better=False),
        "frequency": quintile_cuts(frequency),
        "monetary": quintile_cuts(monetary),
    }


def rfm_scores_with_cuts(days_since_last, frequency, monetary, cuts: dict) -> tuple[np.ndarray, ...]:
    return (
        score_with_cuts(days_since_last, cuts["recency"], higher_is_better=False),
        score_with_cuts(frequency, cuts["frequency"]),
        score_with_cuts(monetary, cuts["monetary"]),
    )


def rfm_segment(r, f, m) -> np.ndarray:
    """Named segments from the scores; the first matching rule wins."""
    r, f, m = (np.asarray(x) for x in (r, f, m))
    fm = (f + m) / 2.0
    conditions = [
        (r >= 4) & (fm >= 4),
        (r >= 3) & (fm >= 3),
        (r >= 4) & (f <= 1),
        (r >= 4),
        (r == 3) & (f <= 2),
        (r == 3),
        (r <= 1) & (fm >= 4),
        (r <= 2) & (fm >= 3),
        (r == 2) & (fm >= 2),
        (r == 2),
    ]
    choices = [
        "champions",
        "loyal",
        "new",
        "potential_loyalist",
        "promising",
        "need_attention",
        "cant_lose",
        "at_risk",
        "about_to_sleep",
        "hibernating",
    ]
    return np.select(conditions, choices, default="lost").astype(object)


def rfm_cell(r, f) -> np.ndarray:
    return np.asarray(r) * 10 + np.asarray(f)


def rfm_baseline(train_cells, train_bought, train_revenue, cells) -> tuple[np.ndarray, np.ndarray]:
    """The naive RFM forecast: each (R, F) cell's observed repurchase rate and mean revenue in an earlier
    window of the same length, applied to customers by their cell now (overall rate for unseen cells)."""
    frame = pd.DataFrame(
        {
            "cell": np.asarray(train_cells),
            "bought": np.asarray(train_bought, float),
            "revenue": np.asarray(train_revenue, float),
        }
    )
    rates = frame.groupby("cell").agg(rate=("bought", "mean"), revenue=("revenue", "mean"))
    overall_rate = float(frame["bought"].mean()) if len(frame) else 0.0
    overall_rev = float(frame["revenue"].mean()) if len(frame) else 0.0
    cells = pd.Series(np.asarray(cells))
    p = cells.map(rates["rate"]).fillna(overall_rate).to_numpy(float)
    revenue = cells.map(rates["revenue"]).fillna(overall_rev).to_numpy(float)
    return p, revenue
