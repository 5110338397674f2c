"""The tier page's "Preview" button: how many customers the edited rule would move between tiers, counted on
the published scores, with nothing saved and the form still filled in."""

from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from apps.analytics.models import CustomerScore, ModelRun
from apps.audit.models import AuditEvent
from apps.loyalty.models import TierChange, TierRule
from tests.admin.conftest import form_data, staff
from tests.factories import CustomerFactory, TierChangeFactory, TierFactory, TierRuleFactory

pytestmark = pytest.mark.django_db

PREVIEW = {"_preview": "Preview rule changes"}


def tier_url(tier):
    return reverse("admin:loyalty_tier_change", args=[tier.pk])


def publish_scores(brand, clvs, *, status="published"):
    """A model run of the brand with one score per customer; CLV as given, everything else neutral."""
    run = ModelRun.objects.create(
        brand=brand,
        as_of=date(2026, 3, 31),
        cutoff=datetime(2026, 4, 1, tzinfo=UTC),
        horizon_days=90,
        estimator="coxph",
        status=status,
    )
    for customer, clv in clvs.items():
        CustomerScore.objects.create(
            brand=brand,
            run=run,
            customer=customer,
            stage="growth",
            stage_rule="growth_orders",
            rhythm_days=20.0,
            rfm_recency=3,
            rfm_frequency=3,
            rfm_monetary=3,
            rfm_segment="loyal",
            orders_count=2,
            monetary_total=100,
            last_purchase_at=datetime(2026, 3, 1, tzinfo=UTC),
            days_since_last_purchase=30.0,
            p_purchase_horizon=0.7,
            churn_probability=0.3,
            expected_revenue_horizon=80,
            clv=clv,
        )
    return run


@pytest.fixture
def ladder(brand, other_brand):
    """Gold (rank 1, CLV ≥ 500) and Silver (rank 2, the fallback); four scored customers with CLV 100, 300, 600
    and 900 who sit in Silver, Silver, Gold, Gold. Rival has scores of its own that must not count."""
    gold = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    silver = TierFactory(brand=brand, code="silver", name="Silver", rank=2)
    rule = TierRuleFactory(brand=brand, tier=gold, min_clv=500)
    customers = [CustomerFactory(brand=brand) for _ in range(4)]
    for customer, tier in zip(customers, (silver, silver, gold, gold), strict=True):
        TierChangeFactory(brand=brand, customer=customer, to_tier=tier)
    publish_scores(brand, dict(zip(customers, (100, 300, 600, 900), strict=True)))
    rival_customer = CustomerFactory(brand=other_brand)
    publish_scores(other_brand, {rival_customer: 5000})
    return {"gold": gold, "silver": silver, "rule": rule}


@pytest.fixture
def manager_client(client, brand):
    client.force_login(staff("acme-manager", (brand, "manager")))
    return client


def preview_rows(response):
    return [
        (r["from_tier"], r["to_tier"], r["customers"], r["moves"])
        for r in response.context["tier_preview"]["rows"]
    ]


def test_the_preview_counts_the_customers_the_edited_rule_moves_and_saves_nothing(manager_client, ladder):
    gold = ladder["gold"]
    page = manager_client.get(tier_url(gold))
    assert 'name="_preview"' in page.content.decode()
    data = form_data(page)
    data["rules-0-min_clv"] = "250"
    changes_before = TierChange.objects.count()

    response = manager_client.post(tier_url(gold), {**data, **PREVIEW})

    assert response.status_code == 200
    assert preview_rows(response) == [
        ("Silver", "Gold", 1, True),  # CLV 300 now clears 250
        ("Gold", "Gold", 2, False),
        ("Silver", "Silver", 1, False),
    ]
    html = response.content.decode()
    assert "1 of 4 scored customers would change tier." in html
    assert 'id="tier-rule-preview"' in html
    assert not response.context["errors"]
    # the page is still filled in with the edit, ready to save
    [rule_formset] = [
        i.formset for i in response.context["inline_admin_formsets"] if i.formset.model is TierRule
    ]
    assert rule_formset.forms[0]["min_clv"].value() == "250"
    # and nothing was written
    ladder["rule"].refresh_from_db()
    assert ladder["rule"].min_clv == 500
    assert TierChange.objects.count() == changes_before
    assert not AuditEvent.objects.exists()

    # saving the same form afterwards applies it
    saved = manager_client.post(tier_url(gold), data)
    assert saved.status_code == 302
    ladder["rule"].refresh_from_db()
    assert ladder["rule"].min_clv == 250


def test_the_preview_follows_tier_edits_and_a_deleted_rule(manager_client, ladder):
    gold = ladder["gold"]
    data = form_data(manager_client.get(tier_url(gold)))
    data["rules-0-DELETE"] = "on"  # gold matches nobody: everyone falls back to Silver
    response = manager_client.post(tier_url(gold), {**data, **PREVIEW})
    assert preview_rows(response) == [("Gold", "Silver", 2, True), ("Silver", "Silver", 2, False)]
    assert TierRule.objects.filter(pk=ladder["rule"].pk).exists()

    data = form_data(manager_client.get(tier_url(gold)))
    data.pop("is_active")  # an archived gold assigns nobody either
    response = manager_client.post(tier_url(gold), {**data, **PREVIEW})
    assert preview_rows(response) == [("Gold", "Silver", 2, True), ("Silver", "Silver", 2, False)]
    gold.refresh_from_db()
    assert gold.is_active is True


def test_without_published_scores_the_preview_says_so(manager_client, brand):
    tier = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    TierRuleFactory(brand=brand, tier=tier, min_clv=500)
    publish_scores(brand, {CustomerFactory(brand=brand): 900}, status="succeeded")  # not published
    data = form_data(manager_client.get(tier_url(tier)))
    response = manager_client.post(tier_url(tier), {**data, **PREVIEW})
    assert response.status_code == 200
    assert "There are no published scores for this brand yet" in response.context["tier_preview"]["message"]
    assert "There are no published scores for this brand yet" in response.content.decode()


def test_an_invalid_rule_shows_the_form_errors_and_no_preview(manager_client, ladder):
    data = form_data(manager_client.get(tier_url(ladder["gold"])))
    data["rules-0-min_rfm_score"] = "20"
    response = manager_client.post(tier_url(ladder["gold"]), {**data, **PREVIEW})
    assert response.status_code == 200
    assert "tier_preview" not in response.context
    assert response.context["errors"]
    ladder["rule"].refresh_from_db()
    assert ladder["rule"].min_rfm_score is None


def test_only_staff_who_may_change_the_tier_can_preview(client, ladder, brand, other_brand):
    gold = ladder["gold"]
    viewer = staff("acme-viewer", (brand, "viewer"))
    client.force_login(viewer)
    page = client.get(tier_url(gold))
    assert 'name="_preview"' not in page.content.decode()
    assert client.post(tier_url(gold), {**PREVIEW}).status_code == 403
    client.force_login(staff("rival-manager", (other_brand, "manager")))
    assert client.post(tier_url(gold), {**PREVIEW}).status_code == 404
