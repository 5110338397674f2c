"""The classic "buy till you die" models of customer-base analysis, fitted by maximum likelihood on each
customer's (x, t_x, T): x repeat purchases (purchase days after the first), t_x the time from the first to
the last purchase, T the time from the first purchase to the cutoff. Any time unit works; the product uses
days.

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2)): purchases
  at a Poisson rate λ ~ Gamma(r, α) while alive; after each purchase the customer drops out with probability
  p ~ Beta(a, b).
- Pareto/NBD (Schmittlein, Morrison & Colombo 1987; likelihood as in Fader & Hardie's note "A note on
  deriving the Pareto/NBD model and related expressions", 2005): the lifetime is exponential with rate
  μ ~ Gamma(s, β).
- Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves", JMR 42(4)): the spend per
  purchase, for the value of future purchases.

Pure numpy/scipy, no Django. tests/analytics/test_classic.py recovers the parameters published for the CDNOW
sample with these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1, roots_genlaguerre


def _arrays(x, t_x, T):
    x = np.asarray(x, float)
    t_x = np.asarray(t_x, float)
    T = np.asarray(T, float)
    if x.shape != t_x.shape or x.shape != T.shape:
        raise ValueError("x, t_x and T must have the same shape")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x - 1e-9 > T):
        raise ValueError("need x >= 0 and 0 <= t_x <= T")
    return x, t_x, T


FLAT_GRADIENT = 1e-4  # per customer and log-parameter: moving one by 1% moves the mean by 1e-6


def _fit(neg_ll, start: np.ndarray, *, with_gradient=None) -> tuple[np.ndarray, float]:
    """Minimise a negative log-likelihood over log-parameters. With `with_gradient` (an _objective: the mean
    negative log-likelihood per customer and its gradient), L-BFGS-B on the analytic gradient first: the same
    maximum in tens of evaluations where Nelder-Mead takes hundreds (each a pass over every customer: about
    20–40 ms at 200,000 to 1M buyers). Without it, or when that does not converge: Nelder-Mead, then a
    polish by L-BFGS-B."""
    if with_gradient is not None:
        quick = minimize(
            with_gradient,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 300, "ftol": 1e-14, "gtol": 1e-9},
        )
        # a line search that stops where the mean log-likelihood no longer moves (a flat ridge: spend with
        # hardly any heterogeneity sends q and γ to infinity together) is at the maximum too when the
        # gradient there is nil
        flat = quick.status == 2 and np.max(np.abs(quick.jac)) <= FLAT_GRADIENT
        if (quick.success or flat) and quick.fun < 1e300 and np.all(np.isfinite(quick.x)):
            return np.exp(quick.x), float(-quick.fun * with_gradient.customers)
    best = minimize(
        neg_ll, start, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-9}
    )
    polish = minimize(neg_ll, best.x, method="L-BFGS-B")
    if polish.success and polish.fun <= best.fun:
        best = polish
    if not np.isfinite(best.fun):
        raise ValueError("the likelihood could not be maximised")
    return np.exp(best.x), float(-best.fun)


class _objective:  # noqa: N801 - used as a function
    """The mean negative log-likelihood per customer and its gradient over log-parameters, from
    `ll_and_grad(*params)` (the summed log-likelihood and its gradient over the parameters) and the number of
    customers (the mean keeps the gradient's scale, and L-BFGS-B's tolerances, the same at any size). An
    overflow is a very bad point, not an error."""

    def __init__(self, ll_and_grad, n_params: int, customers: float):
        self.ll_and_grad, self.n_params, self.customers = ll_and_grad, n_params, max(float(customers), 1.0)

    def __call__(self, log_params):
        bad = (1e300, np.zeros(self.n_params))
        with np.errstate(over="ignore"):  # an overflow is a bad point, said below
            params = np.exp(log_params)
        if not np.all(np.isfinite(params)):
            return bad
        with np.errstate(all="ignore"):
            ll, grad = self.ll_and_grad(*params)
        grad = np.asarray(grad, float) * params  # d/d log θ = θ · d/dθ
        if not (np.isfinite(ll) and np.all(np.isfinite(grad))):
            return bad
        return -ll / self.customers, -grad / self.customers


# --- BG/NBD ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")

    def log_likelihood_each(self, x, t_x, T) -> np.ndarray:
        return _bgnbd_ll(self.r, self.alpha, self.a, self.b, *_arrays(x, t_x, T))

    def p_alive(self, x, t_x, T) -> np.ndarray:
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", over="ignore"):
            log_ratio = (
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-12))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_ratio, 700))), 1.0)

    def p_no_purchase(self, x, t_x, T, t) -> np.ndarray:
        """P(no purchase in (T, T + t]) for each customer (rows) at each time in `t` (columns)."""
        x, t_x, T = _arrays(x, t_x, T)
        t = np.atleast_1d(np.asarray(t, float))
        alive = self.p_alive(x, t_x, T)[:, None]
        shape = (self.r + x)[:, None]
        quiet_if_alive = np.exp(
            shape * (np.log(self.alpha + T)[:, None] - np.log(self.alpha + T[:, None] + t))
        )
        return 1.0 - alive * (1.0 - quiet_if_alive)

    def median_days(self, x, t_x, T, *, max_days: float = 365.0) -> np.ndarray:
        """First whole day on which P(no purchase yet) falls to 0.5 or below (NaN if not within max_days): in
        closed form, ((α+T)/(α+T+t))^(r+x) = 1 − 0.5 / P(alive)."""
        x, t_x, T = _arrays(x, t_x, T)
        alive = self.p_alive(x, t_x, T)
        with np.errstate(divide="ignore", invalid="ignore"):
            target = 1.0 - 0.5 / alive
            t = (self.alpha + T) * (np.power(np.where(target > 0, target, np.nan), -1.0 / (self.r + x)) - 1.0)
        days = np.ceil(t - 1e-9)
        return np.where(np.isfinite(days) & (days <= max_days), np.maximum(days, 1.0), np.nan)

    def expected_purchases(self, x, t_x, T, t) -> np.ndarray:
        """E[purchases in (T, T + t]] for each customer (rows) at each time in `t` (columns)."""
        x, t_x, T = _arrays(x, t_x, T)
        t = np.atleast_1d(np.asarray(t, float))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        xa, Ta = x[:, None], T[:, None]
        z = t / (alpha + Ta + t)
        with np.errstate(over="ignore", invalid="ignore"):
            head = (a + b + xa - 1) / (a - 1)
            inner = 1.0 - np.exp((r + xa) * (np.log(alpha + Ta) - np.log(alpha + Ta + t))) * hyp2f1(
                r + xa, b + xa, a + b + xa - 1, z
            )
            expected = head * inner * self.p_alive(x, t_x, T)[:, None]
        return np.nan_to_num(expected, nan=0.0, posinf=0.0)


def _bgnbd_ll(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


def _bgnbd_ll_grad(r, alpha, a, b, x, t_x, T, w) -> tuple[float, np.ndarray]:
    """The weighted BG/NBD log-likelihood and its gradient over (r, α, a, b): with A3 = −(r+x)·log(α+T) and A4
    the term of dropping out after the last purchase (x > 0), the likelihood's last factor is e^A3 + e^A4 and
    its derivatives weigh each term's by its share of the sum."""
    log_alpha_t = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    repeat = x > 0
    bx1 = np.maximum(b + x - 1, 1e-300)
    a3 = -(r + x) * log_alpha_t
    a4 = np.where(repeat, np.log(a) - np.log(bx1) - (r + x) * log_alpha_tx, -np.inf)
    last = np.logaddexp(a3, a4)
    w3 = np.exp(a3 - last)
    w4 = np.exp(a4 - last)  # 0 where x = 0
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    ll = np.sum(w * (head + last))
    psi_abx = digamma(a + b + x)
    psi_ab = digamma(a + b)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * log_alpha_t - w4 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    d_a = psi_ab - psi_abx + w4 / a
    d_b = digamma(b + x) - psi_abx - digamma(b) + psi_ab - np.where(repeat, w4 / bx1, 0.0)
    grad = np.array([np.sum(w * d) for d in (d_r, d_alpha, d_a, d_b)])
    return ll, grad


def _fit_purchases(name: str, loglik, start, x, t_x, T, weights, ll_grad=None) -> tuple[np.ndarray, float]:
    """Maximum likelihood of a purchase model over customers (x, t_x, T); `start` gets the mean T (the time
    scale) and gives the starting parameters; `weights` count identical customers (optional); `ll_grad`
    (params…, x, t_x, T, weights → log-likelihood, gradient) when the model has an analytic gradient."""
    x, t_x, T = _arrays(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    if not (x > 0).any():
        raise ValueError(f"no customer bought twice: {name} cannot be fitted")

    def neg_ll(log_params):
        value = -np.sum(w * loglik(*np.exp(log_params), x, t_x, T))
        return value if np.isfinite(value) else 1e300

    with_gradient = None
    if ll_grad is not None:
        with_gradient = _objective(
            lambda *params: ll_grad(*params, x, t_x, T, w), len(start(1.0)), float(np.sum(w))
        )
    return _fit(neg_ll, np.log(start(float(np.mean(T)) or 1.0)), with_gradient=with_gradient)


def fit_bgnbd(x, t_x, T, *, weights=None) -> BgNbd:
    """Maximum-likelihood BG/NBD."""
    params, ll = _fit_purchases(
        "BG/NBD", _bgnbd_ll, lambda scale: [1.0, scale, 1.0, 1.0], x, t_x, T, weights, _bgnbd_ll_grad
    )
    return BgNbd(*map(float, params), log_likelihood=ll)


# --- Pareto/NBD -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParetoNbd:
    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = float("nan")

    def log_likelihood_each(self, x, t_x, T) -> np.ndarray:
        return _pareto_ll(self.r, self.alpha, self.s, self.beta, *_arrays(x, t_x, T))

    def p_alive(self, x, t_x, T) -> np.ndarray:
        x, t_x, T = _arrays(x, t_x, T)
        first, second = _pareto_terms(self.r, self.alpha, self.s, self.beta, x, t_x, T)
        return 1.0 / (1.0 + np.exp(np.minimum(second - first, 700)))

    def expected_purchases(self, x, t_x, T, t) -> np.ndarray:
        x, t_x, T = _arrays(x, t_x, T)
        t = np.atleast_1d(np.asarray(t, float))
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        xa, Ta = x[:, None], T[:, None]
        rate = (r + xa) * (beta + Ta) / (alpha + Ta)
        if abs(s - 1.0) < 1e-9:
            mean = rate * np.log((beta + Ta + t) / (beta + Ta))
        else:
            mean = rate / (s - 1.0) * (1.0 - ((beta + Ta) / (beta + Ta + t)) ** (s - 1.0))
        return mean * self.p_alive(x, t_x, T)[:, None]

    def p_no_purchase(self, x, t_x, T, t, *, nodes: int = 24) -> np.ndarray:
        """P(no purchase in (T, T + t]): given alive at T, λ ~ Gamma(r + x, α + T) and μ ~ Gamma(s, β + T), and
        no purchase means dying first or outlasting the window, μ/(λ+μ) + λ/(λ+μ)·exp(−(λ+μ)t); the expectation
        by Gauss-Laguerre quadrature in λ and μ."""
        x, t_x, T = _arrays(x, t_x, T)
        t = np.atleast_1d(np.asarray(t, float))
        alive = self.p_alive(x, t_x, T)
        mu_nodes, mu_weights = roots_genlaguerre(nodes, self.s - 1.0)
        mu_weights = mu_weights / np.exp(gammaln(self.s))
        out = np.empty((x.size, t.size))
        for value in np.unique(x):
            rows = np.flatnonzero(x == value)
            shape = self.r + value
            lam_nodes, lam_weights = roots_genlaguerre(nodes, shape - 1.0)
            lam_weights = lam_weights / np.exp(gammaln(shape))
            lam = lam_nodes[None, :, None] / (self.alpha + T[rows])[:, None, None]  # (rows, λ nodes, 1)
            mu = mu_nodes[None, None, :] / (self.beta + T[rows])[:, None, None]  # (rows, 1, μ nodes)
            weight = lam_weights[:, None] * mu_weights[None, :]
            total = lam + mu
            for j, window in enumerate(t):
                quiet = mu / total + lam / total * np.exp(-total * window)
                out[rows, j] = np.einsum("rlm,lm->r", quiet, weight)
        quiet_if_alive = np.clip(out, 0.0, 1.0)
        return 1.0 - alive[:, None] * (1.0 - quiet_if_alive)


def _pareto_terms(r, alpha, s, beta, x, t_x, T):
    """log of the likelihood's two terms without the common factor: 1/((α+T)^(r+x) (β+T)^s) and
    (s/(r+s+x))·A0, A0 by the hypergeometric expressions for α ≥ β (else with α and β swapped)."""
    first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    big, small = (alpha, beta) if alpha >= beta else (beta, alpha)
    b_param = s + 1.0 if alpha >= beta else r + x
    c = r + s + x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f1 = np.log(hyp2f1(c, b_param, c + 1.0, (big - small) / (big + t_x))) - c * np.log(big + t_x)
        f2 = np.log(hyp2f1(c, b_param, c + 1.0, (big - small) / (big + T))) - c * np.log(big + T)
        # log(exp(f1) − exp(f2)), f1 ≥ f2
        log_a0 = f1 + np.log1p(-np.exp(np.minimum(f2 - f1, 0.0)))
    second = np.log(s) - np.log(c) + log_a0
    return first, np.where(np.isfinite(second), second, -np.inf)


def _pareto_ll(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    first, second = _pareto_terms(r, alpha, s, beta, x, t_x, T)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return common + np.logaddexp(first, second)


def fit_pareto_nbd(x, t_x, T, *, weights=None) -> ParetoNbd:
    """Maximum-likelihood Pareto/NBD."""
    params, ll = _fit_purchases(
        "Pareto/NBD", _pareto_ll, lambda scale: [0.5, scale, 0.5, scale], x, t_x, T, weights
    )
    return ParetoNbd(*map(float, params), log_likelihood=ll)


# --- Gamma-Gamma spend ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")

    def expected_spend(self, x, mean_spend) -> np.ndarray:
        """E[spend per purchase | x purchases averaging `mean_spend`]; the population mean where x = 0."""
        x = np.asarray(x, float)
        mean_spend = np.nan_to_num(np.asarray(mean_spend, float))
        population = self.p * self.gamma / (self.q - 1.0) if self.q > 1 else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            conditional = self.p * (self.gamma + x * mean_spend) / (self.p * x + self.q - 1.0)
        return np.where(x > 0, conditional, population)


def _gg_ll(p, q, gamma, x, m) -> np.ndarray:
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1.0) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + gamma)
    )


def _gg_ll_grad(p, q, gamma, x, m) -> tuple[float, np.ndarray]:
    """The Gamma-Gamma log-likelihood summed over customers, and its gradient over (p, q, γ)."""
    px = p * x
    log_xm_gamma = np.log(x * m + gamma)
    psi_pxq = digamma(px + q)
    ll = np.sum(_gg_ll(p, q, gamma, x, m))
    d_p = np.sum(x * (psi_pxq - digamma(px) + np.log(m) + np.log(x) - log_xm_gamma))
    d_q = np.sum(psi_pxq - log_xm_gamma) + x.size * (np.log(gamma) - digamma(q))
    d_gamma = x.size * q / gamma - np.sum((px + q) / (x * m + gamma))
    return ll, np.array([d_p, d_q, d_gamma])


def fit_gamma_gamma(x, mean_spend) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma on the customers with x > 0 purchases and a positive mean spend."""
    x = np.asarray(x, float)
    m = np.asarray(mean_spend, float)
    keep = (x > 0) & (m > 0) & np.isfinite(m)
    if keep.sum() < 2:
        raise ValueError("too few customers with spend to fit Gamma-Gamma")
    x, m = x[keep], m[keep]

    def neg_ll(log_params):
        p, q, gamma = np.exp(log_params)
        value = -np.sum(_gg_ll(p, q, gamma, x, m))
        return value if np.isfinite(value) else 1e300

    params, ll = _fit(
        neg_ll,
        np.log([1.0, 2.0, float(np.mean(m))]),
        with_gradient=_objective(lambda p, q, gamma: _gg_ll_grad(p, q, gamma, x, m), 3, x.size),
    )
    return GammaGamma(*map(float, params), log_likelihood=ll)


# --- The classic model as the product's engine (thin brands) and as a baseline ------------------------------


@dataclass
class ClassicEngine:
    """BG/NBD for purchases and Gamma-Gamma for their value, fitted on the brand's buyers at a cutoff: the
    engine for brands too thin for the survival models, and the classic baseline beside them. It predicts the
    same columns as survival.engine.predict (`classic_predict`)."""

    purchases: BgNbd
    spend: GammaGamma | None
    rules: object  # StageRules: the stage a purchase count means
    brand_rhythm: float
    brand_mean_order_value: float
    estimator: str = "classic"
    features: tuple = ()
    params: dict | None = None
    tuning: tuple = ()

    @property
    def stages(self) -> dict:
        return {}

    def sufficiency(self) -> dict:
        return {}

    def hazard_ratios(self) -> dict:
        return {}

    def describe(self) -> dict:
        out = {
            "bgnbd": {k: round(v, 6) for k, v in vars(self.purchases).items()},
        }
        if self.spend is not None:
            out["gamma_gamma"] = {k: round(v, 6) for k, v in vars(self.spend).items()}
        return out


def fit_classic(history, rules, *, amounts_known: bool) -> ClassicEngine:
    """Fit on `history` (survival-free columns x, t_x, T in days and mean_spend, one row per buyer)."""
    x = history["x"].to_numpy(float)
    purchases = fit_bgnbd(x, history["t_x"].to_numpy(float), history["T"].to_numpy(float))
    spend = None
    mean_spend = history["mean_spend"].to_numpy(float)
    if amounts_known:
        try:
            spend = fit_gamma_gamma(x + 1.0, mean_spend)  # every purchase day, the first included
        except ValueError:
            spend = None
    repeaters = x > 0
    rhythm = (
        float(np.median(history["t_x"].to_numpy(float)[repeaters] / x[repeaters]))
        if repeaters.any()
        else 30.0
    )
    return ClassicEngine(
        purchases=purchases,
        spend=spend,
        rules=rules,
        brand_rhythm=max(rhythm, 1.0),
        brand_mean_order_value=float(np.mean(mean_spend))
        if amounts_known and mean_spend.size
        else float("nan"),
    )


def classic_predict(
    engine: ClassicEngine,
    customers,
    *,
    horizon_days: int,
    lifetime_days: int = 1095,
    margin: float = 1.0,
    annual_discount_rate: float = 0.0,
    grid_days=None,
    bin_days: int = 7,
    amounts_known: bool = True,
    calibration=None,
):
    """Predictions for customers with columns x, t_x, T (days), k and mean_spend, in the columns of
    survival.engine.predict. Expected revenue and CLV are NaN when the brand's amounts are unknown.
    `calibration` (a survival.calibration.Recalibration) corrects the curve, chances and purchases."""
    import pandas as pd

    from .scoring import GRID_DAYS, PREDICTION_COLUMNS
    from .stages import active_stage

    grid = np.asarray(GRID_DAYS if grid_days is None else grid_days, float)
    x = customers["x"].to_numpy(float)
    t_x = customers["t_x"].to_numpy(float)
    T = customers["T"].to_numpy(float)
    if x.size == 0:
        return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    model = engine.purchases
    horizon_quiet = model.p_no_purchase(x, t_x, T, [float(horizon_days)])[:, 0]
    curve = model.p_no_purchase(x, t_x, T, grid)
    purchases_h = model.expected_purchases(x, t_x, T, [float(horizon_days)])[:, 0]
    factor = 1.0
    if calibration is not None:
        horizon_quiet = calibration.survival(horizon_quiet)
        curve = calibration.survival(curve)
        factor = calibration.count_factor
        purchases_h = purchases_h * factor
        days = np.arange(1.0, 366.0)
        reached = calibration.survival(model.p_no_purchase(x, t_x, T, days)) <= 0.5
        median = np.where(reached.any(axis=1), days[reached.argmax(axis=1)], np.nan)
    else:
        median = model.median_days(x, t_x, T)
    # lifetime purchases per bin, discounted at each bin's middle
    edges = bin_days * np.arange(1, int(np.ceil(lifetime_days / bin_days)) + 1, dtype=float)
    cumulative = model.expected_purchases(x, t_x, T, np.minimum(edges, lifetime_days))
    per_bin = np.diff(np.concatenate([np.zeros((x.size, 1)), cumulative], axis=1), axis=1)
    discount = (1.0 + annual_discount_rate) ** (-(edges - bin_days / 2.0) / 365.0)
    lifetime_purchases = (per_bin @ discount) * factor
    if amounts_known and engine.spend is not None:
        value = engine.spend.expected_spend(x + 1.0, customers["mean_spend"].to_numpy(float))
    else:
        value = np.full(x.size, np.nan)
    rhythm = np.where(x > 0, t_x / np.maximum(x, 1.0), engine.brand_rhythm)
    return pd.DataFrame(
        {
            "p_purchase_horizon": 1.0 - horizon_quiet,
            "churn_probability": horizon_quiet,
            "expected_purchases_horizon": purchases_h,
            "expected_revenue_horizon": purchases_h * value,
            "clv": margin * value * lifetime_purchases,
            "median_days_to_next_purchase": median,
            "rhythm_days": np.maximum(rhythm, 1.0),
            "survival_curve": list(np.round(curve, 5)),
            "stage_active": active_stage(customers["k"].to_numpy(), engine.rules),
        }
    )
