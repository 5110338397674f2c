"""Purchase logs shaped as real ones are and generators rarely make them (one acquisition cohort, mostly
one-time buyers, several orders on one day, short history, no amounts): the refresh publishes scores, the
backtest judges what it can, and whatever cannot be judged is absent with its reason. Each test reproduces a
failure of the engine before it learned to hold (the error it raised is in its docstring)."""

import json
from datetime import date, timedelta

import numpy as np
import pytest
from django.core.management import call_command

from apps.analytics.models import CustomerScore, RunStatus
from apps.analytics.services import backtest_run, scores_refresh
from apps.analytics.sufficiency import sufficiency_checks
from apps.analytics.survival.evaluation import evaluate
from apps.brands.models import Brand
from apps.demo.classic_world import ClassicWorldParams
from apps.demo.services import demo_seed

pytestmark = pytest.mark.django_db

END = date(2026, 6, 30)  # the simulation ends here; its period starts 18 months earlier (2024-12-31)
FIRST_DAY = date(2024, 12, 31)


def classic_brand(slug="shapes", customers=1500, seed=3, **params):
    """A brand from the classic world: one cohort acquired in the first 90 days, BG/NBD purchases."""
    demo_seed(slug=slug, customers=customers, seed=seed, end_date=END, classic=ClassicWorldParams(**params))
    return Brand.objects.get(slug=slug)


def test_short_history_before_the_holdout_shortens_it_and_the_scores_are_published():
    """Was: ValueError("no repeat purchases to fit"): the holdout's fit point fell before the first order."""
    brand = classic_brand()
    # as of 150 days after the first orders: the wanted holdout (187 days) would start before any of them
    run = scores_refresh(brand=brand, as_of=FIRST_DAY + timedelta(days=150), horizon_days=90)
    assert run.status == RunStatus.PUBLISHED and run.customers_scored > 0
    holdout = run.metrics["holdout"]
    assert holdout["status"] == "shortened" and holdout["reason"] == "history_too_short"
    assert holdout["window_days"] < holdout["wanted_days"] == 187
    assert run.metrics["overall"]["model"]["auc_horizon"] is not None
    checks = {c.part: c for c in sufficiency_checks(run)}
    assert checks["holdout"].outcome == "shortened"
    assert f"Judged on the last {holdout['window_days']} days instead of 187" in checks["holdout"].message


def test_too_little_history_for_any_holdout_still_publishes_and_says_so():
    brand = classic_brand()
    run = scores_refresh(brand=brand, as_of=FIRST_DAY + timedelta(days=20), horizon_days=30)
    assert run.status == RunStatus.PUBLISHED
    # 20 days of history: recommendations are made, but there is no held-out month to judge them, and it says so
    assert run.metrics["recommendations"]["unavailable"].startswith("Not enough order lines")
    assert run.metrics["recommendations"]["customers_with_recommendations"] > 0
    assert run.metrics["next_actions"]["customers"] == run.customers_scored
    assert {k: v for k, v in run.metrics.items() if k not in ("recommendations", "next_actions")} == {
        "holdout": {**run.metrics["holdout"], "status": "none", "window_days": None},
        # the classic world has no live streams: no prospects, and it says so
        "prospects": {
            "horizon_days": 30,
            "prospects": 0,
            "reasons": {"holdout": "no_prospects", "scores": "no_prospects"},
            "scored_by": None,
        },
    }
    assert run.params["calibration"] is None and run.params["calibration_reason"] == "history_too_short"
    assert {c.part: c.outcome for c in sufficiency_checks(run)}["holdout"] == "not_judged"


def test_ipcw_metrics_are_judged_only_inside_the_censoring_support():
    """Was: ValueError("censoring survival function is zero at one or more time points") from
    scikit-survival's IPCW: the follow-up went on past the longest (censored) training gap."""
    rng = np.random.default_rng(0)
    # training gaps never longer than 100 days, the longest censored: the censoring survival is 0 from 100 on
    train_duration = np.concatenate([rng.uniform(1, 99, 400), [100.0]])
    train_event = np.concatenate([rng.random(400) < 0.6, [False]])
    # the judged customers are followed for 187 days
    duration = rng.uniform(1, 187, 600)
    event = rng.random(600) < 0.5
    duration[~event] = 187.0
    p = np.clip(0.5 + 0.3 * rng.standard_normal(600), 0.01, 0.99)
    curve = np.clip(1.0 - p[:, None] * np.linspace(0.2, 1.0, 13)[None, :], 0, 1)
    grid = np.array([7, 14, 21, 30, 45, 60, 90, 120, 150, 180, 240, 300, 365], float)
    figures = evaluate(
        duration=duration,
        event=event,
        revenue_horizon=np.zeros(600),
        p_purchase_horizon=p,
        expected_revenue_horizon=np.zeros(600),
        horizon_days=90,
        train_duration=train_duration,
        train_event=train_event,
        survival_curve=curve,
        grid_days=grid,
    )
    # the figures inside the support exist; AUC at 180 days (past it) is absent and says why
    assert figures["uno_c"] is not None and figures["integrated_brier"] is not None
    assert set(figures["td_auc"]) == {"30", "90"}
    assert figures["reasons"]["td_auc"] == "ipcw_support"
    assert figures["harrell_c"] is not None and figures["auc_horizon"] is not None


def test_a_log_without_amounts_predicts_purchases_and_leaves_revenue_unknown():
    """Was: amounts of 0 read as facts (revenue, spend and CLV of 0)."""
    brand = classic_brand(amounts=False)
    run = scores_refresh(brand=brand, as_of=date(2026, 3, 31), horizon_days=90)
    assert run.status == RunStatus.PUBLISHED and run.params["amounts_known"] is False
    scores = CustomerScore.objects.filter(run=run)
    assert not scores.filter(clv__isnull=False).exists()
    assert not scores.filter(expected_revenue_horizon__isnull=False).exists()
    assert not scores.filter(monetary_total__isnull=False).exists()
    assert scores.filter(p_purchase_horizon__gt=0.5).exists()
    model = run.metrics["overall"]["model"]
    assert model["revenue_error"] is None and model["reasons"]["revenue_error"] == "no_amounts"
    assert model["auc_horizon"] > 0.6
    assert {c.part: c.outcome for c in sufficiency_checks(run)}["amounts"] == "unknown"


def test_one_cohort_with_same_day_orders_is_judged_beside_the_classic_model():
    """One acquisition cohort, a fifth of the purchase days with a second order on the same day: the
    backtest judges the model beside Kaplan-Meier and the classic model, and says why naive RFM cannot be
    judged (its previous window lies before the cohort)."""
    brand = classic_brand(same_day_share=0.2)
    run = backtest_run(brand=brand, as_of=date(2025, 6, 30), horizon_days=180)
    assert run.status == RunStatus.SUCCEEDED
    overall = run.metrics["overall"]
    for key in ("model", "kaplan_meier_by_stage", "classic"):
        assert overall[key]["auc_horizon"] > 0.6, key
        assert overall[key]["spearman_purchases"] is not None, key
    assert overall["naive_rfm"]["available"] is False
    assert overall["naive_rfm"]["reason"] == "no_previous_window"


def test_backtest_prints_one_json_object_with_the_agreed_keys(capsys):
    brand = classic_brand(amounts=False)
    call_command(
        "backtest", "--brand", brand.slug, "--as-of", "2025-12-31", "--horizon-days", "90", "--format", "json"
    )
    result = json.loads(capsys.readouterr().out)
    assert set(result["baselines"]) == {"naive_rfm", "kaplan_meier", "classic"}
    for figures in (result["model"], *result["baselines"].values()):
        assert {"auc", "harrell_c", "top_decile_capture", "revenue_error", "brier", "ece"} <= set(figures)
        assert "reasons" in figures
    # no amounts: the revenue figures are null, each with its reason
    assert result["model"]["revenue_error"] is None
    assert result["model"]["reasons"]["revenue_error"] == "the purchase log has no amounts"
    assert result["model"]["reason_codes"]["top_decile_capture"] == "no_amounts"
    assert result["model"]["auc"] > 0.5
    assert result["as_of"] == "2025-12-31" and result["horizon_days"] == 90
