"""The experiment statistics against values computed directly with scipy and scikit-survival on the same
arrays, and an A/A simulation: many experiments without an effect, looked at every day."""

import math

import numpy as np
import pytest
from scipy import stats
from sksurv.compare import compare_survival
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from apps.engagement import experiment_stats as es

RNG = np.random.default_rng(7)


def test_difference_of_means_matches_welch_by_hand_and_scipy():
    y_t = RNG.binomial(1, 0.32, 900).astype(float)
    y_c = RNG.binomial(1, 0.27, 1100).astype(float)
    d = es.diff_means(y_t, y_c)
    se = math.sqrt(y_t.var(ddof=1) / 900 + y_c.var(ddof=1) / 1100)
    assert d.diff == pytest.approx(y_t.mean() - y_c.mean())
    assert d.se == pytest.approx(se)
    assert d.ci_low == pytest.approx(d.diff - stats.norm.ppf(0.975) * se)
    # Welch's t-test has (almost) the same p-value at these sizes
    assert d.p_value == pytest.approx(stats.ttest_ind(y_t, y_c, equal_var=False).pvalue, rel=0.01)
    assert es.diff_means(np.ones(5), np.ones(5)) is None  # no variation: no interval
    assert es.diff_means(np.ones(1), np.zeros(5)) is None


def test_cuped_equals_regression_adjustment_and_reduces_variance():
    n = 4000
    x = RNG.gamma(2.0, 50.0, n)
    arm = RNG.random(n) < 0.5
    y = 0.8 * x + RNG.normal(0, 30, n) + 10 * arm
    result, reduction = es.cuped_diff(y[arm], y[~arm], x[arm], x[~arm])
    theta = np.cov(x, y)[0, 1] / np.var(x, ddof=1)
    adjusted = y - theta * (x - x.mean())
    assert result.diff == pytest.approx(adjusted[arm].mean() - adjusted[~arm].mean())
    raw = es.diff_means(y[arm], y[~arm])
    assert reduction == pytest.approx(1 - (result.se / raw.se) ** 2)
    # the reduction CUPED promises is the squared correlation of outcome and covariate (about 0.78 here)
    assert reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, abs=0.03)
    assert result.ci_low < 10 < result.ci_high
    assert es.cuped_diff(y[arm], y[~arm], np.ones(arm.sum()), np.ones((~arm).sum())) is None


def test_srm_holm_and_power_match_scipy_and_the_formulas():
    assert es.srm_p_value([5100, 4900], [50, 50]) == pytest.approx(stats.chisquare([5100, 4900]).pvalue)
    assert es.srm_p_value([6000, 4000], [50, 50]) < 0.001
    assert es.srm_p_value([0, 0], [50, 50]) is None
    assert es.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06], nan_ok=True)
    # n per arm to see 10% -> 11%: the textbook figure is about 14,750
    assert 14_000 < es.required_per_arm(0.10, 0.10) < 15_500
    assert es.required_per_arm(0.0, 0.1) is None


def test_kaplan_meier_logrank_rmst_and_hazard_ratio_match_scikit_survival():
    n = 600
    treated = RNG.random(n) < 0.5
    time = RNG.exponential(np.where(treated, 20.0, 30.0))
    censor = RNG.uniform(10, 40, n)
    event = time <= censor
    time = np.minimum(time, censor)
    arm = np.where(treated, "coupon", "control")
    out = es.survival_by_arm(time, event, arm, "control")
    x, s = kaplan_meier_estimator(event[treated], time[treated])
    assert out["curves"]["coupon"]["survival"] == pytest.approx(list(s))
    # RMST at 30 days: the area under the step curve, by a fine Riemann sum
    grid = np.linspace(0, 30, 300_001)
    steps = np.concatenate([[1.0], s])[np.searchsorted(x, grid, side="right")]
    assert out["rmst"]["coupon"][30] == pytest.approx(np.trapezoid(steps, grid), abs=1e-3)
    chisq, p = compare_survival(Surv.from_arrays(event=event, time=time), arm)
    versus = out["versus_control"]["coupon"]
    assert versus["logrank_p"] == pytest.approx(p)
    cox = CoxPHSurvivalAnalysis(ties="breslow").fit(
        treated[:, None].astype(float), Surv.from_arrays(event, time)
    )
    assert versus["hazard_ratio"] == pytest.approx(math.exp(cox.coef_[0]))
    assert versus["hazard_ratio"] > 1  # treated repurchase sooner
    assert versus["hazard_ratio_ci_low"] < 1.5 < versus["hazard_ratio_ci_high"]  # true ratio 30/20
    # the Wald standard error agrees with the log-rank variance's (Peto) to a few percent
    test = es.logrank(time, event, arm)
    assert es.cox_hazard_ratio(time, event, treated)["log_hr_se"] == pytest.approx(
        1 / math.sqrt(test["variance"]), rel=0.05
    )
    assert versus["rmst_diff_30"] < 0  # sooner repurchase: less time without one


def test_a_and_a_experiments_looked_at_daily_claim_an_effect_five_times_in_a_hundred():
    """3,000 experiments without an effect, looked at every day for 30 days (customers arriving over time): the
    sequential interval excludes 0 at some look in 5% of them (within 1 point), while the fixed-horizon
    interval looked at daily does so four to five times as often."""
    rng = np.random.default_rng(2026)
    experiments, days, per_day = 3000, 30, 60
    n = days * per_day
    arm = rng.random((experiments, n)) < 0.5
    y = (rng.random((experiments, n)) < 0.2).astype(float)
    # running sums per day, all experiments at once
    ends = np.arange(1, days + 1) * per_day
    t_n = np.cumsum(arm, axis=1)[:, ends - 1]
    c_n = ends - t_n
    t_s = np.cumsum(y * arm, axis=1)[:, ends - 1]
    c_s = np.cumsum(y * ~arm, axis=1)[:, ends - 1]
    p_t, p_c = t_s / t_n, c_s / c_n
    se = np.sqrt(p_t * (1 - p_t) / (t_n - 1) + p_c * (1 - p_c) / (c_n - 1))
    z = np.abs(p_t - p_c) / se
    critical = es.daily_look_critical(days)
    sequential = (z > critical).any(axis=1).mean()
    naive = (z > 1.959964).any(axis=1).mean()
    assert abs(sequential - 0.05) <= 0.01, sequential
    assert naive > 0.15  # why the sequential interval is there
    # the interval itself: the same boundary around the difference, and its p-value agrees with it
    d = es.diff_means(y[0][arm[0]], y[0][~arm[0]])
    low, high, p = es.sequential_interval(d.diff, d.se, days)
    assert high - d.diff == pytest.approx(critical * d.se) and (p < 0.05) == (low > 0 or high < 0)
    assert es.daily_look_critical(1) == pytest.approx(1.959964, abs=1e-5)
    assert 2.4 < es.daily_look_critical(5) < 2.45  # Pocock's constant for 5 looks: 2.413
