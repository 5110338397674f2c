"""The engine's admin pages: scoped to the staff member's brand; runs and scores read-only; stage rules
editable by managers only."""

import pytest
from django.urls import reverse

from apps.analytics.models import ScoringConfig
from apps.brands.services import membership_set
from tests.factories import T0 as WHEN
from tests.factories import BrandFactory, CustomerScoreFactory, ModelRunFactory, UserFactory

pytestmark = pytest.mark.django_db


def make_run(brand):
    run = ModelRunFactory(
        brand=brand, as_of=WHEN.date(), cutoff=WHEN, metrics={"overall": {"model": {"harrell_c": 0.81}}}
    )
    score = CustomerScoreFactory(run=run, last_purchase_at=WHEN, days_since_last_purchase=5)
    return run, score.customer


@pytest.fixture
def two_brands(client):
    mine, theirs = BrandFactory(slug="mine"), BrandFactory(slug="theirs")
    return mine, theirs, make_run(mine), make_run(theirs)


def login(client, brand, role):
    user = UserFactory(username=f"{role}-{brand.slug}")
    membership_set(user=user, brand=brand, role=role)
    client.force_login(user)
    return user


def test_runs_and_scores_are_scoped_and_read_only(client, two_brands):
    mine, theirs, (my_run, my_customer), (their_run, their_customer) = two_brands
    login(client, mine, "manager")
    page = client.get(reverse("admin:analytics_modelrun_changelist"))
    assert page.status_code == 200
    assert f">{my_run.pk}<" in page.content.decode() and "0.81" in page.content.decode()
    assert client.get(reverse("admin:analytics_modelrun_change", args=[their_run.pk])).status_code == 404
    scores = client.get(reverse("admin:analytics_customerscore_changelist")).content.decode()
    assert my_customer.external_id in scores and their_customer.external_id not in scores
    detail = client.get(reverse("admin:analytics_modelrun_change", args=[my_run.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:analytics_customerscore_add")).status_code == 403


def test_stage_rules_are_edited_by_managers_not_viewers(client, two_brands):
    mine, _theirs, *_ = two_brands
    config = ScoringConfig.objects.create(brand=mine)
    url = reverse("admin:analytics_scoringconfig_change", args=[config.pk])
    login(client, mine, "viewer")
    assert client.get(url).status_code == 200
    assert client.post(url, {}).status_code == 403
    client.logout()
    login(client, mine, "manager")
    form = {
        "horizon_days": 60,
        "lifetime_days": 730,
        "gross_margin": "0.4",
        "annual_discount_rate": "0.08",
        "estimator": "coxph",
        "tune_hyperparameters": "on",
        "min_stage_events": 50,
        "fit_sample_rows": 100000,
        "random_seed": 0,
        "churn_gap_ratio": "2.5",
        "churn_probability": "0.9",
        "decline_gap_ratio": "1.2",
        "maturity_min_orders": 5,
        "growth_min_orders": 2,
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert (config.horizon_days, str(config.decline_gap_ratio), config.maturity_min_orders) == (60, "1.20", 5)
    # a rule set that contradicts itself is refused with the reason
    response = client.post(url, {**form, "decline_gap_ratio": "3.0", "churn_gap_ratio": "2.0"})
    assert response.status_code == 200
    assert (
        "scoringconfig_churn_after_decline" in response.content.decode()
        or "errornote" in response.content.decode()
    )
    theirs_config = ScoringConfig.objects.create(brand=_theirs)
    assert (
        client.get(reverse("admin:analytics_scoringconfig_change", args=[theirs_config.pk])).status_code
        == 404
    )


def test_run_timings_are_shown_in_the_staff_language():
    """The run page's timings name each phase in the staff's language; a holdout or backtest phase is the
    window and the phase; a name it does not know is shown as it is."""
    from django.utils import translation

    from apps.analytics.admin_views import phase_label

    with translation.override("zh-hans"):
        assert phase_label("purchase window") == "读取购买记录"
        assert phase_label("holdout: fit") == "留出期：拟合"
        assert phase_label("backtest: predict") == "回测：预测"
        assert phase_label("tiers and percentiles, scores written") == "等级与百分位，评分写入"
        assert phase_label("publish: tiers") == "发布：等级与权益"
        assert phase_label("survival paths") == "沿阶段路径的生存概率"
        assert phase_label("something new") == "something new"
    with translation.override("en"):
        assert phase_label("holdout: metrics") == "held-out time: metrics"
        assert phase_label("planner statistics") == "database statistics"
        assert phase_label("publish: next actions and win-back") == "publish: next actions and win-back"


def test_the_scores_list_shows_segment_names_percentages_and_money_with_its_currency(client):
    # it showed codes ("potential_loyalist"), raw floats (0.549841) and bare amounts
    brand = BrandFactory(slug="shop", currency="CNY")
    run = ModelRunFactory(brand=brand, as_of=WHEN.date(), cutoff=WHEN)
    CustomerScoreFactory(
        run=run,
        rfm_segment="potential_loyalist",
        p_purchase_horizon=0.549841,
        churn_probability=0.004,
        clv=1234.5,
    )
    login(client, brand, "viewer")
    html = client.get(reverse("admin:analytics_customerscore_changelist"), HTTP_ACCEPT_LANGUAGE="en").content
    text = html.decode().split('id="result_list"')[1].split("</table>")[0]
    assert "potential_loyalist" not in text and "0.549841" not in text and "Potential loyalist" in text
    assert "55%" in text and "0.4%" in text and "1,234.50 CNY" in text
