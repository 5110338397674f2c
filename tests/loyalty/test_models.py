"""TierRule: one per tier, ranges enforced by PostgreSQL, segments checked by clean(); TierChange keys."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from apps.loyalty.models import TierRule
from tests.factories import CustomerFactory, TierFactory
from tests.loyalty.conftest import TierChangeFactory, TierRuleFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("min_clv", Decimal("-1"), "tierrule_min_clv_not_negative"),
        ("min_clv_percentile", 0, "tierrule_clv_percentile_range"),
        ("min_clv_percentile", 100, "tierrule_clv_percentile_range"),
        ("max_churn_probability", Decimal("1.001"), "tierrule_churn_in_unit"),
        ("max_churn_probability", Decimal("-0.1"), "tierrule_churn_in_unit"),
        ("min_rfm_score", 2, "tierrule_rfm_score_range"),
        ("min_rfm_score", 16, "tierrule_rfm_score_range"),
    ],
)
def test_out_of_range_thresholds_are_refused_by_postgresql(brand, field, value, constraint):
    tier = TierFactory(brand=brand)
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        TierRule.objects.create(brand=brand, tier=tier, **{field: value})


def test_bounds_themselves_are_allowed(brand):
    rule = TierRuleFactory(
        brand=brand,
        min_clv=Decimal("0"),
        min_clv_percentile=99,
        max_churn_probability=Decimal("1"),
        min_rfm_score=15,
    )
    rule.full_clean()


def test_one_rule_per_tier(brand):
    rule = TierRuleFactory(brand=brand)
    with pytest.raises(IntegrityError, match="tierrule_one_per_tier"), transaction.atomic():
        TierRule.objects.create(brand=brand, tier=rule.tier)


def test_unknown_segments_are_refused_by_clean(brand):
    rule = TierRuleFactory.build(
        brand=brand, tier=TierFactory(brand=brand), rfm_segments=["champions", "vip"]
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "rfm_segments" in error.value.message_dict
    rule.rfm_segments = ["champions", "at_risk"]
    rule.full_clean()


def test_a_rule_for_another_brands_tier_is_refused(brand, other_brand):
    foreign_tier = TierFactory(brand=other_brand)
    with pytest.raises(IntegrityError, match="same_brand_fk"), transaction.atomic():
        TierRule.objects.create(brand=brand, tier=foreign_tier)
        connection.check_constraints()


def test_history_cannot_point_at_another_brands_customer_or_tier(brand, other_brand):
    stranger = CustomerFactory(brand=other_brand)
    with pytest.raises(IntegrityError, match="same_brand_fk"), transaction.atomic():
        TierChangeFactory(brand=brand, customer=stranger, to_tier=TierFactory(brand=brand))
        connection.check_constraints()
    with pytest.raises(IntegrityError, match="same_brand_fk"), transaction.atomic():
        TierChangeFactory(brand=brand, to_tier=TierFactory(brand=other_brand))
        connection.check_constraints()


def test_deleting_a_tier_keeps_its_history_with_no_tier(brand):
    change = TierChangeFactory(brand=brand)
    change.to_tier.delete()
    change.refresh_from_db()
    assert change.to_tier_id is None
