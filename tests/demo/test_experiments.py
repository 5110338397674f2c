"""The demo's experiments with a known effect: demo-coupon (finished) is started on the first demo refresh's
scores, the coupon's extra purchases are played out and redeem the coupon, and the measured difference in
conversion covers the stored true effect; demo-aa (running) shows no difference and no sample-ratio mismatch.
CUPED and CUPAC reduce the variance on the demo brand."""

from datetime import date

import pytest
from django.core.management import call_command

from apps.demo.models import DemoTruth
from apps.engagement.experiments import experiment_results
from apps.engagement.models import Experiment, ExperimentAssignment
from apps.loyalty.models import BenefitGrant

pytestmark = pytest.mark.django_db

END = date(2026, 6, 30)


def test_the_demo_coupon_experiment_covers_its_true_effect_and_the_a_a_test_finds_nothing(capsys):
    call_command("seed_demo", brand="ex", customers=5000, seed=42, end=END, score=True)
    assert "demo-coupon" in capsys.readouterr().out
    truth = DemoTruth.objects.get(brand__slug="ex").params["experiments"]
    coupon = Experiment.objects.get(brand__slug="ex", code="demo-coupon")
    aa = Experiment.objects.get(brand__slug="ex", code="demo-aa")
    assert (coupon.status, aa.status) == ("finished", "running")
    # covariates come from the first refresh, published before the start: nothing after the start leaks in
    from apps.analytics.models import ModelRun

    assert ModelRun.objects.get(pk=coupon.run_id).cutoff <= coupon.starts_at
    results = experiment_results(experiment=coupon)
    v = results["variants"]["coupon"]
    effect = truth["demo-coupon"]["true_effect"]
    assert effect is not None and effect > 0.03
    assert v["ci_low"] <= effect <= v["ci_high"], (v, effect)
    assert v["ci_low"] > 0 and v["logrank_p"] < 0.05 and v["hazard_ratio"] > 1
    assert v["variance_reduction"] > 0.05 and v["cupac_variance_reduction"] >= v["variance_reduction"] - 0.01
    assert results["srm_p"] > 0.001
    # the coupon's extra purchases redeemed their grants: redemption is an outcome too
    redeemed = BenefitGrant.objects.filter(
        brand__slug="ex", experiment_assignments__experiment=coupon, redeemed_at__isnull=False
    ).count()
    assert redeemed == truth["demo-coupon"]["extra_orders"] > 0
    assert not ExperimentAssignment.objects.filter(
        experiment=coupon, arm__is_control=True, benefit_grant__isnull=False
    ).exists()
    null = experiment_results(experiment=aa)
    w = null["variants"]["a2"]
    assert w["ci_low"] <= 0 <= w["ci_high"] and null["srm_p"] > 0.001
