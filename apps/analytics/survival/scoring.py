"""Per-customer predictions from a fitted survival model, all customers at once.

Everything is conditional on the time already elapsed since the customer's last purchase `a`:
S_c(t) = S(a + t) / S(a). Expected purchases over a window come from a discrete renewal equation: the first
next purchase follows S_c; every later gap follows the model's curve from elapsed time 0 with the same
covariates (an approximation: covariates are held at their values at the last purchase).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .models import SurvivalModel

# The fixed grid (days) on which every customer's survival curve is stored.
GRID_DAYS = np.array([7, 14, 21, 30, 45, 60, 90, 120, 150, 180, 240, 300, 365], dtype=float)
_EPS = 1e-12
# The columns of every engine's predictions (survival.engine.predict and classic.classic_predict), in order.
PREDICTION_COLUMNS = (
    "p_purchase_horizon",
    "churn_probability",
    "expected_purchases_horizon",
    "expected_revenue_horizon",
    "clv",
    "median_days_to_next_purchase",
    "rhythm_days",
    "survival_curve",
    "stage_active",
)


def conditional_survival(model: SurvivalModel, X: pd.DataFrame | None, elapsed, times) -> np.ndarray:
    """S(a_i + t_j) / S(a_i) for each customer i and time t_j (days after the as-of date)."""
    elapsed = np.asarray(elapsed, dtype=float)
    if np.any(elapsed < 0):
        raise ValueError("elapsed time since the last purchase must not be negative")
    times = np.asarray(times, dtype=float)
    at_elapsed = (
        model.survival_at(X, elapsed[:, None])[:, 0]
        if model.kind != "kaplan_meier"
        else (model.survival_at(None, elapsed)).reshape(-1)
    )
    later = elapsed[:, None] + times[None, :]
    ahead = model.survival_at(X, later) if model.kind != "kaplan_meier" else model.survival_at(None, later)
    return np.clip(ahead / np.maximum(at_elapsed, _EPS)[:, None], 0.0, 1.0)


def median_days(
    model: SurvivalModel, X: pd.DataFrame | None, elapsed, *, max_days: int = 365, chunk_size: int = 20_000
) -> np.ndarray:
    """Days until the conditional survival first falls to 0.5 or below; NaN if not within max_days."""
    elapsed = np.asarray(elapsed, dtype=float)
    days = np.arange(1, max_days + 1, dtype=float)
    out = np.full(elapsed.size, np.nan)
    for start in range(0, elapsed.size, chunk_size):
        stop = min(start + chunk_size, elapsed.size)
        xs = X.iloc[start:stop] if X is not None else None
        surv = conditional_survival(model, xs, elapsed[start:stop], days)
        reached = surv <= 0.5
        hit = reached.any(axis=1)
        first = reached.argmax(axis=1)
        out[start:stop][hit] = days[first[hit]]
    return out


def renewal_purchases(first_cdf: np.ndarray, gap_cdf: np.ndarray) -> np.ndarray:
    """Expected number of purchases falling in each bin (a discrete renewal equation).

    first_cdf[i, j]: probability that customer i's next purchase happens by the end of bin j.
    gap_cdf[i, j]:   probability that a gap after a purchase is at most (j + 1) bin widths long.
    A purchase lies anywhere in its bin, so a gap of between m and m + 1 widths moves it m bins on with
    probability 1/2 and m + 1 bins on with probability 1/2 (uniform position, midpoint rule): the kernel is
    h[0] = g[0] / 2 and h[m] = (g[m-1] + g[m]) / 2.
    """
    first_cdf = np.atleast_2d(np.asarray(first_cdf, dtype=float))
    gap_cdf = np.atleast_2d(np.asarray(gap_cdf, dtype=float))
    if first_cdf.shape != gap_cdf.shape:
        raise ValueError("first_cdf and gap_cdf must have the same shape")
    out = np.empty_like(first_cdf)
    # customers are independent: a block of them at a time keeps the arrays in the CPU's cache (six times
    # faster at 50,000 customers than one pass over all of them, with the same arithmetic)
    for start in range(0, first_cdf.shape[0], RENEWAL_BLOCK):
        stop = start + RENEWAL_BLOCK
        out[start:stop] = _renewal_block(first_cdf[start:stop], gap_cdf[start:stop])
    return out


RENEWAL_BLOCK = 2048


def _renewal_block(first_cdf: np.ndarray, gap_cdf: np.ndarray) -> np.ndarray:
    first_mass = np.diff(first_cdf, axis=1, prepend=0.0)
    gap_mass = np.diff(gap_cdf, axis=1, prepend=0.0)
    kernel = 0.5 * (gap_mass + np.concatenate([np.zeros((gap_mass.shape[0], 1)), gap_mass[:, :-1]], axis=1))
    # bins × customers, so that every step below runs over contiguous memory
    pending = np.ascontiguousarray(first_mass.T)  # purchases reaching each bin, filled in as u is found
    kernel_t = np.ascontiguousarray(kernel.T)
    k = pending.shape[0]
    stay = 1.0 - np.clip(kernel_t[0], 0.0, 1.0 - 1e-9)
    u = np.empty_like(pending)
    for j in range(k):
        u[j] = pending[j] / stay
        if j + 1 < k:  # a purchase in bin j sends kernel[m] of a purchase on to bin j + m
            pending[j + 1 :] += u[j] * kernel_t[1 : k - j]
    return u.T


def expected_purchases_and_clv(
    model: SurvivalModel,
    X: pd.DataFrame | None,
    elapsed,
    *,
    order_value,
    horizon_days: int,
    lifetime_days: int = 1095,
    bin_days: int = 30,
    margin: float = 1.0,
    annual_discount_rate: float = 0.0,
) -> dict[str, np.ndarray]:
    """Expected purchases and revenue within the horizon, and discounted CLV over the lifetime horizon.

    CLV = margin × order_value × Σ_bins expected purchases in bin / (1 + d) ** (bin midpoint in years).
    """
    elapsed = np.asarray(elapsed, dtype=float)
    order_value = np.broadcast_to(np.asarray(order_value, dtype=float), elapsed.shape)
    n_bins = int(np.ceil(max(lifetime_days, horizon_days) / bin_days))
    edges = bin_days * np.arange(1, n_bins + 1, dtype=float)
    first_cdf = 1.0 - conditional_survival(model, X, elapsed, edges)
    gap_cdf = 1.0 - conditional_survival(model, X, np.zeros_like(elapsed), edges)
    per_bin = renewal_purchases(first_cdf, gap_cdf)
    # horizon: whole bins plus the covered fraction of the bin it ends in
    covered = np.clip((horizon_days - (edges - bin_days)) / bin_days, 0.0, 1.0)
    purchases_h = per_bin @ covered
    life_cover = np.clip((lifetime_days - (edges - bin_days)) / bin_days, 0.0, 1.0)
    midpoints_years = (edges - bin_days / 2.0) / 365.0
    discount = (1.0 + annual_discount_rate) ** (-midpoints_years)
    clv = margin * order_value * (per_bin @ (life_cover * discount))
    return {
        "expected_purchases_horizon": purchases_h,
        "expected_revenue_horizon": purchases_h * order_value,
        "expected_purchases_lifetime": per_bin @ life_cover,
        "clv": clv,
    }
