"""Experiments through GraphQL as a frontend developer calls them: the list with arms, the results with the
keys of the command, mistakes answered clearly, another brand's experiment as not found; redeeming a grant."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.engagement.experiments import experiment_create, experiment_start
from apps.engagement.services import contact_policy_ensure
from apps.loyalty.models import BenefitGrant
from tests.factories import (
    BenefitFactory,
    CustomerFactory,
    CustomerScoreFactory,
    ModelRunFactory,
    OrderFactory,
)
from tests.graphql.conftest import error_of, run_query
from tests.scenarios import gid

pytestmark = pytest.mark.django_db

START = datetime(2026, 4, 2, 16, 0, tzinfo=UTC)
RESULTS = """query($b: ID!, $code: String!, $at: DateTime) {
  experimentResults(brand: $b, code: $code, at: $at) }"""
LIST = """query($b: ID!) { experiments(brand: $b) { code status primaryMetric
  arms { code isControl share treatment customers } } }"""


@pytest.fixture
def running(brand):
    contact_policy_ensure(brand=brand)
    run = ModelRunFactory(brand=brand)
    for i in range(60):
        customer = CustomerFactory(brand=brand)
        CustomerScoreFactory(brand=brand, run=run, customer=customer)
        if i % 3 == 0:
            OrderFactory(brand=brand, customer=customer, placed_at=START + timedelta(days=3))
    coupon = BenefitFactory(brand=brand, code="coupon-x", kind="coupon")
    experiment = experiment_create(
        brand=brand,
        code="spring-coupon",
        name="Spring coupon",
        starts_at=START,
        ends_at=START + timedelta(days=30),
        arms=[
            {"code": "control", "is_control": True, "share": 50},
            {"code": "coupon", "share": 50, "treatment": "benefit", "benefit": coupon},
        ],
    )
    experiment_start(experiment=experiment, at=START)
    return experiment


def test_a_member_lists_experiments_and_reads_results_with_the_command_keys(as_role, running, brand):
    client = as_role("viewer")
    listed = run_query(client, LIST, b=gid("Brand", brand))["data"]["experiments"]
    assert [e["code"] for e in listed] == ["spring-coupon"]
    arms = listed[0]["arms"]
    assert [a["code"] for a in arms] == ["control", "coupon"] and arms[0]["isControl"]
    assert sum(a["customers"] for a in arms) > 0
    body = run_query(
        client, RESULTS, b=gid("Brand", brand), code="spring-coupon", at="2026-05-10T00:00:00+08:00"
    )
    results = body["data"]["experimentResults"]
    assert results["arms"]["control"]["n"] + results["arms"]["coupon"]["n"] == sum(
        a["customers"] for a in arms
    )
    assert {
        "diff",
        "ci_low",
        "ci_high",
        "p_value",
        "cuped_diff",
        "variance_reduction",
        "logrank_p",
        "hazard_ratio",
    } <= set(results["variants"]["coupon"])
    assert "srm_p" in results
    # instants in the brand's time zone, like every other time of the API (they came back in UTC)
    from datetime import datetime

    for key in ("as_of", "starts_at", "ends_at"):
        instant = datetime.fromisoformat(results[key])
        assert instant.utcoffset() == instant.astimezone(brand.tzinfo).utcoffset(), (key, results[key])
    assert results["as_of"] == "2026-05-10T00:00:00+08:00"


def test_mistakes_and_another_brand_get_clear_errors(as_role, running, brand, other_brand):
    client = as_role("viewer")
    assert error_of(run_query(client, RESULTS, b=gid("Brand", brand), code="nope")) == "No such experiment."
    naive = run_query(client, RESULTS, b=gid("Brand", brand), code="spring-coupon", at="2026-05-10T00:00:00")
    assert "offset" in error_of(naive)
    assert "errors" in run_query(client, RESULTS, b=gid("Brand", other_brand), code="spring-coupon")


def test_a_manager_redeems_a_grant_once_and_a_viewer_cannot(as_role, running, brand):
    grant = BenefitGrant.objects.filter(brand=brand).first()
    mutation = """mutation($id: ID!, $at: DateTime) { redeemBenefitGrant(id: $id, redeemedAt: $at) { redeemedAt } }"""
    at = "2026-04-05T10:00:00+08:00"
    assert "errors" in run_query(as_role("viewer"), mutation, id=gid("BenefitGrant", grant), at=at)
    manager = as_role("manager")
    body = run_query(manager, mutation, id=gid("BenefitGrant", grant), at=at)
    assert body["data"]["redeemBenefitGrant"]["redeemedAt"].startswith("2026-04-05")
    again = run_query(manager, mutation, id=gid("BenefitGrant", grant), at="2026-04-06T10:00:00+08:00")
    assert "already redeemed" in error_of(again)
    late = BenefitGrant.objects.filter(brand=brand, redeemed_at__isnull=True).first()
    assert "expired" in error_of(
        run_query(manager, mutation, id=gid("BenefitGrant", late), at="2027-01-01T00:00:00+08:00")
    )
    assert BenefitGrant.objects.get(pk=late.pk).redeemed_at is None
