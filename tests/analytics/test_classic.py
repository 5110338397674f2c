"""The classic models (apps/analytics/survival/classic.py) against the parameters published for the CDNOW
sample (tests/data/README.md), and their predictions against simulation of the processes they describe."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.analytics.survival.classic import (
    BgNbd,
    ParetoNbd,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
)

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow_summary.csv"


@pytest.fixture(scope="module")
def cdnow():
    return pd.read_csv(CDNOW)


def test_bgnbd_recovers_the_published_cdnow_parameters(cdnow):
    model = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert (round(model.r, 3), round(model.alpha, 3), round(model.a, 3), round(model.b, 3)) == (
        0.243,
        4.414,
        0.793,
        2.426,
    )
    assert model.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_pareto_nbd_recovers_the_published_cdnow_parameters(cdnow):
    model = fit_pareto_nbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert (round(model.r, 3), round(model.alpha, 3), round(model.s, 3), round(model.beta, 3)) == (
        0.553,
        10.578,
        0.606,
        11.668,  # 11.669 in the paper: the optimum is flat in β to the third decimal
    )
    assert model.log_likelihood == pytest.approx(-9595.0, abs=0.1)


def test_gamma_gamma_recovers_the_published_cdnow_parameters(cdnow):
    repeat = cdnow[cdnow["x"] > 0]
    assert len(repeat) == 946
    model = fit_gamma_gamma(repeat["x"], repeat["zbar"])
    assert (round(model.p, 2), round(model.q, 2), round(model.gamma, 2)) == (6.25, 3.74, 15.45)
    # a customer with many purchases is expected to spend close to their own mean, one with none the mean
    assert model.expected_spend([50.0], [40.0])[0] == pytest.approx(40.0, rel=0.05)
    assert model.expected_spend([0.0], [0.0])[0] == pytest.approx(model.p * model.gamma / (model.q - 1))


def _simulate_bgnbd(model: BgNbd, T: float, window: float, n: int, rng):
    """Customers first buying at 0, observed to T, then followed for `window`: (x, t_x, bought in window)."""
    lam = rng.gamma(model.r, 1.0 / model.alpha, n)
    drop = rng.beta(model.a, model.b, n)
    x, t_x, later = np.zeros(n), np.zeros(n), np.zeros(n)
    now, alive = np.zeros(n), np.ones(n, bool)
    while alive.any():
        now = np.where(alive, now + rng.exponential(1.0 / lam), now)
        in_calibration = alive & (now <= T)
        in_window = alive & (now > T) & (now <= T + window)
        x += in_calibration
        t_x = np.where(in_calibration, now, t_x)
        later += in_window
        alive &= now <= T + window
        alive &= rng.random(n) >= drop  # drops out after a purchase with probability p
    return x, t_x, later


def test_bgnbd_predictions_match_simulation():
    rng = np.random.default_rng(7)
    truth = BgNbd(r=0.8, alpha=20.0, a=0.6, b=3.0)
    x, t_x, later = _simulate_bgnbd(truth, 180.0, 90.0, 60_000, rng)
    T = np.full_like(x, 180.0)
    # by customers with the same history (x), the predicted chance of buying again matches what happened
    p_buy = 1.0 - truth.p_no_purchase(x, t_x, T, [90.0])[:, 0]
    expected = truth.expected_purchases(x, t_x, T, [90.0])[:, 0]
    for value in (0, 1, 3):
        rows = x == value
        assert p_buy[rows].mean() == pytest.approx((later[rows] > 0).mean(), abs=0.01)
        assert expected[rows].mean() == pytest.approx(later[rows].mean(), rel=0.06)
    # and the fit on the simulated histories finds the truth
    fitted = fit_bgnbd(x, t_x, T)
    assert fitted.r == pytest.approx(truth.r, rel=0.1) and fitted.a == pytest.approx(truth.a, rel=0.15)


def test_pareto_nbd_chance_of_no_purchase_matches_simulation():
    rng = np.random.default_rng(3)
    model = ParetoNbd(r=0.5533, alpha=10.578, s=0.6062, beta=11.668)
    x, t_x, T, window, n = np.array([2.0]), np.array([30.43]), np.array([38.86]), 39.0, 1_000_000
    alive = rng.random(n) < model.p_alive(x, t_x, T)[0]
    lam = rng.gamma(model.r + x[0], 1.0 / (model.alpha + T[0]), n)
    mu = rng.gamma(model.s, 1.0 / (model.beta + T[0]), n)
    bought = alive & (rng.exponential(1.0 / lam) < np.minimum(rng.exponential(1.0 / mu), window))
    assert model.p_no_purchase(x, t_x, T, [window])[0, 0] == pytest.approx(1.0 - bought.mean(), abs=0.002)


def test_nobody_bought_twice_is_a_clear_error():
    with pytest.raises(ValueError, match="no customer bought twice"):
        fit_bgnbd([0, 0], [0, 0], [10, 20])
    with pytest.raises(ValueError, match="need x >= 0"):
        fit_bgnbd([1], [30], [20])


def test_the_baseline_of_a_large_brand_is_fitted_on_a_seeded_sample(cdnow, monkeypatch):
    """fit_classic_at fits on at most CLASSIC_FIT_CUSTOMERS buyers: the same sample for the same seed, and
    parameters near the full fit's (here CDNOW's 2,357 buyers with the cap at 1,500)."""
    from apps.analytics import runs
    from apps.analytics.survival.stages import StageRules

    frame = cdnow.rename(columns={"zbar": "mean_spend"})[["x", "t_x", "T", "mean_spend"]]
    monkeypatch.setattr(runs.selectors, "classic_frame", lambda **kwargs: frame)
    monkeypatch.setattr(runs, "CLASSIC_FIT_CUSTOMERS", 1500)
    fits = []
    for seed in (0, 0, 1):
        info: dict = {}
        engine = runs.fit_classic_at(
            brand=None, cutoff=None, rules=StageRules(), amounts_known=False, seed=seed, info=info
        )
        assert info == {"fitted_buyers": 1500, "buyers": 2357}
        fits.append(engine.purchases)
    assert fits[0] == fits[1] and fits[0] != fits[2]
    for fit in fits:  # within sampling error of the full fit (r 0.243, α 4.414, a 0.793, b 2.426)
        assert fit.r == pytest.approx(0.243, rel=0.25) and fit.alpha == pytest.approx(4.414, rel=0.3)
    monkeypatch.setattr(runs, "CLASSIC_FIT_CUSTOMERS", 10_000)
    info = {}
    runs.fit_classic_at(brand=None, cutoff=None, rules=StageRules(), amounts_known=False, info=info)
    assert info == {"fitted_buyers": 2357, "buyers": 2357}


def test_analytic_gradients_match_finite_differences(cdnow):
    """The fits follow the likelihoods' analytic gradients (L-BFGS-B): each must equal the slope of the
    likelihood it belongs to."""
    from scipy.optimize import approx_fprime

    from apps.analytics.survival.classic import _bgnbd_ll, _bgnbd_ll_grad, _gg_ll, _gg_ll_grad

    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("x", "t_x", "T"))
    for params in ([0.3, 5.0, 0.8, 2.5], [1.7, 40.0, 2.0, 11.0]):
        value, grad = _bgnbd_ll_grad(*params, x, t_x, T, np.ones_like(x))
        total = lambda p: float(np.sum(_bgnbd_ll(*p, x, t_x, T)))  # noqa: E731
        assert value == pytest.approx(total(params))
        assert grad == pytest.approx(approx_fprime(np.array(params), total, 1e-7), rel=1e-3, abs=1e-3)
    repeat = cdnow[cdnow["x"] > 0]
    xs, m = repeat["x"].to_numpy(float), repeat["zbar"].to_numpy(float)
    for params in ([6.0, 3.5, 15.0], [2.0, 9.0, 300.0]):
        value, grad = _gg_ll_grad(*params, xs, m)
        total = lambda p: float(np.sum(_gg_ll(*p, xs, m)))  # noqa: E731
        assert value == pytest.approx(total(params))
        assert grad == pytest.approx(approx_fprime(np.array(params), total, 1e-7), rel=1e-3, abs=1e-3)


def test_gradient_fit_reaches_the_nelder_mead_maximum():
    """L-BFGS-B on the analytic gradient finds the maximum the derivative-free search finds, on customers
    simulated from BG/NBD (not only on CDNOW)."""
    from apps.analytics.survival.classic import _bgnbd_ll, _fit

    rng = np.random.default_rng(11)
    x, t_x, _later = _simulate_bgnbd(BgNbd(r=0.8, alpha=20.0, a=0.6, b=3.0), 180.0, 90.0, 20_000, rng)
    T = np.full_like(x, 180.0)
    fitted = fit_bgnbd(x, t_x, T)

    def neg_ll(log_params):
        value = -np.sum(_bgnbd_ll(*np.exp(log_params), x, t_x, T))
        return value if np.isfinite(value) else 1e300

    params, ll = _fit(neg_ll, np.log([1.0, 180.0, 1.0, 1.0]))  # no gradient: Nelder-Mead, then a polish
    # as high a likelihood (the derivative-free search stops a little short on the flat ridge in a and b)
    assert fitted.log_likelihood == pytest.approx(ll, abs=0.01)
    assert fitted.log_likelihood >= ll - 1e-6
    assert [fitted.r, fitted.alpha, fitted.a, fitted.b] == pytest.approx(list(params), rel=0.01)


def test_gamma_gamma_on_spend_without_heterogeneity_stops_on_the_flat_ridge():
    """Customers whose spend per order varies around one brand-wide mean (no heterogeneity between them):
    the likelihood rises along a ridge with q and γ growing together, and the line search stops where it no
    longer moves. That point is accepted (the gradient is nil there): the shape per order is recovered and
    the likelihood is the likelihood. (The derivative-free search ran on to q ≈ 1e18, where the log-gamma
    terms cancel into rounding noise and reported a log-likelihood of 0.)"""
    from apps.analytics.survival.classic import _gg_ll

    rng = np.random.default_rng(5)
    x = rng.integers(1, 12, 20_000).astype(float)
    mean_spend = rng.gamma(17.0 * x, 100.0 / 17.0) / x  # orders of 100 on average, the same for everyone
    fitted = fit_gamma_gamma(x, mean_spend)
    assert fitted.p == pytest.approx(17.0, rel=0.05)
    assert fitted.p * fitted.gamma / (fitted.q - 1) == pytest.approx(100.0, rel=0.02)
    assert fitted.log_likelihood == pytest.approx(
        float(np.sum(_gg_ll(fitted.p, fitted.q, fitted.gamma, x, mean_spend))), abs=1e-3
    )
    on_the_ridge = float(np.sum(_gg_ll(17.0, 1e4, 100.0 * (1e4 - 1) / 17.0, x, mean_spend)))
    assert on_the_ridge < 0 and fitted.log_likelihood >= on_the_ridge - 1.0


def test_the_spend_model_of_a_large_brand_is_fitted_on_a_seeded_sample(cdnow, monkeypatch):
    """The survival engine's Gamma-Gamma spend model is fitted on at most CLASSIC_FIT_CUSTOMERS buyers too:
    the same sample for the same seed, parameters near the full fit's, every buyer below the cap."""
    from apps.analytics import runs
    from apps.analytics.survival.classic import fit_gamma_gamma

    frame = cdnow.rename(columns={"zbar": "mean_spend"})[["x", "t_x", "T", "mean_spend"]]
    monkeypatch.setattr(runs.selectors, "classic_frame", lambda **kwargs: frame)
    full = fit_gamma_gamma(frame["x"].to_numpy(float) + 1.0, frame["mean_spend"].to_numpy(float))
    monkeypatch.setattr(runs, "CLASSIC_FIT_CUSTOMERS", 1500)
    fits = [runs.spend_fit_at(brand=None, cutoff=None, seed=seed) for seed in (0, 0, 1)]
    assert [buyers for _spend, buyers in fits] == [1500, 1500, 1500]
    assert fits[0][0] == fits[1][0] and fits[0][0] != fits[2][0]
    for spend, _buyers in fits:  # what a future order is worth: within sampling error of the full fit
        for orders, mean in ((1, 20.0), (5, 40.0)):
            assert spend.expected_spend(np.array([orders]), np.array([mean]))[0] == pytest.approx(
                full.expected_spend(np.array([orders]), np.array([mean]))[0], rel=0.1
            )
    monkeypatch.setattr(runs, "CLASSIC_FIT_CUSTOMERS", 10_000)
    spend, buyers = runs.spend_fit_at(brand=None, cutoff=None)
    assert buyers == 2357 and spend == full
