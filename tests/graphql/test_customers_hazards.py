"""A customer's hazard factors: the covariates that move their chance of buying again most under their
stage's model in the published run, measured at the run's cutoff like the scores."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from apps.analytics.features import FEATURE_NAMES, FEATURES
from apps.analytics.selectors import customer_frame
from apps.analytics.survival.engine import Engine, StageFit
from apps.analytics.survival.models import KAPLAN_MEIER, SurvivalModel
from apps.analytics.survival.stages import StageRules
from apps.customers.graphql import types as customer_types
from tests.graphql.conftest import gql
from tests.scenarios import data, gid

QUERY = """query($id: ID!) { customer(id: $id) {
  stage hazardFactors { feature label value average hazardRatio effect } } }"""

COEF = {"log_orders": 1.2, "log_tenure_days": -0.8, "log_watch_hours_30d": 0.6, "engaged_5plus": -0.3}


def _cox(features, coef, center, scale):
    return SurvivalModel(
        kind="coxph",
        features=tuple(features),
        dropped_features=(),
        center=np.asarray(center, float),
        scale=np.asarray(scale, float),
        n_samples=500,
        n_events=300,
        coef=np.asarray(coef, float),
    )


@pytest.fixture
def fitted(world):  # noqa: F811
    """The published run carries a fitted engine: CoxPH for maturity (Alice), Kaplan-Meier for decline (Bob)."""
    n = len(FEATURE_NAMES)
    coef = [COEF.get(f, 0.01 * (j % 3)) for j, f in enumerate(FEATURE_NAMES)]
    center = [0.5 + 0.1 * j for j in range(n)]
    scale = [1.0 + 0.05 * j for j in range(n)]
    km = SurvivalModel(
        kind=KAPLAN_MEIER,
        features=(),
        dropped_features=(),
        center=np.zeros(0),
        scale=np.ones(0),
        n_samples=50,
        n_events=20,
        baseline_times=np.array([1.0, 30.0]),
        baseline_survival=np.array([0.9, 0.5]),
    )
    engine = Engine(
        rules=StageRules(),
        estimator="coxph",
        params={},
        brand_rhythm=30.0,
        features=list(FEATURE_NAMES),
        stages={
            "maturity": StageFit("maturity", 500, 300, "coxph", _cox(FEATURE_NAMES, coef, center, scale)),
            "decline": StageFit("decline", 50, 20, KAPLAN_MEIER, km),
        },
    )
    run = world.run
    run.engine = pickle.dumps(engine)
    run.stage_models = engine.hazard_ratios()
    run.save()
    return {"coef": coef, "center": center, "scale": scale}


@pytest.mark.parametrize("role", ["viewer", "analyst", "manager"])
def test_hazard_factors_are_this_customers_strongest_covariates(world, fitted, as_role, role):  # noqa: F811
    alice = world.c["alice"]
    customer = data(gql(as_role(role), QUERY, {"id": gid("Customer", alice.pk)}))["customer"]
    assert customer["stage"] == "MATURITY"
    factors = customer["hazardFactors"]
    # What the scores saw: Alice's covariates at the published run's cutoff
    frame = customer_frame(brand=world.brand, cutoff=world.run.cutoff, customer_ids=(alice.pk, alice.pk))
    expected = []
    for j, feature in enumerate(FEATURE_NAMES):
        x = float(frame.iloc[0][feature])
        log_ratio = fitted["coef"][j] * (x - fitted["center"][j]) / fitted["scale"][j]
        expected.append((abs(log_ratio), feature, x, log_ratio))
    expected.sort(reverse=True)
    assert len(factors) == 5
    assert [f["feature"] for f in factors] == [e[1] for e in expected[:5]]
    for factor, (_, feature, x, log_ratio) in zip(factors, expected, strict=False):
        assert factor["label"] == str(FEATURES[feature])
        assert factor["value"] == pytest.approx(x)
        assert factor["average"] == pytest.approx(fitted["center"][FEATURE_NAMES.index(feature)])
        assert factor["hazardRatio"] == pytest.approx(math.exp(log_ratio))
        assert factor["effect"] == ("LOWERS_CHURN" if log_ratio >= 0 else "RAISES_CHURN")
    # three paid purchases by the cutoff: the purchase count pushes towards buying again
    orders = next(f for f in factors if f["feature"] == "log_orders")
    assert orders["label"] == "paid purchases so far (log)" and orders["effect"] == "LOWERS_CHURN"


def test_no_hazard_factors_without_a_cox_model_or_a_score(world, fitted, as_role):  # noqa: F811
    client = as_role("viewer")
    bob = data(gql(client, QUERY, {"id": gid("Customer", world.c["bob"].pk)}))["customer"]
    assert bob == {"stage": "DECLINE", "hazardFactors": []}  # Kaplan-Meier: no covariates
    cai = data(gql(client, QUERY, {"id": gid("Customer", world.c["cai"].pk)}))["customer"]
    assert cai == {"stage": None, "hazardFactors": []}  # not scored


def test_hazard_factors_of_another_brands_customer_are_not_reachable(world, fitted, as_role):  # noqa: F811
    client = as_role("manager", world.other)
    assert data(gql(client, QUERY, {"id": gid("Customer", world.c["alice"].pk)})) == {"customer": None}


def test_hazard_factors_are_limited_per_request(world, fitted, as_role, monkeypatch):  # noqa: F811
    monkeypatch.setattr(customer_types, "MAX_HAZARD_FACTOR_CUSTOMERS", 1)
    body = gql(
        as_role("viewer"),
        "{ customers(filter: {scored: true}) { edges { node { hazardFactors { feature } } } } }",
    ).json()
    assert [e["message"] for e in body["errors"]] == [
        "Hazard factors are available for at most 1 customers per request."
    ]
    one = data(gql(as_role("analyst"), QUERY, {"id": gid("Customer", world.c["alice"].pk)}))
    assert len(one["customer"]["hazardFactors"]) == 5


def _store_covariates(world, customer) -> list:
    """What a refresh keeps with the customer's score: their strongest covariates at the run's cutoff."""
    import json

    from apps.analytics.models import CustomerScore
    from apps.analytics.services import _top_covariates_json

    engine = pickle.loads(world.run.engine)  # noqa: S301 - written by the fixture above
    frame = customer_frame(
        brand=world.brand, cutoff=world.run.cutoff, customer_ids=(customer.pk, customer.pk)
    )
    score = CustomerScore.objects.get(run=world.run, customer=customer)
    stored = json.loads(_top_covariates_json(engine, frame, np.array([score.stage]))[0])
    score.top_covariates = stored
    score.save(update_fields=["top_covariates"])
    return stored


def test_stored_covariates_answer_as_the_features_do_without_a_feature_query(
    world, fitted, as_role, monkeypatch
):  # noqa: F811
    from apps.analytics import selectors

    alice = world.c["alice"]
    variables = {"id": gid("Customer", alice.pk)}
    read_again = data(gql(as_role("analyst"), QUERY, variables))["customer"]["hazardFactors"]
    stored = _store_covariates(world, alice)
    assert len(stored) == 5 and all(len(pair) == 2 for pair in stored)
    bob_stored = _store_covariates(world, world.c["bob"])
    assert bob_stored == []  # Kaplan-Meier for decline: nothing to keep

    def no_feature_query(**_kwargs):
        raise AssertionError("the stored covariates need no feature query")

    monkeypatch.setattr(selectors, "customer_frame", no_feature_query)
    from_scores = data(gql(as_role("analyst"), QUERY, variables))["customer"]["hazardFactors"]
    assert [f["feature"] for f in from_scores] == [f["feature"] for f in read_again]
    for got, want in zip(from_scores, read_again, strict=True):
        assert got["value"] == pytest.approx(want["value"], abs=1e-6)
        assert got["hazardRatio"] == pytest.approx(want["hazardRatio"], rel=1e-5)
        assert (got["label"], got["effect"]) == (want["label"], want["effect"])
    # the per-request limit guards the feature queries: stored covariates are not counted
    monkeypatch.setattr(customer_types, "MAX_HAZARD_FACTOR_CUSTOMERS", 0)
    assert len(data(gql(as_role("viewer"), QUERY, variables))["customer"]["hazardFactors"]) == 5
