"""Experiments end to end on a small brand: the definition's checks, stable assignment outside the holdout
with covariates frozen at the start, delivery and exposure, results with the keys other tools read, the
command, and benefit redemptions."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from apps.engagement import guards
from apps.engagement.experiments import (
    arm_indexes,
    experiment_create,
    experiment_results,
    experiment_start,
    hash_positions,
)
from apps.engagement.models import Experiment, ExperimentAssignment
from apps.engagement.services import contact_policy_ensure
from apps.loyalty.models import BenefitGrant
from apps.loyalty.services import benefit_grant_redeem, benefit_grant_revoke
from tests.factories import (
    BenefitFactory,
    CustomerFactory,
    CustomerScoreFactory,
    ModelRunFactory,
    OrderFactory,
)

pytestmark = pytest.mark.django_db

START = datetime(2026, 4, 2, 16, 0, tzinfo=UTC)  # midnight in Shanghai
VARIANT_KEYS = {
    "diff",
    "ci_low",
    "ci_high",
    "p_value",
    "cuped_diff",
    "cuped_ci_low",
    "cuped_ci_high",
    "variance_reduction",
    "rmst_diff_30",
    "logrank_p",
    "hazard_ratio",
}


@pytest.fixture
def world(brand):
    policy = contact_policy_ensure(brand=brand)
    policy.holdout_percent = Decimal("10")
    policy.save()
    run = ModelRunFactory(brand=brand)
    customers = [CustomerFactory(brand=brand, marketing_consent=True) for _ in range(300)]
    for i, c in enumerate(customers):
        CustomerScoreFactory(brand=brand, run=run, customer=c, p_purchase_horizon=0.2 + (i % 5) / 10)
    coupon = BenefitFactory(brand=brand, code="coupon-x", kind="coupon", validity_days=30)
    return brand, policy, run, customers, coupon


def coupon_test(brand, coupon, **overrides):
    values = dict(
        code="coupon-test",
        name="Coupon test",
        starts_at=START,
        ends_at=START + timedelta(days=30),
        secondary_metrics=["revenue", "time_to_purchase"],
        arms=[
            {"code": "control", "is_control": True, "share": 50},
            {"code": "coupon", "share": 50, "treatment": "benefit", "benefit": coupon},
        ],
    )
    values.update(overrides)
    return experiment_create(brand=brand, **values)


@pytest.mark.parametrize(
    "arms, message",
    [
        ([{"code": "a", "is_control": True, "share": 50}, {"code": "b", "share": 40}], "add up to 100"),
        (
            [{"code": "a", "is_control": True, "share": 50}, {"code": "b", "is_control": True, "share": 50}],
            "Exactly one",
        ),
        (
            [
                {"code": "a", "is_control": True, "share": 50},
                {"code": "b", "share": 50, "treatment": "benefit"},
            ],
            "choose one",
        ),
        ([{"code": "a", "is_control": True, "share": 100}], "at least one variant"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field_and_writes_nothing(world, arms, message):
    brand, *_ = world
    with pytest.raises(ValidationError) as caught:
        experiment_create(
            brand=brand, code="x", name="x", starts_at=START, ends_at=START + timedelta(days=1), arms=arms
        )
    assert "arms" in caught.value.message_dict
    assert message in caught.value.message_dict["arms"][0]
    assert not Experiment.objects.filter(brand=brand).exists()


def test_assignment_is_stable_leaves_out_the_holdout_and_freezes_covariates_at_the_start(world):
    brand, policy, run, customers, coupon = world
    early, late = customers[0], customers[1]
    OrderFactory(
        brand=brand, customer=early, placed_at=START - timedelta(days=10), total_amount=Decimal("80")
    )
    OrderFactory(
        brand=brand, customer=early, placed_at=START - timedelta(days=200), total_amount=Decimal("999")
    )
    OrderFactory(brand=brand, customer=late, placed_at=START + timedelta(days=2), total_amount=Decimal("50"))
    experiment = coupon_test(brand, coupon)
    started = experiment_start(experiment=experiment, at=START)
    assert started["started"] and sum(started["arms"].values()) > 200
    assert experiment_start(experiment=experiment, at=START)["started"] is False  # a second start is a no-op

    rows = ExperimentAssignment.objects.filter(experiment=experiment).select_related("arm", "customer")
    ids = np.array([c.pk for c in customers])
    held = set(ids[guards.holdout_mask(ids, policy.holdout_salt, 10.0)].tolist())
    assigned = {r.customer_id: r for r in rows}
    assert held and not held & set(assigned)  # nobody of the follow-up holdout is in the experiment
    assert set(assigned) == set(ids.tolist()) - held
    # the arm is the hash of the code and the external id: the same after any re-import
    expected = arm_indexes(hash_positions("coupon-test", [r.customer.external_id for r in rows]), [50, 50])
    assert [r.arm.code for r in rows] == [["control", "coupon"][i] for i in expected]
    # covariates as they stood at the start: the pre-period (90 days) only, no later order
    if early.pk in assigned:
        assert assigned[early.pk].pre_revenue == Decimal("80") and assigned[early.pk].pre_orders == 1
    if late.pk in assigned:
        assert assigned[late.pk].pre_revenue == 0
    # delivery: the coupon arm got the coupon at the start (exposure), control is exposed at assignment
    for r in rows:
        if r.arm.code == "coupon":
            assert r.benefit_grant is not None and r.benefit_grant.granted_at == START == r.exposed_at
        else:
            assert r.benefit_grant_id is None and r.exposed_at == START


def test_results_count_only_what_happened_by_the_moment_asked_and_carry_every_key(
    world, django_assert_num_queries
):
    brand, _policy, _run, _customers, coupon = world
    experiment = coupon_test(brand, coupon)
    experiment_start(experiment=experiment, at=START)
    rows = list(ExperimentAssignment.objects.filter(experiment=experiment).select_related("arm"))
    rng = np.random.default_rng(3)
    bought = []
    for r in rows:
        p = 0.45 if r.arm.code == "coupon" else 0.25
        if rng.random() < p:
            when = START + timedelta(days=float(rng.uniform(0.5, 25)))
            OrderFactory(brand=brand, customer=r.customer, placed_at=when, total_amount=Decimal("100"))
            bought.append((r.arm.code, when))
    at = START + timedelta(days=40)
    # the arms; the outcomes stream through COPY, which Django's query capture does not see (one more statement)
    with django_assert_num_queries(1):
        results = experiment_results(experiment=experiment, at=at)
    for code in ("control", "coupon"):
        arm = results["arms"][code]
        assert {"n", "conversions", "conversion_rate"} <= set(arm)
        assert arm["conversions"] == sum(1 for a, _ in bought if a == code)
        assert arm["conversion_rate"] == pytest.approx(arm["conversions"] / arm["n"], abs=1e-6)
    variant = results["variants"]["coupon"]
    assert set(variant) >= VARIANT_KEYS
    assert variant["diff"] == pytest.approx(
        results["arms"]["coupon"]["conversion_rate"] - results["arms"]["control"]["conversion_rate"], abs=1e-5
    )
    assert variant["ci_low"] < variant["diff"] < variant["ci_high"]
    assert variant["hazard_ratio"] > 1 and variant["rmst_diff_30"] < 0
    assert 0 <= results["srm_p"] <= 1
    # ten days in, purchases after day ten are not known yet
    early = experiment_results(experiment=experiment, at=START + timedelta(days=10))
    assert early["arms"]["coupon"]["conversions"] == sum(
        1 for a, w in bought if a == "coupon" and w < START + timedelta(days=10)
    )
    assert early["variants"]["coupon"]["rmst_diff_30"] is None
    assert "coupon.rmst_diff_30" in early["unavailable"]


def test_the_command_prints_json_with_the_documented_keys_and_names_unknown_experiments(world, capsys):
    brand, _policy, _run, _customers, coupon = world
    experiment_start(experiment=coupon_test(brand, coupon), at=START)
    call_command("experiment_results", brand=brand.slug, experiment="coupon-test", format="json")
    data = json.loads(capsys.readouterr().out)
    assert {"arms", "variants", "srm_p"} <= set(data)
    assert set(data["variants"]["coupon"]) >= VARIANT_KEYS
    call_command("experiment_results", brand=brand.slug, experiment="coupon-test")
    table = capsys.readouterr().out
    assert "coupon" in table
    # the primary metric by name, not its code
    assert "Against control (Conversion within the window)" in " ".join(table.split())
    with pytest.raises(CommandError, match="coupon-test"):
        call_command("experiment_results", brand=brand.slug, experiment="nope")


def test_a_grant_is_redeemed_once_and_never_after_revocation_or_expiry(world):
    brand, _policy, _run, customers, coupon = world
    when = START + timedelta(days=1)
    grant = BenefitGrant.objects.create(
        brand=brand,
        customer=customers[0],
        benefit=coupon,
        granted_at=START,
        expires_at=START + timedelta(days=30),
    )
    benefit_grant_redeem(grant=grant, when=when)
    assert BenefitGrant.objects.get(pk=grant.pk).redeemed_at == when
    benefit_grant_redeem(grant=grant, when=when)  # a retry changes nothing
    with pytest.raises(ValidationError, match="already redeemed"):
        benefit_grant_redeem(grant=grant, when=when + timedelta(hours=1))
    other = BenefitGrant.objects.create(
        brand=brand,
        customer=customers[1],
        benefit=coupon,
        granted_at=START,
        expires_at=START + timedelta(days=30),
    )
    with pytest.raises(ValidationError, match="expired"):
        benefit_grant_redeem(grant=other, when=START + timedelta(days=31))
    with pytest.raises(ValidationError, match="before the grant"):
        benefit_grant_redeem(grant=other, when=START - timedelta(days=1))
    benefit_grant_revoke(grant=other, when=when)
    with pytest.raises(ValidationError, match="revoked"):
        benefit_grant_redeem(grant=other, when=when)
