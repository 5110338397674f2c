"""Experiments in the admin as a brand manager uses them: a draft with its arms inline (checked together, the
mistake named), started by the action, read-only once running, and the results page of another brand a 404."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.engagement.models import Experiment, ExperimentAssignment
from tests.admin.conftest import staff
from tests.factories import BenefitFactory, CustomerFactory, CustomerScoreFactory, ModelRunFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/engagement/experiment/add/"


def form(brand, coupon, shares=(50, 50)):
    start = datetime(2026, 4, 2, tzinfo=UTC)
    return {
        "brand": brand.pk,
        "code": "spring",
        "name": "Spring coupon",
        "hypothesis": "",
        "population": "customers",
        "starts_at_0": "2026-04-02",
        "starts_at_1": "00:00:00",
        "ends_at_0": (start + timedelta(days=30)).date().isoformat(),
        "ends_at_1": "00:00:00",
        "primary_metric": "conversion",
        "secondary_metrics": ["revenue"],
        "window_days": 30,
        "pre_period_days": 90,
        "min_detectable_effect": "0.100",
        "alpha": "0.050",
        "arms-TOTAL_FORMS": 2,
        "arms-INITIAL_FORMS": 0,
        "arms-MIN_NUM_FORMS": 2,
        "arms-MAX_NUM_FORMS": 1000,
        "arms-0-code": "control",
        "arms-0-name": "Control",
        "arms-0-is_control": "on",
        "arms-0-share": shares[0],
        "arms-0-treatment": "nothing",
        "arms-1-code": "coupon",
        "arms-1-name": "Coupon",
        "arms-1-share": shares[1],
        "arms-1-treatment": "benefit",
        "arms-1-benefit": coupon.pk,
    }


def test_a_manager_drafts_an_experiment_with_its_arms_and_starts_it(client, brand, other_brand):
    manager = staff("lin", (brand, "manager"))
    client.force_login(manager)
    coupon = BenefitFactory(brand=brand, code="coupon-x", kind="coupon")
    bad = client.post(ADD, form(brand, coupon, shares=(50, 40)))
    assert (
        bad.status_code == 200
        and "The traffic shares add up to 100 (they add up to 90)." in bad.content.decode()
    )
    assert not Experiment.objects.exists()
    created = client.post(ADD, form(brand, coupon))
    assert created.status_code == 302, created.content.decode()[:3000]
    experiment = Experiment.objects.get(brand=brand, code="spring")
    assert sorted(experiment.arms.values_list("code", flat=True)) == ["control", "coupon"]
    run = ModelRunFactory(brand=brand)
    for _ in range(20):
        CustomerScoreFactory(brand=brand, run=run, customer=CustomerFactory(brand=brand))
    started = client.post(
        "/admin/engagement/experiment/", {"action": "start_now", "_selected_action": [experiment.pk]}
    )
    assert started.status_code == 302
    experiment.refresh_from_db()
    assert (
        experiment.status == "running"
        and ExperimentAssignment.objects.filter(experiment=experiment).count() > 0
    )
    change = client.get(f"/admin/engagement/experiment/{experiment.pk}/change/").content.decode()
    assert 'name="code"' not in change  # read-only once running
    results = client.get(f"/admin/engagement/experiment/{experiment.pk}/results/")
    assert results.status_code == 200 and "arms-table" in results.content.decode()
    rival = staff("rick", (other_brand, "manager"))
    client.force_login(rival)
    assert client.get(f"/admin/engagement/experiment/{experiment.pk}/results/").status_code == 404
    viewer = staff("mei", (brand, "viewer"))
    client.force_login(viewer)
    assert client.get(f"/admin/engagement/experiment/{experiment.pk}/results/").status_code == 200
    assert client.post(ADD, form(brand, coupon)).status_code == 403


def test_an_experiment_takes_churn_bounds_as_percentages_and_may_target_a_saved_segment(client, brand):
    from decimal import Decimal

    from apps.engagement.models import SavedSegment

    client.force_login(staff("lin", (brand, "manager")))
    coupon = BenefitFactory(brand=brand, code="coupon-x", kind="coupon")
    decline = SavedSegment.objects.create(brand=brand, name="decline", filters="stage=decline")
    data = {**form(brand, coupon), "min_churn_probability": "35", "segment": decline.pk}
    response = client.post(ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    experiment = Experiment.objects.get(brand=brand, code="spring")
    assert (experiment.min_churn_probability, experiment.segment) == (Decimal("0.350"), decline)
    data.update(code="summer", min_churn_probability="0.35%x")
    response = client.post(ADD, data)
    assert "Enter a percentage from 0 to 100" in str(response.context["adminform"].form.errors)
