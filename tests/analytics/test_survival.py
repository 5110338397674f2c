"""The pure survival package on small arrays with answers worked out by hand."""

import ast
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

from apps.analytics.survival.kaplan_meier import km_survival_at, km_table, logrank_test
from apps.analytics.survival.metrics import (
    brier,
    expected_calibration_error,
    harrell_c,
    reliability_table,
    top_decile_capture,
)
from apps.analytics.survival.models import SurvivalModel, fit_kaplan_meier, fit_survival_model
from apps.analytics.survival.scoring import (
    conditional_survival,
    expected_purchases_and_clv,
    median_days,
    renewal_purchases,
)
from apps.analytics.survival.steps import step_lookup


def test_package_imports_nothing_from_django_or_apps():
    root = pathlib.Path(__file__).resolve().parents[2] / "apps" / "analytics" / "survival"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                assert not name.startswith(("django", "apps")), f"{path.name} imports {name}"


def test_step_lookup_is_right_continuous_with_value_before_first_knot():
    knots, values = np.array([1.0, 3.0]), np.array([0.8, 0.5])
    assert step_lookup(knots, values, [0.0, 0.999, 1.0, 2.0, 3.0, 10.0]).tolist() == [
        1,
        1,
        0.8,
        0.8,
        0.5,
        0.5,
    ]


def test_kaplan_meier_table_matches_hand_computation():
    # given six gaps, two censored (at 2 and 4)
    table = km_table([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    # then: S(1) = 5/6, S(2) = 5/6 · 4/5, S(3) = · 2/3, S(4) unchanged, S(5) = 0
    assert table["time"].tolist() == [1, 2, 3, 4, 5]
    assert table["at_risk"].tolist() == [6, 5, 3, 2, 1]
    assert table["events"].tolist() == [1, 1, 1, 0, 1]
    assert table["censored"].tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(table["survival"], [5 / 6, 4 / 6, 4 / 9, 4 / 9, 0.0])
    np.testing.assert_allclose(km_survival_at(table, [0.5, 2.5, 9]), [1.0, 4 / 6, 0.0])
    assert (table["ci_lower"] <= table["survival"]).all() and (table["survival"] <= table["ci_upper"]).all()


def test_kaplan_meier_rejects_negative_durations():
    with pytest.raises(ValueError, match="non-negative"):
        km_table([1, -2], [1, 1])


def test_logrank_separates_different_groups_and_not_identical_ones():
    rng = np.random.default_rng(1)
    fast, slow = rng.exponential(10, 300), rng.exponential(30, 300)
    _, p_diff = logrank_test(np.r_[fast, slow], np.ones(600, bool), np.r_[np.zeros(300), np.ones(300)])
    _, p_same = logrank_test(np.r_[fast, fast], np.ones(600, bool), np.r_[np.zeros(300), np.ones(300)])
    assert p_diff < 1e-6
    assert p_same > 0.99


def _cox(coef, times, surv, features=("x",)):
    k = len(features)
    return SurvivalModel(
        kind="coxph",
        features=tuple(features),
        dropped_features=(),
        center=np.zeros(k),
        scale=np.ones(k),
        n_samples=0,
        n_events=0,
        coef=np.asarray(coef, float),
        baseline_times=np.asarray(times, float),
        baseline_survival=np.asarray(surv, float),
    )


def test_cox_survival_is_baseline_to_the_power_of_relative_risk():
    model = _cox([np.log(2.0)], [10, 20], [0.9, 0.6])
    X = pd.DataFrame({"x": [0.0, 1.0]})
    surv = model.survival_at(X, [5, 10, 20])
    np.testing.assert_allclose(surv, [[1, 0.9, 0.6], [1, 0.81, 0.36]])
    hr = model.hazard_ratios()
    assert hr.loc[0, "hazard_ratio"] == pytest.approx(2.0)


def test_conditional_survival_divides_by_survival_at_elapsed_time():
    model = _cox([0.0], [10, 20, 30], [0.8, 0.4, 0.2])
    X = pd.DataFrame({"x": [0.0, 0.0]})
    # a customer 10 days since the last purchase: S(20)/S(10) = 0.5, S(30)/S(10) = 0.25
    cond = conditional_survival(model, X, [0, 10], [10, 20])
    np.testing.assert_allclose(cond, [[0.8, 0.4], [0.5, 0.25]])


def test_median_days_is_first_day_at_or_below_one_half_or_nan():
    model = _cox([0.0], [10, 20], [0.7, 0.5])
    X = pd.DataFrame({"x": [0.0, 0.0]})
    # from elapsed 0 the curve reaches 0.5 on day 20; from elapsed 10 it is 0.5/0.7 ≈ 0.71 forever after
    result = median_days(model, X, [0, 10], max_days=60)
    assert result[0] == 20
    assert np.isnan(result[1])


def test_fitted_cox_recovers_a_known_hazard_ratio():
    # given exponential gaps whose rate doubles for x = 1, with administrative censoring at 40 days
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2, 4000).astype(float)
    gaps = rng.exponential(20.0 / np.exp(np.log(2.0) * x))
    durations, events = np.minimum(gaps, 40.0), gaps <= 40.0
    # when
    model = fit_survival_model("coxph", pd.DataFrame({"x": x, "const": 1.0}), durations, events)
    # then the constant column is dropped and the hazard ratio is close to 2
    assert model.dropped_features == ("const",)
    assert model.hazard_ratios().loc[0, "hazard_ratio"] == pytest.approx(2.0, rel=0.08)
    # and the implied S(20 | x=0) is close to exp(-1)
    assert model.survival_at(pd.DataFrame({"x": [0.0]}), [20.0])[0, 0] == pytest.approx(np.exp(-1), abs=0.03)


def test_cox_with_only_constant_covariates_is_its_baseline_without_warnings():
    # a thin stage of a real log (the grocery log's): every covariate the same for everyone; numpy warned
    # "Mean of empty slice" from the Newton step of a model with no coefficient
    rng = np.random.default_rng(11)
    gaps = rng.exponential(20.0, 300)
    durations, events = np.minimum(gaps, 60.0), gaps <= 60.0
    X = pd.DataFrame({"a": 1.0, "b": 0.0}, index=range(300))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = fit_survival_model("coxph", X, durations, events)
        surv = model.survival_at(X.head(2), [20.0])
    assert model.features == () and model.dropped_features == ("a", "b")
    assert model.coef.shape == (0,)
    # every customer gets the Breslow baseline, which is the Kaplan-Meier estimate here
    km = fit_kaplan_meier(durations, events).survival_at(None, [20.0])[0, 0]
    assert surv[0, 0] == surv[1, 0] == pytest.approx(km, abs=0.01)


@pytest.mark.parametrize("kind", ["coxnet", "rsf", "gbsa"])
def test_other_estimators_rank_faster_buyers_higher(kind):
    rng = np.random.default_rng(3)
    x = rng.normal(size=600)
    gaps = rng.exponential(20.0 / np.exp(0.8 * x))
    durations, events = np.minimum(gaps, 60.0), gaps <= 60.0
    X = pd.DataFrame({"x": x})
    model = fit_survival_model(
        kind, X, durations, events, params={"n_estimators": 30} if kind != "coxnet" else None
    )
    surv = model.survival_at(X, [10.0, 30.0])
    assert surv.shape == (600, 2)
    assert np.all(surv[:, 1] <= surv[:, 0] + 1e-12)
    assert harrell_c(durations, events, model.risk_score(X)) > 0.65


def test_unknown_estimator_is_refused():
    with pytest.raises(ValueError, match="unknown estimator 'svm'"):
        fit_survival_model("svm", pd.DataFrame({"x": [1.0, 2.0]}), [1, 2], [1, 1])


def test_kaplan_meier_model_ignores_covariates():
    model = fit_kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(model.survival_at(None, [2.5])[0], [4 / 6])


def test_renewal_counts_repeat_purchases_by_hand():
    # first purchase: half in bin 0, a quarter in bin 1; gaps: none under one width, half between 1 and 2
    # kernel h = [0, (0 + 0.5) / 2]: u0 = 0.5, u1 = 0.25 + 0.5 · 0.25
    u = renewal_purchases([[0.5, 0.75]], [[0.0, 0.5]])
    np.testing.assert_allclose(u, [[0.5, 0.375]])
    # with 20% of gaps under one width: h = [0.1, 0.25], u0 = 0.5 / 0.9, u1 = (0.25 + u0 · 0.25) / 0.9
    u = renewal_purchases([[0.5, 0.75]], [[0.2, 0.5]])
    np.testing.assert_allclose(u, [[0.5 / 0.9, (0.25 + 0.5 / 0.9 * 0.25) / 0.9]])


def test_clv_is_margin_times_value_times_discounted_expected_purchases():
    # a Kaplan-Meier model where S(30) = 0.5 and S(60) = 0.25 and nothing happens after
    model = SurvivalModel(
        kind="kaplan_meier",
        features=(),
        dropped_features=(),
        center=np.zeros(0),
        scale=np.ones(0),
        n_samples=0,
        n_events=0,
        baseline_times=np.array([30.0, 60.0]),
        baseline_survival=np.array([0.5, 0.25]),
    )
    result = expected_purchases_and_clv(
        model, None, [0.0], order_value=[100.0], horizon_days=30, lifetime_days=60, bin_days=30, margin=0.4
    )
    # first-purchase mass [0.5, 0.25]; gap mass [0.5, 0.25] so h = [0.25, 0.375]
    u0 = 0.5 / 0.75
    u1 = (0.25 + u0 * 0.375) / 0.75
    assert result["expected_purchases_horizon"][0] == pytest.approx(u0)
    assert result["expected_revenue_horizon"][0] == pytest.approx(100 * u0)
    assert result["clv"][0] == pytest.approx(0.4 * 100 * (u0 + u1))
    discounted = expected_purchases_and_clv(
        model,
        None,
        [0.0],
        order_value=[100.0],
        horizon_days=30,
        lifetime_days=60,
        bin_days=30,
        margin=0.4,
        annual_discount_rate=0.1,
    )
    expected = 0.4 * 100 * (u0 * 1.1 ** (-15 / 365) + u1 * 1.1 ** (-45 / 365))
    assert discounted["clv"][0] == pytest.approx(expected)


def test_renewal_expected_purchases_match_a_poisson_process():
    # exponential gaps with mean 30 days: a Poisson process, so 90 days hold 3 purchases on average
    days = np.arange(1, 2000, dtype=float)
    model = SurvivalModel(
        kind="kaplan_meier",
        features=(),
        dropped_features=(),
        center=np.zeros(0),
        scale=np.ones(0),
        n_samples=0,
        n_events=0,
        baseline_times=days,
        baseline_survival=np.exp(-days / 30.0),
    )
    result = expected_purchases_and_clv(
        model, None, [0.0, 45.0], order_value=[1.0, 1.0], horizon_days=90, lifetime_days=365, bin_days=15
    )
    np.testing.assert_allclose(result["expected_purchases_horizon"], [3.0, 3.0], rtol=0.05)
    np.testing.assert_allclose(result["clv"], [365 / 30, 365 / 30], rtol=0.05)


def test_calibration_metrics_by_hand():
    predicted, observed = [0.1, 0.1, 0.9, 0.9], [0, 0, 1, 0]
    table = reliability_table(predicted, observed)
    assert table["count"].tolist() == [2, 2]
    assert table["observed_rate"].tolist() == [0.0, 0.5]
    assert expected_calibration_error(predicted, observed) == pytest.approx(0.5 * 0.1 + 0.5 * 0.4)
    assert brier(predicted, observed) == pytest.approx((0.01 + 0.01 + 0.01 + 0.81) / 4)


def test_top_decile_capture():
    revenue = np.array([0, 0, 0, 0, 0, 0, 0, 0, 10, 90], float)
    assert top_decile_capture(revenue, revenue) == pytest.approx(0.9)
    assert top_decile_capture(-revenue, revenue) == pytest.approx(0.0)


def test_quintile_cuts_score_a_part_exactly_as_the_whole_population():
    from apps.analytics.survival.rfm import quintile_cuts, quintile_score, score_with_cuts

    rng = np.random.default_rng(5)
    values = np.concatenate([rng.integers(1, 4, 500), rng.exponential(10, 700).round(1)])  # many ties
    for higher in (True, False):
        whole = quintile_score(values, higher_is_better=higher)
        cuts = quintile_cuts(values, higher_is_better=higher)
        part = slice(100, 400)
        np.testing.assert_array_equal(
            score_with_cuts(values[part], cuts, higher_is_better=higher), whole[part]
        )


def test_predicted_median_is_the_first_day_at_or_below_one_half():
    from apps.analytics.survival.engine import fit_engine, predict
    from apps.analytics.survival.stages import StageRules, conditional_path_survival, rhythm

    rng = np.random.default_rng(9)
    n = 3000
    x = rng.integers(0, 2, n).astype(float)
    gaps = pd.DataFrame(
        {
            "k": rng.integers(1, 7, n),
            "rhythm_days": rng.uniform(10, 60, n),
            "t": np.arange(n, dtype=float),
            "amount": rng.gamma(2, 50, n),
            "x": x,
        }
    )
    never = rng.random(n) < 0.25 + 0.2 * (1 - x)  # a cure fraction: some never buy again
    gaps["duration_days"] = np.where(never, 200.0, np.minimum(rng.exponential(30 / np.exp(0.5 * x)), 200.0))
    gaps["event"] = gaps["duration_days"] < 200.0
    engine = fit_engine(gaps, ["x"], StageRules(), min_events=20)
    customers = pd.DataFrame(
        {
            "k": rng.integers(1, 7, 500),
            "elapsed_days": rng.uniform(0, 120, 500),
            "rhythm_days": rng.uniform(10, 60, 500),
            "mean_amount": 100.0,
            "x": rng.integers(0, 2, 500).astype(float),
        }
    )
    pred = predict(engine, customers, horizon_days=90)
    days = np.arange(1, 366, dtype=float)
    cond = conditional_path_survival(
        engine.models,
        customers[["x"]],
        customers["k"].to_numpy(),
        customers["elapsed_days"].to_numpy(),
        rhythm(customers["rhythm_days"], engine.brand_rhythm),
        engine.rules,
        days,
    )
    below = cond <= 0.5
    brute = np.where(below.any(axis=1), days[below.argmax(axis=1)], np.nan)
    np.testing.assert_array_equal(pred["median_days_to_next_purchase"].to_numpy(), brute)
    assert np.isfinite(brute).sum() > 50 and np.isnan(brute).sum() > 50


def test_horizon_only_predictions_judge_the_same_figures():
    from apps.analytics.survival.engine import fit_engine, predict
    from apps.analytics.survival.stages import StageRules

    rng = np.random.default_rng(4)
    n = 2000
    x = rng.integers(0, 2, n).astype(float)
    gaps = pd.DataFrame(
        {
            "k": rng.integers(1, 7, n),
            "rhythm_days": rng.uniform(10, 60, n),
            "t": np.arange(n, dtype=float),
            "amount": rng.gamma(2, 50, n),
            "x": x,
        }
    )
    gaps["duration_days"] = np.minimum(rng.exponential(150 / np.exp(0.5 * x)), 400.0)  # medians past 90 days
    gaps["event"] = gaps["duration_days"] < 400.0
    engine = fit_engine(gaps, ["x"], StageRules(), min_events=20)
    customers = pd.DataFrame(
        {
            "k": rng.integers(1, 7, 300),
            "elapsed_days": rng.uniform(0, 120, 300),
            "rhythm_days": rng.uniform(10, 60, 300),
            "mean_amount": 80.0,
            "x": rng.integers(0, 2, 300).astype(float),
        }
    )
    full = predict(engine, customers, horizon_days=90, lifetime_days=1095, bin_days=7)
    short = predict(engine, customers, horizon_days=90, lifetime_days=90, bin_days=7)
    for column in (
        "p_purchase_horizon",
        "churn_probability",
        "expected_revenue_horizon",
        "median_days_to_next_purchase",
    ):
        np.testing.assert_allclose(short[column], full[column], rtol=1e-12, err_msg=column)
    np.testing.assert_allclose(np.vstack(short["survival_curve"]), np.vstack(full["survival_curve"]))
    assert (short["clv"] < full["clv"]).all()
    assert (short["median_days_to_next_purchase"] > 91).sum() > 20


@pytest.mark.parametrize("n", [1, 2, 7, 500])
@pytest.mark.parametrize("ties", [True, False])
def test_vectorised_event_counts_equal_scikit_survivals_loop(n, ties):
    from sksurv import nonparametric

    from apps.analytics.survival import _speedups

    rng = np.random.default_rng(n)
    time = rng.integers(0, 12, n).astype(float) if ties else rng.random(n)
    event = rng.random(n) < 0.6
    expected = _speedups._original(event, time)
    got = _speedups.counts(event, time)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(have, want)
    everyone_censored = _speedups.counts(np.zeros(n, dtype=bool), time)
    np.testing.assert_array_equal(everyone_censored[1], 0)
    assert nonparametric._compute_counts is _speedups.counts  # installed by importing the package


def test_tuning_folds_chain_forward_and_censor_training_outcomes_at_the_fold_start():
    from apps.analytics.survival.engine import time_folds

    times = np.arange(100, dtype=float)  # one anchor a day
    durations = np.full(100, 10.0)
    events = np.ones(100, dtype=bool)
    folds = list(time_folds(times, durations, events, starts=(0.5, 0.75)))
    assert len(folds) == 2
    train, d_train, e_train, valid = folds[0]
    start = np.quantile(times, 0.5)  # 49.5
    assert train.sum() == 50 and not (times[train] >= start).any()
    assert np.flatnonzero(valid).tolist() == list(range(50, 75))
    # anchors within 10 days of the start buy again only after it: censored at the start, not events
    assert (times[train] + d_train <= start + 1e-9).all()
    assert e_train.tolist() == [True] * 40 + [False] * 10
    np.testing.assert_allclose(d_train[-1], start - 49.0)
    last_valid = folds[1][3]
    assert np.flatnonzero(last_valid).tolist() == list(range(75, 100))


@pytest.mark.parametrize("buckets", [2, 7, 1 << 12])
def test_bucketed_step_table_answers_exactly_like_a_binary_search(buckets):
    from apps.analytics.survival.steps import StepTable

    rng = np.random.default_rng(buckets)
    knots = np.unique(np.round(rng.exponential(40, 300), 3))
    values = np.sort(rng.random(knots.size))[::-1]
    table = StepTable(knots, values, buckets=buckets)
    # at, just before and between knots; before the first, far beyond the last; 2-D like the scoring grids
    query = np.concatenate([knots, knots - 1e-9, rng.exponential(60, 500), [-1.0, 0.0, knots[-1] + 5, 1e9]])
    np.testing.assert_array_equal(table(query), step_lookup(knots, values, query))
    grid = query[:600].reshape(20, 30)
    np.testing.assert_array_equal(table(grid), step_lookup(knots, values, grid))
    assert StepTable(knots[:1], values[:1])(np.array([0.0, knots[0], 1e6])).tolist() == [
        1.0,
        values[0],
        values[0],
    ]
    assert StepTable(np.array([]), np.array([]))(np.array([3.0])).tolist() == [1.0]


def test_predictions_prepared_before_the_recalibration_equal_the_direct_ones():
    """A refresh's chunks compute the survival paths (and, guessing the holdout's choice, the renewal) before
    the recalibration is known; whatever the guess, the finished predictions are predict's (to the last bit
    or two: BLAS may sum a product in another order for arrays placed elsewhere in memory)."""
    from apps.analytics.survival.calibration import Recalibration
    from apps.analytics.survival.engine import fit_engine, predict, predict_finish, predict_prepare
    from apps.analytics.survival.stages import StageRules

    rng = np.random.default_rng(11)
    n = 3000
    x = rng.integers(0, 2, n).astype(float)
    k = rng.integers(1, 7, n)
    gaps = pd.DataFrame(
        {
            "k": k,
            "rhythm_days": rng.uniform(10, 60, n),
            "t": np.arange(n, dtype=float),
            "amount": rng.gamma(2, 50, n),
            "x": x,
            "log_orders": np.log(k.astype(float)),
        }
    )
    # buying again comes sooner with more orders: advancing the covariates changes the renewal
    scale = 40 / np.exp(0.4 * x + 0.3 * np.log(k))
    gaps["duration_days"] = np.minimum(rng.exponential(scale), 200.0)
    gaps["event"] = gaps["duration_days"] < 200.0
    engine = fit_engine(gaps, ["x", "log_orders"], StageRules(), min_events=20)
    m = 700
    orders = rng.integers(1, 7, m)
    customers = pd.DataFrame(
        {
            "k": orders,
            "elapsed_days": rng.uniform(0, 150, m),
            "rhythm_days": rng.uniform(10, 60, m),
            "tenure_days": rng.uniform(100, 400, m),
            "mean_amount": rng.gamma(2, 50, m),
            "x": rng.integers(0, 2, m).astype(float),
            "log_orders": np.log(orders.astype(float)),
        }
    )
    calibration = Recalibration(a=-0.2, b=1.1, count_factor=0.9)
    direct = {}
    for advance in (False, True):
        for cal in (None, calibration):
            want = predict(
                engine, customers, horizon_days=90, calibration=cal, advance_covariates=advance, chunk_size=300
            )
            direct[advance, cal is None] = want
            for held_ahead in (True, False):
                prepared = predict_prepare(
                    engine, customers, horizon_days=90, chunk_size=300, renewal_held=held_ahead
                )
                got = predict_finish(prepared, calibration=cal, advance_covariates=advance)
                assert list(got.columns) == list(want.columns)
                for column in want.columns:
                    if column == "survival_curve":
                        np.testing.assert_array_equal(np.vstack(got[column]), np.vstack(want[column]))
                    elif column == "stage_active":
                        np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy())
                    else:
                        np.testing.assert_allclose(
                            got[column].to_numpy(float), want[column].to_numpy(float), rtol=1e-13, atol=0
                        )
    # the guess matters to the work only: the two renewals do forecast differently
    assert not np.allclose(direct[False, True]["clv"], direct[True, True]["clv"])
    # and the recalibration moves the chances and the counts
    assert not np.allclose(direct[False, True]["churn_probability"], direct[False, False]["churn_probability"])
    np.testing.assert_allclose(
        direct[False, False]["expected_purchases_horizon"],
        0.9 * direct[False, True]["expected_purchases_horizon"],
        rtol=1e-12,
    )
