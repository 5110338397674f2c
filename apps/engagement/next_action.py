"""The next best action for every scored customer and prospect, computed when a refresh publishes.

Two ways to decide, the better one when it can be had:

- **Uplift model.** When the brand has a finished experiment whose variant granted a benefit, with enough
  customers in both arms, a two-model (T-learner) logistic regression is fitted on its assignments: the
  covariates frozen at its start (pre-period spend and purchases, predicted revenue, P(purchase)) against
  conversion in the window, one model per arm. For each scored customer today, uplift τ(x) = P(buy | benefit,
  x) − P(buy | nothing, x) from the same covariates measured at the run's cutoff. The benefit is suggested
  where its expected gain is positive: τ × average order value × gross margin − benefit value × P(buy |
  benefit, x) (the coupon is also redeemed by those who would have bought anyway). Customers whom the
  benefit makes *less* likely to buy (τ < 0) get nothing. The model is judged on held-out experiment
  customers (30%, by a stable hash): the Qini coefficient and the share of incremental conversions its top
  20% captures, beside ranking by churn risk and at random.
- **Lifecycle policy.** Otherwise: win-back for customers at risk (value to date in the top 40% and churn ≥
  50%) or in decline; a follow-up for those cooling down; nothing for healthy customers (no incentive needed)
  and for those lost with little value; a first-purchase follow-up for engaged prospects. Its expected gain
  uses the brand's measured follow-up effect (touched against the holdout) when that interval is above 0,
  else it is null: no number without evidence.

Consent and opt-outs always win: erased customers and those who opted out of automated decisions get
nothing; customers without marketing consent are never suggested a touch (a benefit in their account is
allowed). Reasons are stored as codes with figures and put into words when shown (`reason_texts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils.translation import gettext as _

from apps.analytics.models import CustomerScore, ModelRun, ProspectScore, ScoringConfig, Stage
from apps.core import charts
from apps.core.bulk import query_frame, timestamp_texts
from apps.customers.models import Customer
from apps.engagement import guards
from apps.engagement.models import (
    ActionBasis,
    ActionKind,
    ArmTreatment,
    Experiment,
    ExperimentStatus,
    FollowupRule,
    NextAction,
    Trigger,
)
from apps.orders.models import Order

LEARNERS = {
    "t": "two-model (T-learner)",
    "s": "single model with interactions (S-learner)",
    "r": "share of would-be non-buyers converted",
}
MIN_PER_ARM = 100
TEST_SHARE = 0.3
AT_RISK_VALUE_PERCENTILE = 60.0
AT_RISK_CHURN = 0.5
COOLING_CHURN = 0.3
PROSPECT_PROPENSITY = 0.2
AHEAD_LOCK_TIMEOUT_SECONDS = 30  # next_actions_ahead: its reads give up on a lock held longer than this
FEATURES = ("pre_revenue", "pre_orders", "predicted_revenue", "p_purchase")


# --- the uplift model ---------------------------------------------------------------------------------------


def _design(frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack(
        [
            np.log1p(frame["pre_revenue"].to_numpy(float).clip(min=0)),
            frame["pre_orders"].to_numpy(float),
            (frame["pre_orders"].to_numpy(float) == 0).astype(float),  # lapsed: nothing in the pre-period
            np.log1p(frame["predicted_revenue"].to_numpy(float).clip(min=0)),
            frame["p_purchase"].to_numpy(float),
        ]
    )


class UpliftModel:
    """A meta-learner on the experiment's frozen covariates: "t" (two logistic regressions, treated and
    control), "s" (one logistic regression with the treatment and its interactions with the covariates) or
    "r" (the benefit converts a fixed share k of those who would not buy without it: τ(x) = k · (1 − P(buy |
    nothing, x)), k fitted so the mean matches the experiment's average effect). Cross-validation on the
    training customers chooses among them by their error on the transformed outcome."""

    def __init__(self, experiment: Experiment, learner: str, models: list, scaler, benefit):
        self.experiment = experiment
        self.learner = learner
        self.models = models
        self.scaler = scaler
        self.benefit = benefit

    @classmethod
    def fit(cls, learner: str, x: np.ndarray, treated: np.ndarray, converted: np.ndarray):
        from sklearn.linear_model import LogisticRegression

        if learner == "t":
            models = []
            for arm in (treated, ~treated):
                if converted[arm].all() or not converted[arm].any():
                    return None
                models.append(LogisticRegression(max_iter=1000).fit(x[arm], converted[arm]))
            return models
        if converted.all() or not converted.any():
            return None
        if learner == "r":
            control = ~treated
            if converted[control].all() or not converted[control].any() or not treated.any():
                return None
            base = LogisticRegression(max_iter=1000).fit(x[control], converted[control])
            headroom = 1 - base.predict_proba(x[treated])[:, 1]
            k = (converted[treated].mean() - converted[control].mean()) / max(float(headroom.mean()), 1e-9)
            return [base, float(k)]
        return [LogisticRegression(max_iter=1000).fit(_s_design(x, treated.astype(float)), converted)]

    def predict_scaled(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.learner == "t":
            return self.models[0].predict_proba(x)[:, 1], self.models[1].predict_proba(x)[:, 1]
        if self.learner == "r":
            p_c = self.models[0].predict_proba(x)[:, 1]
            return np.clip(p_c + self.models[1] * (1 - p_c), 0, 1), p_c
        ones, zeros = np.ones(len(x)), np.zeros(len(x))
        model = self.models[0]
        return model.predict_proba(_s_design(x, ones))[:, 1], model.predict_proba(_s_design(x, zeros))[:, 1]

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(P(buy | benefit), P(buy | nothing)) per row."""
        return self.predict_scaled(self.scaler.transform(_design(frame)))


def _s_design(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.column_stack([x, t, x * t[:, None]])


def _cross_error(
    learner: str, x: np.ndarray, treated: np.ndarray, converted: np.ndarray, ids: np.ndarray
) -> float:
    """The learner's error in estimating each customer's uplift, over 5 folds of the training customers (to
    choose a learner without looking at the held-out ones): the mean squared difference between its τ̂(x)
    and the transformed outcome Y·(T/e − (1−T)/(1−e)), whose expectation given x is the true τ(x)."""
    fold = (guards.holdout_position(ids, "uplift-fold") * 5).astype(int)
    share = treated.mean()
    target = converted * (treated / share - (~treated) / (1 - share))
    errors = []
    for k in range(5):
        fit_rows, judge_rows = fold != k, fold == k
        if not judge_rows.any():
            continue
        models = UpliftModel.fit(learner, x[fit_rows], treated[fit_rows], converted[fit_rows])
        if models is None:
            return np.inf
        p_t, p_c = UpliftModel(None, learner, models, None, None).predict_scaled(x[judge_rows])
        errors.append(float(np.mean((target[judge_rows] - (p_t - p_c)) ** 2)))
    return float(np.mean(errors))


def qini(uplift: np.ndarray, converted: np.ndarray, treated: np.ndarray) -> dict | None:
    """The Qini curve of a ranking (highest uplift first): incremental conversions among the first k
    customers, Y_T(k) − Y_C(k) · N_T(k) / N_C(k), as a share of all customers. Returns the Qini coefficient
    (area between the curve and the random line, on a [0, 1] axis) and the share of all incremental
    conversions the top 20% captures; None when the whole population has no incremental conversion."""
    order = np.argsort(-uplift, kind="stable")
    y, t = converted[order].astype(float), treated[order].astype(bool)
    n = len(y)
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    y_t, y_c = np.cumsum(y * t), np.cumsum(y * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = np.where(n_c > 0, y_t - y_c * n_t / np.maximum(n_c, 1), y_t) / n
    total = curve[-1]
    if n == 0 or total <= 0:
        return None
    x = np.arange(1, n + 1) / n
    area = float(np.trapezoid(np.r_[0, curve], np.r_[0, x]))
    top = curve[max(int(math.ceil(0.2 * n)) - 1, 0)]
    return {
        "qini_coefficient": area - total / 2,
        "top20_share": float(top / total),
        "incremental": float(total * n),
    }


def uplift_model_fit(*, brand, treatment: str = ArmTreatment.BENEFIT) -> tuple[UpliftModel | None, dict]:
    """The uplift model from the newest finished experiment with a `treatment` arm (a benefit, or a follow-up
    rule's touch), and its held-out evaluation (or the reason there is none)."""
    from sklearn.preprocessing import StandardScaler

    from apps.engagement.experiments import outcomes

    experiments = Experiment.objects.filter(brand=brand, status=ExperimentStatus.FINISHED).order_by(
        "-ends_at"
    )
    for experiment in experiments:
        arms = list(experiment.arms.select_related("benefit", "rule"))
        variant = next((a for a in arms if a.treatment == treatment and (a.benefit_id or a.rule_id)), None)
        control = next((a for a in arms if a.is_control), None)
        if variant is None or control is None:
            continue
        frame = outcomes(
            experiment=experiment, at=experiment.ends_at + pd.Timedelta(days=experiment.window_days)
        )
        frame = frame[frame["arm_id"].isin([variant.pk, control.pk])]
        treated = (frame["arm_id"] == variant.pk).to_numpy()
        if treated.sum() < MIN_PER_ARM or (~treated).sum() < MIN_PER_ARM:
            return None, {
                "experiment": experiment.code,
                "unavailable": _("The experiment has fewer than %(n)d customers in an arm.")
                % {"n": MIN_PER_ARM},
            }
        converted = frame["converted"].to_numpy(bool)
        ids = frame["customer_id"].to_numpy()
        test = guards.holdout_position(ids, "uplift") < TEST_SHARE
        scaler = StandardScaler().fit(_design(frame[~test]))
        x = scaler.transform(_design(frame))
        train = ~test
        cross = {
            k: _cross_error(k, x[train], treated[train], converted[train], ids[train])
            for k in ("t", "s", "r")
        }
        learner = min(cross, key=cross.get)
        models = UpliftModel.fit(learner, x[train], treated[train], converted[train])
        if models is None:
            return None, {"experiment": experiment.code, "unavailable": _("An arm converted all or none.")}
        model = UpliftModel(experiment, learner, models, scaler, variant.benefit)
        p_t, p_c = model.predict(frame[test])
        tau = p_t - p_c
        judged = qini(tau, converted[test], treated[test])
        risk = qini(1 - frame.loc[test, "p_purchase"].to_numpy(float), converted[test], treated[test])
        evaluation = {
            "experiment": experiment.code,
            "treatment": variant.benefit.code if variant.benefit_id else variant.rule.name,
            "learner": LEARNERS[learner],
            "cross_validated_uplift_error": {k: round(v, 5) for k, v in cross.items()},
            "n_train": int(train.sum()),
            "n_test": int(test.sum()),
        }
        if judged is None:
            evaluation["unavailable"] = _("No incremental conversion among the held-out customers.")
        else:
            evaluation.update(
                qini_coefficient=round(judged["qini_coefficient"], 5),
                top20_share=round(judged["top20_share"], 4),
                qini_coefficient_by_churn_risk=None if risk is None else round(risk["qini_coefficient"], 5),
                top20_share_by_churn_risk=None if risk is None else round(risk["top20_share"], 4),
                top20_share_at_random=0.2,
                incremental_conversions_test=round(judged["incremental"], 1),
            )
        return model, evaluation
    if treatment == ArmTreatment.RULE:
        return None, {"unavailable": _("No finished experiment with a follow-up rule arm yet.")}
    return None, {"unavailable": _("No finished experiment with a benefit arm yet.")}


# --- the population ----------------------------------------------------------------------------------------


def _population(run: ModelRun, pre_days: int = 90) -> pd.DataFrame:
    """Scored customers and prospects of the run with what the decision needs. Two statements."""
    customers, scores, prospects, orders = (
        Customer._meta.db_table,
        CustomerScore._meta.db_table,
        ProspectScore._meta.db_table,
        Order._meta.db_table,
    )
    sql = f"""
        WITH people AS (
            SELECT s.customer_id, s.stage, s.tier_id, s.churn_probability, s.p_purchase_horizon AS p_purchase,
                   s.expected_revenue_horizon::float8 AS predicted_revenue, s.value_percentile,
                   s.monetary_total::float8 AS monetary_total, s.orders_count, NULL::float8 AS propensity
            FROM {scores} s WHERE s.brand_id = %(brand)s AND s.run_id = %(run)s
            UNION ALL
            SELECT p.customer_id, 'prospect', NULL, NULL, p.propensity, 0, NULL, 0, 0, p.propensity
            FROM {prospects} p WHERE p.brand_id = %(brand)s AND p.run_id = %(run)s
        ), pre AS (
            SELECT o.customer_id, SUM(o.total_amount)::float8 AS pre_revenue, COUNT(*) AS pre_orders
            FROM {orders} o
            WHERE o.brand_id = %(brand)s AND o.status = 'paid' AND o.placed_at >= %(since)s AND o.placed_at < %(cutoff)s
            GROUP BY o.customer_id
        )
        SELECT x.customer_id, x.stage, x.tier_id, x.churn_probability, x.p_purchase, x.predicted_revenue,
               x.value_percentile, x.monetary_total, x.orders_count, x.propensity,
               COALESCE(pre.pre_revenue, 0) AS pre_revenue, COALESCE(pre.pre_orders, 0) AS pre_orders,
               c.marketing_consent::int AS consent, c.automated_decisions_opt_out::int AS opted_out,
               (c.erased_at IS NOT NULL)::int AS erased
        FROM people x
        JOIN {customers} c ON c.brand_id = %(brand)s AND c.id = x.customer_id
        LEFT JOIN pre ON pre.customer_id = x.customer_id
    """
    params = {
        "brand": run.brand_id,
        "run": run.pk,
        "since": run.cutoff - pd.Timedelta(days=pre_days),
        "cutoff": run.cutoff,
    }
    with connection.cursor() as cursor:
        frame = query_frame(cursor, sql, params, dtype={"stage": "object"})
    frame = frame.drop_duplicates("customer_id")  # a scored customer is never a prospect; kept safe
    for column in ("consent", "opted_out", "erased"):
        frame[column] = frame[column].astype(bool)
    return frame.reset_index(drop=True)


# --- the decision -----------------------------------------------------------------------------------------


def decide(
    frame: pd.DataFrame,
    *,
    margin: float,
    model: UpliftModel | None,
    win_back_benefit,
    measured_touch_uplift: float | None,
    first_order_value: float,
    touch_model: UpliftModel | None = None,
) -> pd.DataFrame:
    """Action, basis, benefit id, uplift, expected gain and reasons per row. Vectorised, then one list of
    reasons per row. `touch_model` (from a follow-up rule experiment) judges the touches: customers it says
    a touch makes less likely to buy are not touched."""
    n = len(frame)
    stage = frame["stage"].to_numpy(object)
    prospect = stage == Stage.PROSPECT
    churn = frame["churn_probability"].to_numpy(float)
    value_pct = frame["value_percentile"].to_numpy(float)
    consent = frame["consent"].to_numpy(bool)
    blocked = frame["opted_out"].to_numpy(bool) | frame["erased"].to_numpy(bool)
    orders = frame["orders_count"].to_numpy(float)
    aov = np.where(
        orders > 0, frame["monetary_total"].to_numpy(float) / np.maximum(orders, 1), first_order_value
    )
    p = frame["p_purchase"].to_numpy(float)

    action = np.full(n, ActionKind.NOTHING.value, dtype=object)
    basis = np.full(n, ActionBasis.POLICY.value, dtype=object)
    benefit = np.full(n, None, dtype=object)
    uplift = np.full(n, np.nan)
    gain = np.full(n, np.nan)
    code = np.full(n, "healthy", dtype=object)

    at_risk = ~prospect & (
        ((value_pct >= AT_RISK_VALUE_PERCENTILE) & (churn >= AT_RISK_CHURN)) | (stage == Stage.DECLINE)
    )
    lost = ~prospect & (stage == Stage.CHURNED) & ~at_risk
    cooling = ~prospect & ~at_risk & ~lost & (churn >= COOLING_CHURN)
    engaged_prospect = prospect & (frame["propensity"].fillna(0).to_numpy(float) >= PROSPECT_PROPENSITY)

    # the lifecycle policy
    wb_benefit = win_back_benefit.pk if win_back_benefit is not None else None
    action[at_risk] = ActionKind.WIN_BACK.value
    benefit[at_risk] = wb_benefit
    code[at_risk] = "at_risk"
    action[cooling & consent] = ActionKind.FOLLOWUP.value
    code[cooling] = "cooling"
    code[lost] = "lost_low_value"
    action[engaged_prospect & consent] = ActionKind.FOLLOWUP.value
    code[prospect] = np.where(engaged_prospect[prospect], "prospect_engaged", "prospect_cold")
    touch = (action != ActionKind.NOTHING.value) & consent
    if measured_touch_uplift is not None:
        uplift[touch] = measured_touch_uplift
        basis[touch] = ActionBasis.MEASURED.value
        gain[touch] = measured_touch_uplift * aov[touch] * margin
        # a win-back's coupon costs its value whenever it is used, by those who would have bought anyway too
        wb_value = float(win_back_benefit.value or 0) if win_back_benefit is not None else 0.0
        costly = touch & (action == ActionKind.WIN_BACK.value)
        gain[costly] -= wb_value * np.clip(p[costly] + measured_touch_uplift, 0, 1)
    # the uplift model, for scored customers, where it was fitted
    if model is not None:
        scored = ~prospect
        p_t, p_c = model.predict(frame.loc[scored])
        tau = np.full(n, np.nan)
        tau[scored] = p_t - p_c
        p_treated = np.full(n, np.nan)
        p_treated[scored] = p_t
        value = float(model.benefit.value or 0)
        benefit_gain = tau * aov * margin - value * p_treated
        basis[scored] = ActionBasis.UPLIFT_MODEL.value
        uplift[scored] = tau[scored]
        harm = scored & (tau < 0)
        worth = scored & (tau >= 0) & (benefit_gain > 0)
        action[harm] = ActionKind.NOTHING.value
        code[harm] = "benefit_lowers_purchase"
        gain[harm] = np.nan
        action[worth] = np.where(
            at_risk[worth] & consent[worth], ActionKind.WIN_BACK.value, ActionKind.BENEFIT.value
        )
        benefit[worth] = model.benefit.pk
        gain[worth] = benefit_gain[worth]
        code[worth] = np.where(at_risk[worth], "at_risk", "uplift")
        neutral = scored & (tau >= 0) & ~(benefit_gain > 0)
        action[neutral & (action == ActionKind.WIN_BACK.value)] = np.where(
            consent[neutral & (action == ActionKind.WIN_BACK.value)],
            ActionKind.FOLLOWUP.value,
            ActionKind.NOTHING.value,
        )
        benefit[neutral] = None
        gain[neutral] = np.nan
        code[neutral & (code == "healthy")] = "benefit_not_worth_it"
    # the touch model, where a follow-up experiment has been run: no touch for those it puts off
    touch_tau = np.full(n, np.nan)
    if touch_model is not None:
        scored = ~prospect
        p_t, p_c = touch_model.predict(frame.loc[scored])
        touch_tau[scored] = p_t - p_c
        touching = scored & np.isin(action, [ActionKind.FOLLOWUP.value, ActionKind.WIN_BACK.value])
        put_off = touching & (touch_tau < 0)
        action[put_off] = np.where(
            benefit[put_off] != None,  # noqa: E711 (object array)
            ActionKind.BENEFIT.value,
            ActionKind.NOTHING.value,
        )
        code[put_off] = "touch_lowers_purchase"
        follow = touching & ~put_off & (action == ActionKind.FOLLOWUP.value)
        basis[follow] = ActionBasis.UPLIFT_MODEL.value
        uplift[follow] = touch_tau[follow]
        gain[follow] = touch_tau[follow] * aov[follow] * margin
    # touches need consent: without it a win-back is its benefit alone, a follow-up is nothing
    no_consent = ~consent & ~blocked
    action[no_consent & (action == ActionKind.WIN_BACK.value)] = np.where(
        benefit[no_consent & (action == ActionKind.WIN_BACK.value)] != None,  # noqa: E711 (object array)
        ActionKind.BENEFIT.value,
        ActionKind.NOTHING.value,
    )
    action[no_consent & (action == ActionKind.FOLLOWUP.value)] = ActionKind.NOTHING.value
    # the measured effect is of touches: a benefit alone has no measured effect to claim
    unmeasured = no_consent & (basis == ActionBasis.MEASURED.value)
    basis[unmeasured] = ActionBasis.POLICY.value
    gain[unmeasured] = np.nan
    uplift[unmeasured] = np.nan
    # consent and opt-outs win over everything
    action[blocked] = ActionKind.NOTHING.value
    benefit[blocked] = None
    gain[blocked] = np.nan
    uplift[blocked] = np.nan
    benefit[action == ActionKind.FOLLOWUP.value] = None
    benefit[action == ActionKind.NOTHING.value] = None

    reasons = []
    tier = frame["tier_id"].to_numpy()
    erased = frame["erased"].to_numpy(bool)
    spent = frame["monetary_total"].to_numpy(float)
    model_code = model.experiment.code if model is not None else ""
    touch_code = touch_model.experiment.code if touch_model is not None else ""
    touch_r = np.round(touch_tau, 4)
    touch_kinds = (ActionKind.FOLLOWUP.value, ActionKind.WIN_BACK.value)
    by_model, by_measure, idle = (
        ActionBasis.UPLIFT_MODEL.value,
        ActionBasis.MEASURED.value,
        ActionKind.NOTHING.value,
    )
    has_tier = ~pd.isna(tier)
    churn_r, p_r, uplift_r = np.round(churn, 4), np.round(p, 4), np.round(uplift, 4)
    at_risk_amount, pct_r = np.round(spent * churn, 2), np.round(value_pct, 1)
    for i in range(n):
        items: list[dict] = []
        if blocked[i]:
            items.append({"code": "erased" if erased[i] else "opted_out"})
        else:
            if prospect[i]:
                items.append({"code": code[i], "propensity": float(p_r[i])})
            else:
                items.append({"code": "stage", "stage": str(stage[i])})
                if has_tier[i]:
                    items.append({"code": "tier", "tier_id": int(tier[i])})
                items.append({"code": "churn", "p": float(churn_r[i])})
                if value_pct[i] == value_pct[i]:
                    items.append(
                        {
                            "code": "value_at_risk",
                            "amount": float(at_risk_amount[i]),
                            "percentile": float(pct_r[i]),
                        }
                    )
                items.append({"code": code[i]})
            if not consent[i]:
                items.append({"code": "no_consent"})
            if (
                touch_tau[i] == touch_tau[i]
                and action[i] in touch_kinds
                or code[i] == "touch_lowers_purchase"
            ):
                items.append(
                    {"code": "touch_experiment", "experiment": touch_code, "uplift": float(touch_r[i])}
                )
            elif basis[i] == by_model and uplift[i] == uplift[i]:
                items.append({"code": "experiment", "experiment": model_code, "uplift": float(uplift_r[i])})
            elif basis[i] == by_measure:
                items.append({"code": "measured", "uplift": float(uplift_r[i])})
            elif action[i] != idle:
                items.append({"code": "no_evidence"})
        reasons.append(items)
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "action": action,
            "basis": basis,
            "benefit_id": benefit,
            "uplift": uplift,
            "expected_gain": np.round(gain, 2),
            "reasons": reasons,
            # the reason code the reasons hold for a customer not blocked (what the summary counts)
            "reason_code": np.where(blocked, "", code),
        }
    )


@transaction.atomic
def next_actions_compute(*, run: ModelRun, ahead=None) -> dict:
    """Decide and store every customer's next action under `run` (the published run); other runs' actions of
    the brand are removed. Returns the summary stored in run.metrics["next_actions"].

    `ahead` (from next_actions_ahead, started before the publish) waits for the decisions prepared beside the
    publish; they are used unless the publish rewrote any tier they read (then, or when preparing failed, they
    are decided again here)."""
    import logging
    import time

    prepared = None
    started = time.perf_counter()
    if ahead is not None:
        try:
            prepared = ahead()
        except Exception:
            logging.getLogger(__name__).exception("next actions of run %s prepared ahead failed", run.pk)
        if getattr(run, "tiers_rewritten", 0):
            prepared = None  # tiers changed at the publish: the decisions read the ones before
    waited = time.perf_counter() - started
    beside = prepared is not None and prepared.run_id == run.pk
    if not beside:
        prepared = next_actions_prepare(run=run)
    return _next_actions_write(run=run, prepared=prepared, beside=beside, waited=waited)


def next_actions_ahead(*, run: ModelRun):
    """Start deciding the run's next actions now, in a thread with its own database connection (the run's
    scores, tiers and prospects are committed: a refresh calls this just before its publish, whose stage
    history is PostgreSQL's work meanwhile). Returns what waits for the PreparedActions."""
    from apps.core.threads import run_beside

    def work():
        # a read that waits for a lock (held by the publish this thread's result is waited for in) gives up
        # instead of waiting for ever: the decisions are then made again inside the publish
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", [f"{AHEAD_LOCK_TIMEOUT_SECONDS}s"])
        return next_actions_prepare(run=run)

    return run_beside(work, name=f"next-actions-{run.pk}")


@dataclass
class PreparedActions:
    """The decisions of a run, ready to write: the rows as COPY's CSV and the summary (next_actions_prepare)."""

    run_id: int
    columns: list[str]
    csv: bytes
    rows: int
    summary: dict
    seconds: float


def next_actions_prepare(*, run: ModelRun) -> PreparedActions:
    """Decide every customer's next action under `run` from its scores, tiers and prospects; writes nothing."""
    import time

    import orjson

    from apps.engagement import results

    started = time.perf_counter()
    brand = run.brand
    config = ScoringConfig.objects.filter(brand=brand).first()
    margin = float(config.gross_margin) if config is not None else 0.4
    model, evaluation = uplift_model_fit(brand=brand)
    touch_model, touch_evaluation = uplift_model_fit(brand=brand, treatment=ArmTreatment.RULE)
    rule = (
        FollowupRule.objects.filter(
            brand=brand, trigger=Trigger.WIN_BACK, is_active=True, benefit__isnull=False
        )
        .select_related("benefit")
        .order_by("priority", "pk")
        .first()
    )
    total, _groups = results.results(brand=brand, by="rule")
    measured = total.uplift if total.uplift_low is not None and total.uplift_low > 0 else None
    frame = _population(run)
    first_order = (
        frame.loc[frame["orders_count"] > 0, "monetary_total"]
        / frame.loc[frame["orders_count"] > 0, "orders_count"]
    )
    first_order_value = float(first_order.median()) if len(first_order) else 0.0
    decided = decide(
        frame,
        margin=margin,
        model=model,
        touch_model=touch_model,
        win_back_benefit=rule.benefit if rule is not None else None,
        measured_touch_uplift=measured,
        first_order_value=first_order_value,
    )
    stamp = timestamp_texts(np.array([np.datetime64(pd.Timestamp.now(tz="UTC").tz_localize(None), "ns")]))[0]
    rows = pd.DataFrame(
        {
            "created_at": stamp,
            "updated_at": stamp,
            "brand_id": brand.pk,
            "run_id": run.pk,
            "customer_id": decided["customer_id"],
            "action": decided["action"],
            "basis": decided["basis"],
            "benefit_id": pd.array(decided["benefit_id"].tolist(), dtype="Int64"),
            "uplift": decided["uplift"],
            "expected_gain": decided["expected_gain"],
            "reasons": [orjson.dumps(r).decode() for r in decided["reasons"]],
        }
    )
    counts = decided["action"].value_counts().to_dict()
    summary = {
        "customers": int(len(decided)),
        "actions": {k: int(v) for k, v in counts.items()},
        "expected_gain_total": round(float(np.nansum(decided["expected_gain"].to_numpy(float))), 2),
        "suppressed_benefit_lowers_purchase": int(decided["reason_code"].eq("benefit_lowers_purchase").sum()),
        "measured_touch_uplift": measured,
        "uplift_model": evaluation,
        "touch_uplift_model": touch_evaluation,
        "suppressed_touch_lowers_purchase": int(decided["reason_code"].eq("touch_lowers_purchase").sum()),
    }
    return PreparedActions(
        run_id=run.pk,
        columns=list(rows.columns),
        csv=rows.to_csv(header=False, index=False, lineterminator="\n").encode(),
        rows=len(rows),
        summary=summary,
        seconds=time.perf_counter() - started,
    )


def _next_actions_write(
    *, run: ModelRun, prepared: PreparedActions, beside: bool, waited: float = 0.0
) -> dict:
    import time

    from apps.core.bulk import analyze_written, copy_csv

    started = time.perf_counter()
    NextAction.objects.filter(brand_id=run.brand_id).delete()
    copy_csv(NextAction._meta.db_table, prepared.columns, prepared.csv)
    analyze_written(
        [NextAction._meta.db_table], prepared.rows
    )  # pages join these rows right after the publish
    summary = {
        **prepared.summary,
        "seconds": round(prepared.seconds + time.perf_counter() - started, 3),
        "decided_beside_the_publish": beside,
        # how long the publish waited for the decisions made beside it, and took to write them
        "publish_waited_seconds": round(waited, 3),
        "written_in_seconds": round(time.perf_counter() - started, 3),
    }
    ModelRun.objects.filter(pk=run.pk).update(metrics={**run.metrics, "next_actions": summary})
    run.metrics = {**run.metrics, "next_actions": summary}
    return summary


# --- words ------------------------------------------------------------------------------------------------


def reason_texts(reasons: list[dict], *, tier_names: dict | None = None, currency: str = "") -> list[str]:
    """The stored reason codes in words staff understand (the active language)."""
    stages = dict(Stage.choices)
    out = []
    for item in reasons:
        code = item.get("code")
        if code == "stage":
            out.append(_("Lifecycle stage: %(stage)s.") % {"stage": stages.get(item["stage"], item["stage"])})
        elif code == "tier":
            name = (tier_names or {}).get(item["tier_id"])
            if name:
                out.append(_("Tier: %(tier)s.") % {"tier": _(name)})
        elif code == "churn":
            # as the 360 page's card shows it (0.5% read "0%" here beside it)
            out.append(_("Churn risk %(p)s.") % {"p": charts.percent(item["p"])})
        elif code == "value_at_risk":
            out.append(
                _(
                    "Value at risk %(amount)s %(currency)s (spend to date × churn risk; top %(top)s%% by value)."
                )
                % {
                    "amount": f"{item['amount']:,.2f}",
                    "currency": currency,
                    "top": max(1, round(100 - item["percentile"])),
                }
            )
        elif code == "at_risk":
            out.append(_("Valuable and slipping away: win them back before they go."))
        elif code == "cooling":
            out.append(_("Buying less often than usual: a timely follow-up keeps them."))
        elif code == "healthy":
            out.append(_("Buying at their usual rhythm: no incentive needed (it would cost margin)."))
        elif code == "lost_low_value":
            out.append(_("Churned with little value to date: not worth a benefit."))
        elif code == "prospect_engaged":
            out.append(
                _("Engaged viewer who never bought (first-purchase propensity %(p)s): invite them.")
                % {"p": f"{item['propensity']:.0%}"}
            )
        elif code == "prospect_cold":
            out.append(
                _("Viewer unlikely to buy soon (first-purchase propensity %(p)s).")
                % {"p": f"{item['propensity']:.0%}"}
            )
        elif code == "uplift":
            out.append(_("The benefit is expected to pay for itself for customers like them."))
        elif code == "benefit_lowers_purchase":
            out.append(
                _("For customers like them the benefit lowered purchases in the experiment: leave them be.")
            )
        elif code == "benefit_not_worth_it":
            out.append(_("The benefit would cost more than the extra purchases it brings."))
        elif code == "touch_lowers_purchase":
            out.append(
                _("For customers like them a touch lowered purchases in the experiment: do not contact them.")
            )
        elif code == "touch_experiment":
            out.append(
                _(
                    "In experiment %(code)s, a follow-up changed how often customers like them bought by %(uplift)s points."
                )
                % {"code": item["experiment"], "uplift": f"{item['uplift'] * 100:+.1f}"}
            )
        elif code == "no_consent":
            out.append(_("No marketing consent: no touch, a benefit in their account at most."))
        elif code == "opted_out":
            out.append(_("Opted out of automated decisions: no suggestion."))
        elif code == "erased":
            out.append(_("Personal data erased: no suggestion."))
        elif code == "experiment":
            out.append(
                _(
                    "In experiment %(code)s, customers like them bought %(uplift)s points more often with the benefit."
                )
                % {"code": item["experiment"], "uplift": f"{item['uplift'] * 100:+.1f}"}
            )
        elif code == "measured":
            out.append(
                _("Follow-ups raised 72-hour conversion by %(uplift)s points against the holdout.")
                % {"uplift": f"{item['uplift'] * 100:+.1f}"}
            )
        elif code == "no_evidence":
            out.append(_("No experiment or holdout has measured this action's effect yet: gain unknown."))
    return out


def gain_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))
