"""Lifecycle stages along the gap after a purchase, and survival chained across them.

After a paid purchase a customer is in an *active* stage set by how many paid purchases they have made
(introduction, growth, maturity). If no purchase follows, they enter *decline* once the gap exceeds
decline_ratio × their rhythm, and *churned* once it exceeds churn_ratio × rhythm. Each stage has its own
survival model of the time to the next purchase, timed from entering that stage (scikit-survival has no
strata or delayed entry, so each stage's clock restarts at its entry):

    S_path(u) = S_active(min(u, D)) · S_decline(clip(u − D, 0, C − D)) · S_churned(max(u − C, 0))

with u the days since the last purchase, D = decline_ratio · rhythm and C = churn_ratio · rhythm. Predictions
after a cutoff at elapsed a are conditional: S(τ) = S_path(a + τ) / S_path(a).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

INTRODUCTION, GROWTH, MATURITY, DECLINE, CHURNED = "introduction", "growth", "maturity", "decline", "churned"
ACTIVE_STAGES = (INTRODUCTION, GROWTH, MATURITY)
STAGES = (*ACTIVE_STAGES, DECLINE, CHURNED)
_EPS = 1e-12


@dataclass(frozen=True)
class StageRules:
    growth_min_orders: int = 2
    maturity_min_orders: int = 4
    decline_gap_ratio: float = 1.5
    churn_gap_ratio: float = 3.0
    churn_probability: float = 0.95

    def __post_init__(self):
        if not 2 <= self.growth_min_orders < self.maturity_min_orders:
            raise ValueError("need 2 ≤ growth_min_orders < maturity_min_orders")
        if not 0 < self.decline_gap_ratio < self.churn_gap_ratio:
            raise ValueError("need 0 < decline_gap_ratio < churn_gap_ratio")


def active_stage(orders, rules: StageRules) -> np.ndarray:
    orders = np.asarray(orders)
    return np.where(
        orders >= rules.maturity_min_orders,
        MATURITY,
        np.where(orders >= rules.growth_min_orders, GROWTH, INTRODUCTION),
    ).astype(object)


def rhythm(customer_rhythm, brand_rhythm: float) -> np.ndarray:
    """The customer's average days between paid purchases; the brand's typical gap where unknown."""
    values = np.asarray(customer_rhythm, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, brand_rhythm)


def brand_rhythm(durations, events, *, floor: float = 7.0) -> float:
    """The brand's typical gap: the median length of completed gaps (at least `floor` days)."""
    durations = np.asarray(durations, dtype=float)
    events = np.asarray(events, dtype=bool)
    done = durations[events]
    return float(max(np.median(done), floor)) if done.size else 30.0


def stage_training_rows(orders, durations, events, rhythms, rules: StageRules) -> pd.DataFrame:
    """Split each gap into the stages it passed through: one row per (gap, stage), timed from stage entry.

    Returns columns row (index into the inputs), stage, duration, event.
    """
    orders = np.asarray(orders)
    durations = np.asarray(durations, dtype=float)
    events = np.asarray(events, dtype=bool)
    r = np.asarray(rhythms, dtype=float)
    d_at, c_at = rules.decline_gap_ratio * r, rules.churn_gap_ratio * r
    idx = np.arange(durations.size)
    active = pd.DataFrame(
        {
            "row": idx,
            "stage": active_stage(orders, rules),
            "duration": np.minimum(durations, d_at),
            "event": events & (durations <= d_at),
        }
    )
    in_decline = durations > d_at
    decline = pd.DataFrame(
        {
            "row": idx[in_decline],
            "stage": DECLINE,
            "duration": (np.minimum(durations, c_at) - d_at)[in_decline],
            "event": (events & (durations <= c_at))[in_decline],
        }
    )
    in_churn = durations > c_at
    churned = pd.DataFrame(
        {
            "row": idx[in_churn],
            "stage": CHURNED,
            "duration": (durations - c_at)[in_churn],
            "event": events[in_churn],
        }
    )
    return pd.concat([active, decline, churned], ignore_index=True)


def path_survival(models: Mapping, X: pd.DataFrame, orders, u, rhythms, rules: StageRules) -> np.ndarray:
    """S_path at u days after each customer's last purchase; u is (n,) or (n, m). `models` maps every stage
    to an object with survival_at(X, times2d)."""
    u = np.asarray(u, dtype=float)
    u2 = u[:, None] if u.ndim == 1 else u
    r = np.asarray(rhythms, dtype=float)[:, None]
    d_at, c_at = rules.decline_gap_ratio * r, rules.churn_gap_ratio * r
    stages = active_stage(orders, rules)
    out = np.ones(u2.shape)
    for stage in ACTIVE_STAGES:
        mask = stages == stage
        if mask.any():
            rows = X.iloc[np.flatnonzero(mask)] if X is not None else None
            out[mask] = models[stage].survival_at(rows, np.minimum(u2[mask], d_at[mask]))
    out *= models[DECLINE].survival_at(X, np.clip(u2 - d_at, 0.0, c_at - d_at))
    out *= models[CHURNED].survival_at(X, np.maximum(u2 - c_at, 0.0))
    return out if u.ndim == 2 else out[:, 0]


def conditional_path_survival(models, X, orders, elapsed, rhythms, rules: StageRules, times) -> np.ndarray:
    """P(no purchase during the next t days | none in the `elapsed` days since the last), for each t."""
    elapsed = np.asarray(elapsed, dtype=float)
    times = np.asarray(times, dtype=float)
    now = path_survival(models, X, orders, elapsed, rhythms, rules)
    ahead = path_survival(models, X, orders, elapsed[:, None] + times[None, :], rhythms, rules)
    return np.clip(ahead / np.maximum(now, _EPS)[:, None], 0.0, 1.0)


def assign_stage(
    orders, elapsed, rhythms, churn_probability, rules: StageRules
) -> tuple[np.ndarray, np.ndarray]:
    """The stage each customer is in now and the rule that placed them there (vectorised).

    Rules, first match wins: churn_gap, churn_probability, decline_gap, maturity_orders, growth_orders,
    introduction. With the customer's orders, days since last purchase and rhythm, the rule explains itself.
    """
    orders = np.asarray(orders)
    elapsed = np.asarray(elapsed, dtype=float)
    ratio = elapsed / np.maximum(np.asarray(rhythms, dtype=float), _EPS)
    churn_p = np.asarray(churn_probability, dtype=float)
    conditions = [
        ratio > rules.churn_gap_ratio,
        churn_p >= rules.churn_probability,
        ratio > rules.decline_gap_ratio,
        orders >= rules.maturity_min_orders,
        orders >= rules.growth_min_orders,
    ]
    rule = np.select(
        conditions,
        ["churn_gap", "churn_probability", "decline_gap", "maturity_orders", "growth_orders"],
        default="introduction",
    ).astype(object)
    stage = np.select(conditions, [CHURNED, CHURNED, DECLINE, MATURITY, GROWTH], default=INTRODUCTION).astype(
        object
    )
    return stage, rule
