"""The statistics of an experiment, on plain arrays (no database): the difference of two means with its
interval, variance reduction with covariates (CUPED with the pre-period, CUPAC with the product's own
prediction), intervals that stay valid when staff look every day (a Pocock boundary), the sample-ratio
check, the Holm correction, the sample needed for the effect the brand wants to detect, and time to
repurchase per arm (Kaplan-Meier, log-rank, restricted mean survival time, hazard ratio).

Every function returns None (or a dict whose value is None, with a reason) where a figure cannot be computed;
none invents a number.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

RMST_DAYS = (7, 14, 30)


@dataclass(frozen=True)
class Difference:
    diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float

    def as_dict(self) -> dict:
        return asdict(self)


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def diff_means(y_t: np.ndarray, y_c: np.ndarray, alpha: float = 0.05) -> Difference | None:
    """Treatment mean minus control mean, with the unpooled (Welch) standard error, a normal interval and a
    two-sided p-value. None when an arm has fewer than two units or both arms have no variance."""
    y_t = np.asarray(y_t, dtype=float)
    y_c = np.asarray(y_c, dtype=float)
    if len(y_t) < 2 or len(y_c) < 2:
        return None
    diff = float(y_t.mean() - y_c.mean())
    se = math.sqrt(y_t.var(ddof=1) / len(y_t) + y_c.var(ddof=1) / len(y_c))
    if se == 0:
        return None
    z = _z(alpha)
    p = float(2 * stats.norm.sf(abs(diff) / se))
    return Difference(diff, se, diff - z * se, diff + z * se, p)


def cuped_adjust(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The outcome less its projection on the covariates (columns of x), with θ fitted on all units pooled
    (so the adjustment does not depend on the arm): y − (x − x̄)θ. Returns (adjusted y, θ); None when the
    covariates carry no variance."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    centred = x - x.mean(axis=0)
    keep = centred.std(axis=0) > 0
    if not keep.any() or len(y) < 3:
        return None
    centred = centred[:, keep]
    theta, *_ = np.linalg.lstsq(centred, y - y.mean(), rcond=None)
    full = np.zeros(x.shape[1])
    full[keep] = theta
    return y - centred @ theta, full


def cuped_diff(
    y_t: np.ndarray, y_c: np.ndarray, x_t: np.ndarray, x_c: np.ndarray, alpha: float = 0.05
) -> tuple[Difference, float] | None:
    """The difference of means after CUPED/CUPAC adjustment, and the variance reduction it brought
    (1 − adjusted variance / raw variance of the difference). None when it cannot be computed."""
    y = np.concatenate([np.asarray(y_t, dtype=float), np.asarray(y_c, dtype=float)])
    x = np.concatenate([np.asarray(x_t, dtype=float), np.asarray(x_c, dtype=float)])
    adjusted = cuped_adjust(y, x)
    raw = diff_means(y_t, y_c, alpha)
    if adjusted is None or raw is None:
        return None
    y_adj = adjusted[0]
    result = diff_means(y_adj[: len(y_t)], y_adj[len(y_t) :], alpha)
    if result is None:
        return None
    return result, 1 - (result.se / raw.se) ** 2


@functools.lru_cache(maxsize=32)
def _daily_look_maxima(looks: int, paths: int = 40_000) -> np.ndarray:
    """Sorted simulated maxima over `looks` equally spaced looks of |Z|, Z the running standardised difference
    under no effect (a Brownian motion observed at k/looks; fixed seed)."""
    rng = np.random.default_rng(20261206)
    worst = np.zeros(paths)
    walk = np.zeros(paths)
    for k in range(1, looks + 1):
        walk += rng.standard_normal(paths)
        np.maximum(worst, np.abs(walk) / math.sqrt(k), out=worst)
    return np.sort(worst)


def daily_look_critical(looks: int, alpha: float = 0.05) -> float:
    """The critical z of a Pocock boundary for `looks` equally spaced looks (one a day over the experiment):
    looking at most this many times, the chance of ever seeing an interval that excludes 0 without an effect
    is alpha."""
    looks = max(1, min(int(looks), 730))
    if looks == 1:
        return _z(alpha)
    return float(np.quantile(_daily_look_maxima(looks), 1 - alpha))


def sequential_interval(
    diff: float, se: float, looks: int, alpha: float = 0.05
) -> tuple[float, float, float]:
    """The interval and p-value valid when staff look once a day for `looks` days (Pocock's boundary): the
    difference ± the boundary's z × se, and the share of no-effect paths whose largest |Z| reaches this one."""
    looks = max(1, min(int(looks), 730))
    c = daily_look_critical(looks, alpha)
    z = abs(diff) / se if se > 0 else 0.0
    if looks == 1:
        p = float(2 * stats.norm.sf(z))
    else:
        maxima = _daily_look_maxima(looks)
        p = float(1 - np.searchsorted(maxima, z, side="left") / len(maxima))
    return diff - c * se, diff + c * se, max(p, 1 / 40_000)


def srm_p_value(counts: list[int], shares: list[float]) -> float | None:
    """Chi-squared test of the arms' sizes against their traffic shares. None with fewer than two arms or
    no units."""
    counts = np.asarray(counts, dtype=float)
    shares = np.asarray(shares, dtype=float)
    if len(counts) < 2 or counts.sum() == 0 or (shares <= 0).any():
        return None
    expected = shares / shares.sum() * counts.sum()
    return float(stats.chisquare(counts, expected).pvalue)


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None and does not count as a comparison)."""
    indexed = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(indexed)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def required_per_arm(
    baseline: float, relative_effect: float, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Units per arm to detect a relative change of a conversion rate with a two-sided test. None when the
    baseline rate is 0 or 1 or the effect is 0."""
    p1 = baseline
    p2 = baseline * (1 + relative_effect)
    if not (0 < p1 < 1) or not (0 < p2 < 1) or p1 == p2:
        return None
    z = _z(alpha) + float(stats.norm.ppf(power))
    return int(math.ceil(z * z * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2))


def required_per_arm_mean(sd: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Units per arm to detect an absolute change delta of a mean with standard deviation sd."""
    if sd <= 0 or delta == 0:
        return None
    z = _z(alpha) + float(stats.norm.ppf(power))
    return int(math.ceil(2 * (z * sd / delta) ** 2))


# --- time to repurchase -----------------------------------------------------------------------------------


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-survival's Kaplan-Meier estimate: the event times and S(t) just after each."""
    from sksurv.nonparametric import kaplan_meier_estimator

    return kaplan_meier_estimator(np.asarray(event, dtype=bool), np.asarray(time, dtype=float))


def rmst(times: np.ndarray, surv: np.ndarray, horizon: float) -> float:
    """Restricted mean survival time up to horizon: the area under the Kaplan-Meier step curve."""
    grid = np.concatenate([[0.0], times[times < horizon], [horizon]])
    levels = np.concatenate([[1.0], surv[times < horizon]])
    return float(np.sum(np.diff(grid) * levels))


def logrank(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> dict | None:
    """scikit-survival's log-rank test of the groups; the statistic, its p-value and, for two groups, the
    observed minus expected events and their variance of the first group in sorted order. None when there is
    no event or only one group."""
    from sksurv.compare import compare_survival
    from sksurv.util import Surv

    event = np.asarray(event, dtype=bool)
    group = np.asarray(group)
    if not event.any() or len(np.unique(group)) < 2:
        return None
    y = Surv.from_arrays(event=event, time=np.asarray(time, dtype=float))
    chisq, p_value, table, covariance = compare_survival(y, group, return_stats=True)
    return {
        "chisq": float(chisq),
        "p_value": float(p_value),
        "groups": [str(g) for g in table.index],
        "observed": [float(v) for v in table["observed"]],
        "expected": [float(v) for v in table["expected"]],
        "variance": float(covariance[0, 0]),
    }


def cox_hazard_ratio(
    time: np.ndarray, event: np.ndarray, treated: np.ndarray, alpha: float = 0.05
) -> dict | None:
    """Hazard ratio of treated against control from the Cox partial likelihood (Breslow ties), with a Wald
    interval from the observed information at the estimate. None without events in both groups.

    The one-covariate model is fitted by Newton's method on sorted cumulative sums (a fraction of a second for
    500,000 customers, where scikit-survival's general fit takes about 6 s); the tests check it gives
    scikit-survival's CoxPHSurvivalAnalysis(ties="breslow") estimate."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    x = np.asarray(treated, dtype=float)
    if not (event & (x == 1)).any() or not (event & (x == 0)).any():
        return None
    beta = _cox_newton(time, event, x)
    if beta is None:
        return None
    info = _cox_information(time, event, x, beta)
    if info <= 0:
        return None
    se = 1 / math.sqrt(info)
    z = _z(alpha)
    return {
        "hazard_ratio": math.exp(beta),
        "ci_low": math.exp(beta - z * se),
        "ci_high": math.exp(beta + z * se),
        "log_hr_se": se,
    }


def _cox_newton(time: np.ndarray, event: np.ndarray, x: np.ndarray, steps: int = 50) -> float | None:
    """The maximum partial likelihood estimate of a one-covariate Cox model (Breslow ties): Newton steps,
    halved while they lower the likelihood. None if it does not converge."""
    beta = 0.0
    loglik, score, info = _cox_terms(time, event, x, beta)
    for _ in range(steps):
        if info <= 0:
            return None
        step = score / info
        for _halving in range(30):
            new = _cox_terms(time, event, x, beta + step)
            if new[0] >= loglik - 1e-12:
                break
            step /= 2
        beta += step
        loglik, score, info = new
        if abs(step) < 1e-10:
            return beta
    return None


def _cox_terms(time: np.ndarray, event: np.ndarray, x: np.ndarray, beta: float) -> tuple[float, float, float]:
    """Log partial likelihood, score and observed information of a one-covariate Cox model (Breslow) at beta."""
    order = np.argsort(-time, kind="stable")
    t, d, xs = time[order], event[order].astype(float), x[order]
    w = np.exp(beta * xs)
    s0, s1, s2 = np.cumsum(w), np.cumsum(w * xs), np.cumsum(w * xs * xs)
    last = np.r_[t[1:] != t[:-1], True]
    block_last = np.flatnonzero(last)
    ids = np.cumsum(np.r_[0, last[:-1]])  # block of each row, in descending time order
    deaths = np.bincount(ids, weights=d, minlength=len(block_last))
    s0b, s1b, s2b = s0[block_last], s1[block_last], s2[block_last]
    mean = s1b / s0b
    loglik = float(beta * np.sum(d * xs) - np.sum(deaths * np.log(s0b)))
    score = float(np.sum(d * xs) - np.sum(deaths * mean))
    info = float(np.sum(deaths * (s2b / s0b - mean * mean)))
    return loglik, score, info


def _cox_information(time: np.ndarray, event: np.ndarray, x: np.ndarray, beta: float) -> float:
    """Observed information of a one-covariate Cox partial likelihood (Breslow ties) at beta."""
    return _cox_terms(time, event, x, beta)[2]


def survival_by_arm(
    time: np.ndarray, event: np.ndarray, arm: np.ndarray, control: str, alpha: float = 0.05
) -> dict:
    """Per arm: the Kaplan-Meier curve and RMST at 7, 14 and 30 days; per variant against control: the RMST
    differences, the log-rank p-value and the hazard ratio (the instantaneous rate of repurchase; above 1
    means sooner)."""
    arm = np.asarray(arm).astype(str)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    curves, rmsts = {}, {}
    for code in np.unique(arm):
        mask = arm == code
        if not mask.any():
            continue
        t, s = kaplan_meier(time[mask], event[mask])
        curves[code] = {"days": [float(v) for v in t], "survival": [float(v) for v in s]}
        max_follow = float(time[mask].max())
        rmsts[code] = {h: (rmst(t, s, h) if max_follow >= h else None) for h in RMST_DAYS}
    versus = {}
    for code in curves:
        if code == control:
            continue
        both = (arm == code) | (arm == control)
        entry = {}
        for h in RMST_DAYS:
            a, c = rmsts[code][h], rmsts.get(control, {}).get(h)
            entry[f"rmst_diff_{h}"] = None if a is None or c is None else a - c
        test = logrank(time[both], event[both], arm[both])
        entry["logrank_p"] = None if test is None else test["p_value"]
        cox = cox_hazard_ratio(time[both], event[both], (arm[both] == code).astype(float), alpha)
        entry["hazard_ratio"] = None if cox is None else cox["hazard_ratio"]
        entry["hazard_ratio_ci_low"] = None if cox is None else cox["ci_low"]
        entry["hazard_ratio_ci_high"] = None if cox is None else cox["ci_high"]
        versus[code] = entry
    return {"curves": curves, "rmst": rmsts, "versus_control": versus}
