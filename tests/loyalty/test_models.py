"""TierRule: one per tier, ranges enforced by PostgreSQL, segments checked by clean(); TierChange keys."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from apps.loyalty.models import TierRule
from tests.factories import CustomerFactory, TierChangeFactory, TierFactory, TierRuleFactory

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


def test_grant_status_has_one_definition_for_rows_and_queries(brand):
    """Given grants in each state, one of them expiring exactly now, when the status is read from the row and
    from the database, then both say the same, and a grant that expires at this very moment is expired."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.loyalty.models import BenefitGrant, GrantStatus
    from tests.factories import BenefitGrantFactory

    now = timezone.now().replace(microsecond=0)
    day = timedelta(days=1)
    made = {
        "open": BenefitGrantFactory(brand=brand, granted_at=now - day, expires_at=now + day),
        "expires_now": BenefitGrantFactory(brand=brand, granted_at=now - day, expires_at=now),
        "expired": BenefitGrantFactory(brand=brand, granted_at=now - 2 * day, expires_at=now - day),
        "redeemed": BenefitGrantFactory(
            brand=brand, granted_at=now - day, expires_at=now + day, redeemed_at=now - day
        ),
        "revoked": BenefitGrantFactory(
            brand=brand, granted_at=now - day, expires_at=now + day, revoked_at=now
        ),
    }
    expected = {
        "open": GrantStatus.OPEN,
        "expires_now": GrantStatus.EXPIRED,
        "expired": GrantStatus.EXPIRED,
        "redeemed": GrantStatus.REDEEMED,
        "revoked": GrantStatus.REVOKED,
    }
    assert {key: grant.status_at(now) for key, grant in made.items()} == expected
    grants = BenefitGrant.objects.filter(brand=brand)
    by_query = {
        status: set(grants.with_status(status, at=now).values_list("pk", flat=True)) for status in GrantStatus
    }
    assert by_query == {
        status: {made[key].pk for key, want in expected.items() if want == status} for status in GrantStatus
    }
    assert set(grants.open(at=now).values_list("pk", flat=True)) == {made["open"].pk}
