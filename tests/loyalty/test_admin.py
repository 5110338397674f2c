"""The rule is edited inline on its tier, scoped to the tier's brand; the tier history is read-only."""

import pytest
from django.urls import reverse

from apps.loyalty.admin import TierRuleInline
from apps.loyalty.models import Tier, TierRule
from tests.factories import TierChangeFactory, TierFactory, TierRuleFactory

pytestmark = pytest.mark.django_db


def tier_url(tier):
    return reverse("admin:loyalty_tier_change", args=[tier.pk])


def rule_formset(response):
    [inline] = [i for i in response.context["inline_admin_formsets"] if i.opts.__class__ is TierRuleInline]
    return inline.formset


def test_tier_page_shows_its_rule_inline(login, superuser, brand, other_brand):
    rule = TierRuleFactory(brand=brand, min_clv_percentile=80, rfm_segments=["champions"])
    TierRuleFactory(brand=other_brand, min_clv_percentile=50)
    response = login(superuser).get(tier_url(rule.tier))
    assert response.status_code == 200
    formset = rule_formset(response)
    assert [form.instance.pk for form in formset.forms] == [rule.pk]
    assert "brand" not in formset.form.base_fields
    assert formset.forms[0]["rfm_segments"].value() == ["champions"]


def test_a_rule_added_inline_takes_the_tier_brand(login, superuser, brand):
    tier = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    data = {
        "code": "gold",
        "name": "Gold",
        "rank": "1",
        "description": "",
        "demotion_grace_days": "0",
        "is_active": "on",
        "tier_benefits-TOTAL_FORMS": "0",
        "tier_benefits-INITIAL_FORMS": "0",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-0-min_clv_percentile": "80",
        "rules-0-max_churn_probability": "0.6",
        "rules-0-rfm_segments": ["champions", "loyal"],
        "rules-0-is_active": "on",
        "rules-0-tier": tier.pk,
    }
    response = login(superuser).post(tier_url(tier), data)
    assert response.status_code == 302, response.context["errors"]
    rule = TierRule.objects.get(tier=tier)
    assert (rule.brand_id, rule.min_clv_percentile, rule.rfm_segments) == (
        brand.pk,
        80,
        ["champions", "loyal"],
    )


def test_out_of_range_rule_shows_a_form_error(login, superuser, brand):
    tier = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    data = {
        "code": "gold",
        "name": "Gold",
        "rank": "1",
        "is_active": "on",
        "tier_benefits-TOTAL_FORMS": "0",
        "tier_benefits-INITIAL_FORMS": "0",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-0-min_rfm_score": "20",
        "rules-0-tier": tier.pk,
    }
    response = login(superuser).post(tier_url(tier), data)
    assert response.status_code == 200
    assert not TierRule.objects.exists()


def test_staff_of_another_brand_cannot_reach_the_tier_or_its_rule(login, rival_manager, brand):
    rule = TierRuleFactory(brand=brand)
    assert login(rival_manager).get(tier_url(rule.tier)).status_code == 404


def test_tier_history_is_listed_per_brand_and_read_only(login, superuser, rival_manager, brand, other_brand):
    ours = TierChangeFactory(brand=brand, reason="rule:ours")
    theirs = TierChangeFactory(brand=other_brand, reason="rule:theirs")
    client = login(superuser)
    changelist = reverse("admin:loyalty_tierchange_changelist")
    response = client.get(changelist, {"source": "refresh"})
    assert response.status_code == 200
    assert {c.pk for c in response.context["cl"].result_list} == {ours.pk, theirs.pk}
    assert client.get(reverse("admin:loyalty_tierchange_add")).status_code == 403
    page = client.get(reverse("admin:loyalty_tierchange_change", args=[ours.pk]))
    assert page.status_code == 200
    assert not page.context["adminform"].form.fields  # every field read-only
    assert client.post(reverse("admin:loyalty_tierchange_change", args=[ours.pk]), {}).status_code == 403
    # staff of one brand never see the other's history
    other = login(rival_manager)
    assert other.get(reverse("admin:loyalty_tierchange_change", args=[ours.pk])).status_code == 404


def test_tier_filter_of_the_history_offers_own_brand_tiers_only(login, rival_manager, brand, other_brand):
    TierChangeFactory(brand=brand)
    TierChangeFactory(brand=other_brand)
    response = login(rival_manager).get(reverse("admin:loyalty_tierchange_changelist"))
    assert response.status_code == 200
    spec = next(f for f in response.context["cl"].filter_specs if getattr(f, "field_path", "") == "to_tier")
    assert {pk for pk, _label in spec.lookup_choices} == set(
        Tier.objects.filter(brand=other_brand).values_list("pk", flat=True)
    )
    assert [c.brand_id for c in response.context["cl"].result_list] == [other_brand.pk]
