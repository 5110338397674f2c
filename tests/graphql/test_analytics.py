"""Analytics over GraphQL: model runs, stored-score reports (distribution, transitions, at-risk list) and
refreshScores; who may call them, and brand isolation. Hand-made runs and scores, values checked by hand."""

from datetime import date
from decimal import Decimal

import pytest

from apps.analytics.models import ModelRun
from tests.factories import (
    CustomerFactory,
    CustomerScoreFactory,
    ModelRunFactory,
    TierFactory,
    clv_percentiles_set,
)
from tests.graphql.conftest import NEEDS_ANALYST, error_of, run_query
from tests.scenarios import gid

pytestmark = pytest.mark.django_db

METRICS = {
    "start": "2025-08-20T00:00:00+08:00",
    "overall": {
        "model": {
            "customers": 120,
            "harrell_c": 0.71,
            "auc_horizon": 0.8,
            "revenue_actual": 12345.678,
            "reliability": [],
            "td_auc": {"30": 0.7},
        },
        "kaplan_meier_by_stage": {"customers": 120, "harrell_c": 0.64},
        "naive_rfm": {"customers": 120, "harrell_c": 0.6, "revenue_error": -0.1},
    },
    "growth": {
        "model": {"customers": 40, "harrell_c": 0.68},
        "naive_rfm": {"customers": 40, "harrell_c": 0.55},
    },
}
STAGE_MODELS = {
    "growth": [
        {
            "feature": "log_interactions_30d",
            "coef": -0.2,
            "hazard_ratio": 0.9,
            "hazard_ratio_per_sd": 0.8,
            "sd": 1.1,
        },
        {
            "feature": "community_member",
            "coef": 0.4,
            "hazard_ratio": 1.5,
            "hazard_ratio_per_sd": 1.2,
            "sd": 0.5,
        },
    ]
}


@pytest.fixture
def runs(brand, other_brand):
    old = ModelRunFactory(brand=brand, status="superseded", as_of=date(2026, 1, 31))
    current = ModelRunFactory(
        brand=brand,
        as_of=date(2026, 2, 28),
        metrics=METRICS,
        stage_models=STAGE_MODELS,
        data_sufficiency={
            "growth": {"rows": 900, "events": 300, "model": "coxph", "features_dropped": ["age_unknown"]}
        },
        timings={"fit": 1.5, "write scores": 0.25},
        customers_scored=6,
    )
    rival = ModelRunFactory(brand=other_brand, as_of=date(2026, 2, 27))
    return {"old": old, "current": current, "rival": rival}


RUNS = """query($status: RunStatus) { modelRuns(status: $status) { totalCount edges { node {
  id kind status published asOf horizonDays estimator customersScored
  dataSufficiency { stage rows events model featuresDropped }
  timings { phase seconds }
  metricsOverall { group model { customers harrellC aucHorizon revenueActual { amount currency } }
                   kaplanMeierByStage { harrellC }
                   naiveRfm { harrellC revenueError } }
  metricsByStage { group model { harrellC } naiveRfm { harrellC } kaplanMeierByStage { harrellC } }
  hazardFactors(stage: GROWTH) { feature label hazardRatio per effectPercent direction }
} } } }"""


def test_viewer_reads_model_runs_with_metrics_and_hazard_factors(as_role, runs):
    body = run_query(as_role("viewer"), RUNS, status="PUBLISHED")
    assert "errors" not in body, body
    assert body["data"]["modelRuns"]["totalCount"] == 1
    node = body["data"]["modelRuns"]["edges"][0]["node"]
    assert node == {
        "id": gid("ModelRun", runs["current"]),
        "kind": "REFRESH",
        "status": "PUBLISHED",
        "published": True,
        "asOf": "2026-02-28",
        "horizonDays": 90,
        "estimator": "COXPH",
        "customersScored": 6,
        "dataSufficiency": [
            {
                "stage": "growth",
                "rows": 900,
                "events": 300,
                "model": "coxph",
                "featuresDropped": ["age_unknown"],
            }
        ],
        "timings": [{"phase": "fit", "seconds": 1.5}, {"phase": "write scores", "seconds": 0.25}],
        "metricsOverall": {
            "group": "overall",
            "model": {
                "customers": 120,
                "harrellC": 0.71,
                "aucHorizon": 0.8,
                "revenueActual": {"amount": "12345.68", "currency": "CNY"},
            },
            "kaplanMeierByStage": {"harrellC": 0.64},
            "naiveRfm": {"harrellC": 0.6, "revenueError": -0.1},
        },
        "metricsByStage": [
            {
                "group": "growth",
                "model": {"harrellC": 0.68},
                "naiveRfm": {"harrellC": 0.55},
                "kaplanMeierByStage": None,
            }
        ],
        # binary features per unit, continuous ones per standard deviation; strongest first
        "hazardFactors": [
            {
                "feature": "community_member",
                "label": "member of a community",
                "hazardRatio": 1.5,
                "per": "UNIT",
                "effectPercent": 50.0,
                "direction": "MORE_LIKELY_TO_BUY",
            },
            {
                "feature": "log_interactions_30d",
                "label": "comments, likes and shares in the last 30 days (log)",
                "hazardRatio": 0.8,
                "per": "SD",
                "effectPercent": -20.0,
                "direction": "LESS_LIKELY_TO_BUY",
            },
        ],
    }


def test_model_runs_are_scoped_to_the_callers_brand(as_role, runs, other_brand):
    query = "{ modelRuns { totalCount edges { node { id status } } } }"
    acme = run_query(as_role("viewer"), query)["data"]["modelRuns"]
    assert {e["node"]["id"] for e in acme["edges"]} == {
        gid("ModelRun", runs["old"]),
        gid("ModelRun", runs["current"]),
    }
    rival = run_query(as_role("viewer", other_brand), query)["data"]["modelRuns"]
    assert rival == {
        "totalCount": 1,
        "edges": [{"node": {"id": gid("ModelRun", runs["rival"]), "status": "PUBLISHED"}}],
    }


# --- Reports on stored scores -----------------------------------------------------------------------------


def test_tier_stage_distribution_counts_the_published_scores(as_role, brand, runs):
    gold = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    for stage, tier, n in [("growth", gold, 3), ("maturity", gold, 1), ("decline", None, 2)]:
        for _ in range(n):
            CustomerScoreFactory(run=runs["current"], stage=stage, tier=tier)
    CustomerScoreFactory(run=runs["old"], stage="churned", tier=gold)  # superseded: not counted
    CustomerScoreFactory(run=runs["rival"], stage="growth")
    body = run_query(
        as_role("viewer"),
        """query($b: ID!) { tierStageDistribution(brand: $b) { runId asOf total
             cells { tierId tierName stage customers } } }""",
        b=gid("Brand", brand),
    )
    assert body["data"]["tierStageDistribution"] == {
        "runId": gid("ModelRun", runs["current"]),
        "asOf": "2026-02-28",
        "total": 6,
        "cells": [
            {"tierId": gid("Tier", gold), "tierName": "Gold", "stage": "GROWTH", "customers": 3},
            {"tierId": gid("Tier", gold), "tierName": "Gold", "stage": "MATURITY", "customers": 1},
            {"tierId": None, "tierName": None, "stage": "DECLINE", "customers": 2},
        ],
    }


MATRIX = """query($b: ID!, $start: Date!, $end: Date!) { stageTransitionMatrix(brand: $b, start: $start, end: $end) {
  fromRunId toRunId fromAsOf toAsOf cells { fromStage toStage customers } } }"""


def test_stage_transition_matrix_between_two_published_runs(as_role, brand, runs):
    moves = [("growth", "maturity"), ("growth", "growth"), ("decline", "churned"), (None, "introduction")]
    for before, after in moves:
        customer = CustomerFactory(brand=brand)
        if before:
            CustomerScoreFactory(run=runs["old"], customer=customer, stage=before)
        CustomerScoreFactory(run=runs["current"], customer=customer, stage=after)
    body = run_query(as_role("viewer"), MATRIX, b=gid("Brand", brand), start="2026-02-01", end="2026-03-01")
    data = body["data"]["stageTransitionMatrix"]
    assert (data["fromRunId"], data["toRunId"], data["fromAsOf"], data["toAsOf"]) == (
        gid("ModelRun", runs["old"]),
        gid("ModelRun", runs["current"]),
        "2026-01-31",
        "2026-02-28",
    )
    assert len(data["cells"]) == 6 * 5
    moved = sorted(
        (c["fromStage"] or "", c["toStage"], c["customers"]) for c in data["cells"] if c["customers"]
    )
    assert moved == [
        ("", "INTRODUCTION", 1),
        ("DECLINE", "CHURNED", 1),
        ("GROWTH", "GROWTH", 1),
        ("GROWTH", "MATURITY", 1),
    ]


def test_stage_transition_matrix_needs_published_scores(as_role, brand, runs):
    body = run_query(as_role("viewer"), MATRIX, b=gid("Brand", brand), start="2025-11-01", end="2025-12-31")
    assert error_of(body) == "No published scores as of 2025-12-31."
    body = run_query(as_role("viewer"), MATRIX, b=gid("Brand", brand), start="2026-03-01", end="2026-02-01")
    assert error_of(body) == "The start date is after the end date."


AT_RISK = """query($b: ID!, $pct: Float, $clvPct: Float) {
  atRiskCustomers(brand: $b, minValuePercentile: $pct, minClvPercentile: $clvPct, first: 10) {
    runId totalCount customers {
      customerId clv { amount currency } churnProbability spendToDate { amount currency } purchasesToDate
      valueAtRisk { amount currency } valuePercentile clvPercentile stage tierId
    } } }"""


def test_the_win_back_list_ranks_what_customers_have_been_worth_times_churn(as_role, brand, runs):
    # given spend to date 100..1000 (the share of customers who spent less: 0%..90%) and a CLV that, as the
    # engine's does, already discounts churn: the likely leavers have a low CLV
    churn = {100: 0.99, 800: 0.99, 900: 0.9, 1000: 0.6, 700: 0.2}
    customers = {}
    for spend in range(100, 1001, 100):
        p = churn.get(spend, 0.1)
        score = CustomerScoreFactory(
            run=runs["current"],
            monetary_total=Decimal(spend),
            clv=Decimal(round(spend * 2 * (1 - p))),
            churn_probability=p,
        )
        customers[spend] = score.customer
    CustomerScoreFactory(run=runs["rival"], monetary_total=Decimal(5000), churn_probability=0.99)
    clv_percentiles_set(runs["current"])
    clv_percentiles_set(runs["rival"])
    client = as_role("viewer")
    data = run_query(client, AT_RISK, b=gid("Brand", brand))["data"]["atRiskCustomers"]
    # then the top 20% by spend (900: 80%, 1000: 90%) with churn ≥ 0.5 are listed, 900 × 0.9 = 810 before
    # 1000 × 0.6 = 600, although neither is in the top 20% by CLV
    assert data == {
        "runId": gid("ModelRun", runs["current"]),
        "totalCount": 2,
        "customers": [
            {
                "customerId": gid("Customer", customers[900]),
                "clv": {"amount": "180.00", "currency": "CNY"},
                "churnProbability": 0.9,
                "spendToDate": {"amount": "900.00", "currency": "CNY"},
                "purchasesToDate": 2,
                "valueAtRisk": {"amount": "810.00", "currency": "CNY"},
                "valuePercentile": 80.0,
                "clvPercentile": 20.0,
                "stage": "GROWTH",
                "tierId": None,
            },
            {
                "customerId": gid("Customer", customers[1000]),
                "clv": {"amount": "800.00", "currency": "CNY"},
                "churnProbability": 0.6,
                "spendToDate": {"amount": "1000.00", "currency": "CNY"},
                "purchasesToDate": 2,
                "valueAtRisk": {"amount": "600.00", "currency": "CNY"},
                "valuePercentile": 90.0,
                "clvPercentile": 60.0,
                "stage": "GROWTH",
                "tierId": None,
            },
        ],
    }
    wider = run_query(client, AT_RISK, b=gid("Brand", brand), pct=70)["data"]["atRiskCustomers"]
    assert [c["customerId"] for c in wider["customers"]] == [
        gid("Customer", customers[spend]) for spend in (900, 800, 1000)
    ]
    # the deprecated CLV floor still narrows the list
    narrow = run_query(client, AT_RISK, b=gid("Brand", brand), clvPct=50)["data"]["atRiskCustomers"]
    assert [c["customerId"] for c in narrow["customers"]] == [gid("Customer", customers[1000])]


def test_without_amounts_the_win_back_list_ranks_purchases_and_leaves_money_null(as_role, brand, runs):
    for n, p in ((1, 0.9), (8, 0.7), (9, 0.6), (10, 0.2), *((k, 0.9) for k in range(2, 8))):
        CustomerScoreFactory(
            run=runs["current"], monetary_total=None, clv=None, orders_count=n, churn_probability=p
        )
    clv_percentiles_set(runs["current"])
    data = run_query(as_role("viewer"), AT_RISK, b=gid("Brand", brand))["data"]["atRiskCustomers"]
    # purchases 9 (80%) and 10 (90%) are the top 20%; 10 is unlikely to leave; 9 × 0.6 is the only one
    assert data["totalCount"] == 1
    [row] = data["customers"]
    assert (
        row["purchasesToDate"],
        row["spendToDate"],
        row["valueAtRisk"],
        row["clv"],
        row["clvPercentile"],
    ) == (
        9,
        None,
        None,
        None,
        None,
    )


def test_at_risk_list_is_empty_before_the_first_publish(as_role, brand):
    data = run_query(as_role("viewer"), AT_RISK, b=gid("Brand", brand))["data"]["atRiskCustomers"]
    assert data == {"runId": None, "totalCount": 0, "customers": []}


@pytest.mark.parametrize(
    "query",
    [
        "query($b: ID!) { tierStageDistribution(brand: $b) { total } }",
        "query($b: ID!) { atRiskCustomers(brand: $b) { totalCount } }",
        'query($b: ID!) { stageTransitionMatrix(brand: $b, start: "2026-01-01", end: "2026-02-01") { toAsOf } }',
    ],
)
def test_another_brands_member_gets_no_such_brand(as_role, brand, other_brand, runs, query):
    body = run_query(as_role("manager", other_brand), query, b=gid("Brand", brand))
    assert error_of(body) == "No such brand."
    assert body["data"] is None


# --- refreshScores ------------------------------------------------------------------------------------------

REFRESH = """mutation($b: ID!, $asOf: Date, $h: Int) { refreshScores(brand: $b, asOf: $asOf, horizonDays: $h) {
  queued run { status published asOf horizonDays message triggeredBy } } }"""


def test_analyst_refreshes_and_gets_the_run(as_role, brand):
    # too few purchases: the refresh runs and is skipped, saying why
    body = run_query(as_role("analyst"), REFRESH, b=gid("Brand", brand), asOf="2026-02-28", h=60)
    assert "errors" not in body, body
    assert body["data"]["refreshScores"] == {
        "queued": False,
        "run": {
            "status": "SKIPPED",
            "published": False,
            "asOf": "2026-02-28",
            "horizonDays": 60,
            "message": "No paid purchase up to 2026-02-28: there is nothing to score yet.",
            "triggeredBy": "graphql:analyst-acme",
        },
    }
    assert ModelRun.objects.filter(brand=brand, status="skipped").count() == 1


def test_refresh_roles_brands_and_arguments(as_role, brand, other_brand):
    assert error_of(run_query(as_role("viewer"), REFRESH, b=gid("Brand", brand))) == NEEDS_ANALYST
    assert (
        error_of(run_query(as_role("manager", other_brand), REFRESH, b=gid("Brand", brand)))
        == "No such brand."
    )
    client = as_role("manager")
    assert (
        error_of(run_query(client, REFRESH, b=gid("Brand", brand), h=5))
        == "horizonDays: between 7 and 365 days."
    )
    body = run_query(client, REFRESH, b=gid("Brand", brand), asOf="2150-01-01")
    assert error_of(body) == "asOf: the date cannot be in the future."
    assert not ModelRun.objects.exists()


AT_RISK_NODES = """query($b: ID!) { atRiskCustomers(brand: $b, minValuePercentile: 0, minChurnProbability: 0, first: 100) {
  customers { valueAtRisk { amount } customer { id externalId clv { amount currency } stage orders(first: 2) { totalCount edges { node { id } } } } } } }"""


def test_at_risk_customers_load_their_customer_nodes_in_a_flat_number_of_queries(
    as_role, brand, runs, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_role("viewer")

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            body = run_query(client, AT_RISK_NODES, b=gid("Brand", brand))
        assert "errors" not in body, body
        return len(ctx.captured_queries), body["data"]["atRiskCustomers"]["customers"]

    CustomerScoreFactory(
        run=runs["current"], clv=Decimal(500), churn_probability=0.8, customer__external_id="VIP"
    )
    clv_percentiles_set(runs["current"])
    few, customers = count_queries()
    assert customers[0]["customer"]["externalId"] == "VIP"
    assert customers[0]["customer"]["clv"] == {"amount": "500.00", "currency": "CNY"}
    assert customers[0]["customer"]["stage"] == "GROWTH"
    assert customers[0]["customer"]["orders"] == {"totalCount": 0, "edges": []}
    for n in range(20):
        CustomerScoreFactory(run=runs["current"], clv=Decimal(100 + n), churn_probability=0.9)
    clv_percentiles_set(runs["current"])
    many, customers = count_queries()
    assert len(customers) == 21
    assert many == few


def test_with_a_broker_the_refresh_is_queued_for_the_workers(
    as_role, brand, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.analytics import tasks

    queued = []
    monkeypatch.setattr(tasks, "broker_check", lambda: None)
    monkeypatch.setattr(tasks.refresh_scores_task, "delay", lambda *args, **kw: queued.append((args, kw)))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client = as_role("analyst")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        body = run_query(client, REFRESH, b=gid("Brand", brand), asOf="2026-02-28", h=30)
    # the pending run comes back at once, so the app can follow it
    run = ModelRun.objects.get()
    assert body["data"]["refreshScores"] == {
        "queued": True,
        "run": {
            "status": "PENDING",
            "published": False,
            "asOf": "2026-02-28",
            "horizonDays": 30,
            "message": "",
            "triggeredBy": "graphql:analyst-acme",
        },
    }
    # queued once the request's transaction commits, saying who asked and which run to fill
    assert len(callbacks) == 1
    assert queued == [
        ((brand.pk, "2026-02-28", 30), {"triggered_by": "graphql:analyst-acme", "run_id": run.pk})
    ]
    # asking again while it waits returns the same run and queues nothing
    with django_capture_on_commit_callbacks(execute=True):
        again = run_query(client, REFRESH, b=gid("Brand", brand), asOf="2026-02-28", h=30)
    assert again["data"]["refreshScores"]["queued"] is True and len(queued) == 1
    assert ModelRun.objects.count() == 1
