"""The next best action: consent and opt-outs win, the lifecycle policy without evidence, the uplift model
from a finished experiment (it recovers a known heterogeneous effect, suppresses customers the benefit
harms, and is judged by its Qini coefficient on held-out customers), computed when a run publishes, and
served by GraphQL at a pinned query count."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from apps.analytics.publishing import model_run_publish
from apps.customers.models import Customer
from apps.engagement.experiments import experiment_create
from apps.engagement.models import Experiment, ExperimentAssignment, NextAction
from apps.engagement.next_action import decide, next_actions_compute, qini, reason_texts, uplift_model_fit
from apps.orders.models import Order
from tests.factories import BenefitFactory, CustomerScoreFactory, ModelRunFactory
from tests.graphql.conftest import run_query

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, tzinfo=UTC)


def population(**overrides) -> pd.DataFrame:
    row = {
        "customer_id": 1,
        "stage": "growth",
        "tier_id": None,
        "churn_probability": 0.1,
        "p_purchase": 0.9,
        "predicted_revenue": 100.0,
        "value_percentile": 50.0,
        "monetary_total": 300.0,
        "orders_count": 3,
        "propensity": np.nan,
        "pre_revenue": 100.0,
        "pre_orders": 1,
        "consent": True,
        "opted_out": False,
        "erased": False,
    }
    rows = []
    for i, changes in enumerate(overrides.get("rows", [{}])):
        rows.append({**row, "customer_id": i + 1, **changes})
    return pd.DataFrame(rows)


def test_the_policy_without_evidence_respects_consent_and_claims_no_gain():
    coupon = BenefitFactory.build(pk=7, value=Decimal("50"))
    frame = population(
        rows=[
            {},  # healthy: nothing
            {"stage": "decline", "churn_probability": 0.8, "value_percentile": 90.0},  # win back
            {"stage": "decline", "churn_probability": 0.8, "value_percentile": 90.0, "consent": False},
            {"stage": "decline", "churn_probability": 0.8, "value_percentile": 90.0, "opted_out": True},
            {"churn_probability": 0.4},  # cooling: a follow-up
            {"stage": "prospect", "propensity": 0.5, "churn_probability": np.nan, "value_percentile": np.nan},
            {
                "stage": "prospect",
                "propensity": 0.05,
                "churn_probability": np.nan,
                "value_percentile": np.nan,
            },
        ]
    )
    out = decide(
        frame,
        margin=0.4,
        model=None,
        win_back_benefit=coupon,
        measured_touch_uplift=None,
        first_order_value=80,
    )
    assert out["action"].tolist() == [
        "nothing",
        "win_back",
        "benefit",
        "nothing",
        "followup",
        "followup",
        "nothing",
    ]
    assert out["benefit_id"].tolist()[:4] == [None, 7, 7, None]
    assert out["expected_gain"].isna().all()  # no experiment, no measured holdout: no number
    codes = [[r["code"] for r in reasons] for reasons in out["reasons"]]
    assert "healthy" in codes[0] and "no_evidence" in codes[1] and "no_consent" in codes[2]
    assert codes[3] == ["opted_out"]
    # with a measured follow-up effect, touches get a gain; the benefit alone (no consent) does not
    measured = decide(
        frame,
        margin=0.4,
        model=None,
        win_back_benefit=coupon,
        measured_touch_uplift=0.05,
        first_order_value=80,
    )
    gains = measured["expected_gain"].tolist()
    assert gains[4] == pytest.approx(0.05 * 100 * 0.4)  # cooling follow-up: uplift × order value × margin
    assert gains[1] == pytest.approx(0.05 * 100 * 0.4 - 50 * (0.9 + 0.05), abs=0.01)  # the coupon's cost
    assert np.isnan(gains[2]) and measured["basis"].tolist()[2] == "policy"
    texts = reason_texts(measured["reasons"].iloc[1], currency="CNY")
    assert any("72-hour" in t for t in texts) and any("CNY" in t for t in texts)
    # a churn risk reads as the 360 page's card shows it: 0.5%, not 0%
    assert reason_texts([{"code": "churn", "p": 0.005}]) == ["Churn risk 0.5%."]
    assert reason_texts([{"code": "churn", "p": 0.724}]) == ["Churn risk 72%."]


def test_qini_of_a_perfect_ranking_beats_random_and_a_reversed_one():
    rng = np.random.default_rng(0)
    n = 20000
    treated = rng.random(n) < 0.5
    responsive = rng.random(n) < 0.3  # only they respond to the treatment
    converted = (rng.random(n) < 0.1) | (treated & responsive & (rng.random(n) < 0.5))
    perfect = qini(responsive.astype(float) + rng.random(n) * 0.01, converted, treated)
    random = qini(rng.random(n), converted, treated)
    reversed_ = qini(-responsive.astype(float) + rng.random(n) * 0.01, converted, treated)
    assert perfect["qini_coefficient"] > 0.01 > abs(random["qini_coefficient"])
    assert reversed_["qini_coefficient"] < 0
    assert perfect["top20_share"] > 0.6 and abs(random["top20_share"] - 0.2) < 0.1


def _experiment_world(brand, n=3000, seed=1, rule=None):
    """A finished coupon experiment (or, with `rule`, a follow-up experiment) whose effect depends on the
    pre-period: customers with no purchase in it respond (+25 points), those with purchases are put off (−5
    points): a sleeping-dog group."""
    rng = np.random.default_rng(seed)
    coupon = BenefitFactory(brand=brand, code="coupon-x", kind="coupon", value=Decimal("5"))
    variant = (
        {"code": "coupon", "share": 50, "treatment": "benefit", "benefit": coupon}
        if rule is None
        else {"code": "coupon", "share": 50, "treatment": "rule", "rule": rule}
    )
    experiment = experiment_create(
        brand=brand,
        code="het",
        name="het",
        starts_at=START,
        ends_at=START + timedelta(days=30),
        arms=[{"code": "control", "is_control": True, "share": 50}, variant],
    )
    arms = {a.code: a for a in experiment.arms.all()}
    customers = Customer.objects.bulk_create(
        [
            Customer(brand=brand, external_id=f"H{i}", first_seen_at=START - timedelta(days=400))
            for i in range(n)
        ]
    )
    pre_orders = rng.poisson(1.0, n)
    treated = rng.random(n) < 0.5
    base = 0.15 + 0.05 * np.minimum(pre_orders, 3)
    effect = np.where(pre_orders == 0, 0.25, -0.05)
    converted = rng.random(n) < np.clip(base + treated * effect, 0, 1)
    ExperimentAssignment.objects.bulk_create(
        [
            ExperimentAssignment(
                brand=brand,
                experiment=experiment,
                arm=arms["coupon" if t else "control"],
                customer=c,
                assigned_at=START,
                exposed_at=START,
                pre_revenue=Decimal(int(k) * 100),
                pre_orders=int(k),
                predicted_revenue=float(k) * 50.0,
                p_purchase=float(b),
            )
            for c, t, k, b in zip(customers, treated, pre_orders, base, strict=True)
        ]
    )
    Order.objects.bulk_create(
        [
            Order(
                brand=brand,
                customer=c,
                external_id=f"HO{i}",
                placed_at=START + timedelta(days=3),
                status="paid",
                total_amount=Decimal("100"),
                currency="CNY",
            )
            for i, (c, y) in enumerate(zip(customers, converted, strict=True))
            if y
        ]
    )
    Experiment.objects.filter(pk=experiment.pk).update(
        status="finished", started_at=START
    )  # assigned above by hand
    return experiment, customers, pre_orders


def test_the_uplift_model_recovers_who_responds_and_who_is_put_off(brand):
    # 6,000 customers: the held-out 30% (split by a hash of the database ids, which differ from run to run)
    # then holds enough incremental conversions for the Qini curve to be judged every time
    _experiment, _customers, _pre = _experiment_world(brand, n=6000)
    model, evaluation = uplift_model_fit(brand=brand)
    assert model is not None, evaluation
    assert evaluation["n_test"] > 700 and evaluation["qini_coefficient"] > 0
    assert evaluation["top20_share"] > 0.3  # far more than the 20% a random fifth would capture
    frame = pd.DataFrame(
        {
            "pre_revenue": [0.0, 200.0],
            "pre_orders": [0, 2],
            "predicted_revenue": [0.0, 100.0],
            "p_purchase": [0.15, 0.25],
        }
    )
    p_t, p_c = model.predict(frame)
    tau = p_t - p_c
    assert tau[0] > 0.1 and tau[1] < 0.02, (evaluation, tau)  # responders gain, repeat buyers do not


def test_publishing_stores_every_customers_action_with_the_model_and_graphql_serves_it(brand, as_role):
    _experiment, customers, pre = _experiment_world(brand, n=6000)
    run = ModelRunFactory(brand=brand, status="succeeded", as_of=datetime(2026, 6, 1).date())
    for c, k in list(zip(customers, pre, strict=True))[:60]:
        CustomerScoreFactory(
            brand=brand,
            run=run,
            customer=c,
            stage="decline" if k == 0 else "maturity",
            churn_probability=0.7 if k == 0 else 0.1,
            p_purchase_horizon=0.15 + 0.05 * min(int(k), 3),  # as in the experiment
            expected_revenue_horizon=Decimal(int(k) * 50),
            orders_count=max(int(k), 1),
            monetary_total=Decimal(max(int(k), 1) * 100),
        )
        for j in range(int(k)):  # repeat buyers keep buying in the 90 days before the cutoff
            Order.objects.create(
                brand=brand,
                customer=c,
                external_id=f"R{c.pk}-{j}",
                placed_at=datetime(2026, 5, 10 + j, tzinfo=UTC),
                status="paid",
                total_amount=Decimal("100"),
                currency="CNY",
            )
    model_run_publish(run=run)  # the engagement app's receiver computes the actions
    actions = NextAction.objects.filter(brand=brand)
    assert actions.count() == 60 and set(actions.values_list("run_id", flat=True)) == {run.pk}
    run.refresh_from_db()
    summary = run.metrics["next_actions"]
    assert summary["customers"] == 60 and summary["uplift_model"]["experiment"] == "het"
    assert actions.filter(basis="uplift_model").count() == 60
    # the put-off repeat buyers get nothing, with the reason
    put_off = actions.filter(reasons__contains=[{"code": "benefit_lowers_purchase"}])
    assert put_off.exists() and not put_off.exclude(action="nothing").exists()
    query = """query { customers(first: 20) { edges { node { externalId nextAction {
      action basis benefitCode uplift expectedGain { amount currency } reasons } } } } }"""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_role("viewer")
    with CaptureQueriesContext(connection) as ctx:
        body = run_query(client, query)
    nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
    with_action = [n for n in nodes if n["nextAction"]]
    assert with_action and all(n["nextAction"]["reasons"] for n in with_action)
    # amounts in the reasons carry the brand's currency, as on the 360 page ("Value at risk 1,957.56  (…")
    money_reasons = [
        r for n in with_action for r in n["nextAction"]["reasons"] if r.startswith("Value at risk")
    ]
    assert money_reasons and all(f" {brand.currency} (" in r for r in money_reasons)
    first = len(ctx.captured_queries)
    with CaptureQueriesContext(connection) as ctx:
        run_query(client, query.replace("first: 20", "first: 5"))
    assert len(ctx.captured_queries) == first  # no query per customer
    # a later publish replaces them
    next_actions_compute(run=run)
    assert NextAction.objects.filter(brand=brand).count() == 60


def test_a_follow_up_experiment_stops_touches_for_those_it_puts_off(brand):
    from apps.engagement.models import ArmTreatment
    from tests.factories import FollowupRuleFactory

    rule = FollowupRuleFactory(brand=brand, trigger="win_back", audience="everyone", benefit=None)
    _experiment_world(brand, n=6000, rule=rule)
    touch_model, evaluation = uplift_model_fit(brand=brand, treatment=ArmTreatment.RULE)
    assert touch_model is not None and evaluation["treatment"] == rule.name, evaluation
    assert uplift_model_fit(brand=brand)[0] is None  # no benefit experiment
    frame = population(
        rows=[
            {"churn_probability": 0.4, "pre_orders": 0, "pre_revenue": 0.0, "p_purchase": 0.15},  # responds
            {"churn_probability": 0.4, "pre_orders": 2, "pre_revenue": 200.0, "p_purchase": 0.25},  # put off
        ]
    )
    out = decide(
        frame,
        margin=0.4,
        model=None,
        win_back_benefit=None,
        measured_touch_uplift=None,
        first_order_value=80,
        touch_model=touch_model,
    )
    assert out["action"].tolist() == ["followup", "nothing"]
    assert out["basis"].tolist()[0] == "uplift_model" and out["expected_gain"].iloc[0] > 0
    codes = [[r["code"] for r in reasons] for reasons in out["reasons"]]
    assert "touch_lowers_purchase" in codes[1] and "touch_experiment" in codes[1]
    # what the run's summary counts as suppressed touches: the code the reasons hold
    assert out["reason_code"].tolist()[1] == "touch_lowers_purchase"
    assert out["reason_code"].tolist()[0] != "touch_lowers_purchase"
    assert any("do not contact" in t for t in reason_texts(out["reasons"].iloc[1]))
