"""First-purchase propensity of prospects (viewers who never bought): P(first paid order within the horizon)
from their viewing and interaction history. A regularised logistic regression on standardised features,
beside the rule staff use ("watched at least N minutes"), both judged on held-out time. Pure: frames in,
numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import brier, expected_calibration_error, reliability_table

FEATURES = (
    "log_watch_minutes",
    "log_max_watch_minutes",
    "log_streams",
    "log_interactions",
    "log_recent_views",
    "days_since_last_view",
    "days_since_first_view",
    "in_community",
)
# what the frame from the database holds (one row per prospect)
RAW_COLUMNS = (
    "customer_id",
    "streams",
    "watch_minutes",
    "max_watch_minutes",
    "interactions",
    "recent_views",
    "days_since_last_view",
    "days_since_first_view",
    "in_community",
)
BASELINE_MINUTES = (1, 3, 5, 10, 15, 30, 60)
MIN_POSITIVES = 20  # first purchases needed to fit
MIN_EVAL_POSITIVES = 10  # and to judge


def design(frame: pd.DataFrame) -> np.ndarray:
    """The feature matrix (FEATURES) of a prospect frame (RAW_COLUMNS)."""
    recency = frame["days_since_last_view"].to_numpy(float)
    tenure = frame["days_since_first_view"].to_numpy(float)
    columns = [
        np.log1p(frame["watch_minutes"].to_numpy(float)),
        np.log1p(frame["max_watch_minutes"].to_numpy(float)),
        np.log1p(frame["streams"].to_numpy(float)),
        np.log1p(frame["interactions"].to_numpy(float)),
        np.log1p(frame["recent_views"].to_numpy(float)),
        np.minimum(recency, 365.0) / 30.0,
        np.minimum(tenure, 730.0) / 30.0,
        frame["in_community"].astype(float).to_numpy(),
    ]
    return np.column_stack(columns) if len(frame) else np.zeros((0, len(FEATURES)))


@dataclass
class PropensityModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        x = (design(frame) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def to_dict(self) -> dict:
        return {
            "features": list(FEATURES),
            "coefficients": dict(zip(FEATURES, map(float, self.coef), strict=True)),
            "intercept": float(self.intercept),
        }


def fit(frame: pd.DataFrame, bought: np.ndarray, *, c: float = 1.0) -> PropensityModel:
    """Fit on prospects at a past cutoff and whether each made a first purchase within the horizon after it.
    Raises ValueError when there are too few first purchases (or too few prospects without one)."""
    from sklearn.linear_model import LogisticRegression

    bought = np.asarray(bought, dtype=bool)
    positives = int(bought.sum())
    if positives < MIN_POSITIVES or len(bought) - positives < MIN_POSITIVES:
        raise ValueError(f"{positives} first purchases among {len(bought)} prospects: too few to fit")
    x = design(frame)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit((x - mean) / scale, bought)
    return PropensityModel(
        mean=mean, scale=scale, coef=model.coef_[0].copy(), intercept=float(model.intercept_[0])
    )


@dataclass
class WatchRule:
    """The staff rule of thumb as a baseline: prospects who watched at least `minutes` buy at `rate_above`,
    the others at `rate_below` (both learned on the training cutoff)."""

    minutes: float
    rate_above: float
    rate_below: float

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        above = frame["watch_minutes"].to_numpy(float) >= self.minutes
        return np.where(above, self.rate_above, self.rate_below)


def watch_rule_fit(frame: pd.DataFrame, bought: np.ndarray) -> WatchRule:
    """The "watched ≥ N minutes" threshold (from BASELINE_MINUTES) that best separates buyers on the training
    cutoff (Youden's J), with each side's first-purchase rate."""
    bought = np.asarray(bought, dtype=bool)
    minutes = frame["watch_minutes"].to_numpy(float)
    best, best_j = BASELINE_MINUTES[0], -np.inf
    positives, negatives = max(bought.sum(), 1), max((~bought).sum(), 1)
    for n in BASELINE_MINUTES:
        above = minutes >= n
        j = (above & bought).sum() / positives - (above & ~bought).sum() / negatives
        if j > best_j:
            best, best_j = n, j
    above = minutes >= best
    rate = lambda mask: float(bought[mask].mean()) if mask.any() else float(bought.mean())  # noqa: E731
    return WatchRule(minutes=float(best), rate_above=rate(above), rate_below=rate(~above))


def judge(predicted: np.ndarray, bought: np.ndarray) -> dict:
    """AUC, Brier, ECE and the reliability table of predictions against what happened; a metric that
    cannot be computed is None with a reason."""
    from sklearn.metrics import roc_auc_score

    bought = np.asarray(bought, dtype=bool)
    out: dict = {"prospects": int(len(bought)), "first_purchases": int(bought.sum()), "reasons": {}}
    if len(bought) == 0:
        out.update(auc=None, brier=None, ece=None)
        out["reasons"] = {m: "no_prospects" for m in ("auc", "brier", "ece")}
        return out
    if bought.all() or not bought.any():
        out["auc"] = None
        out["reasons"]["auc"] = "one_class"
    else:
        out["auc"] = float(roc_auc_score(bought, predicted))
    out["brier"] = brier(predicted, bought)
    out["ece"] = expected_calibration_error(predicted, bought)
    out["predicted_rate"] = float(np.mean(predicted))
    out["actual_rate"] = float(bought.mean())
    out["reliability"] = reliability_table(predicted, bought).round(6).to_dict("records")
    return out
