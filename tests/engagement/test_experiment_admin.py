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
    # what could not be computed is named in words, its key (the API's) only as the item's title
    listed = results.content.decode().split('id="not-computed"')[1].split("</ul>")[0]
    assert "<code>" not in listed and 'title="coupon.conversion"' in listed
    assert "arm Coupon · Conversion within the window: " in listed
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


def test_figures_not_computed_are_named_in_words():
    from django.utils import translation

    from apps.engagement.admin import unavailable_label
    from apps.engagement.models import Metric

    arms, metrics = {"a2": "Coupon", "control": "Control"}, dict(Metric.choices)
    with translation.override("en"):
        assert (
            unavailable_label("a2.rmst_diff_30", arms, metrics) == "arm Coupon · RMST difference at 30 days"
        )
        assert unavailable_label("a2.conversion.cuped", arms, metrics) == (
            "arm Coupon · Conversion within the window · CUPED"
        )
        assert unavailable_label("control.required_n_per_arm", arms, metrics) == (
            "arm Control · customers per arm needed"
        )
        assert unavailable_label("srm_p", arms, metrics) == "sample ratio check"
    with translation.override("zh-hans"):
        assert unavailable_label("a2.rmst_diff_30", arms, metrics) == "组 Coupon · 第 30 天的 RMST 差值"
