"""Every loyalty service that writes records who did what, with the changed fields old → new."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.loyalty import services
from apps.loyalty.models import Benefit, Tier, TierBenefit, TierRule
from tests.audit.conftest import events
from tests.factories import BenefitFactory, BenefitGrantFactory, CustomerFactory, TierFactory

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def only_event(**filters):
    [event] = AuditEvent.objects.filter(**filters)
    return event


def test_tier_create_update_archive_are_recorded_with_the_actor(brand, acme_manager):
    tier = services.tier_create(brand=brand, code="vip", name="VIP", rank=1, actor=acme_manager)
    created = only_event(object_type="tier", action="created")
    assert (created.brand_id, created.object_id, created.object_repr) == (brand.pk, tier.pk, "VIP [vip]")
    assert (created.actor_kind, created.actor_user_id, created.actor_label) == (
        "user",
        acme_manager.pk,
        "acme-manager",
    )
    assert created.changes == {
        "code": [None, "vip"],
        "name": [None, "VIP"],
        "rank": [None, 1],
        "description": [None, ""],
        "is_active": [None, True],
        "demotion_grace_days": [None, 0],
    }

    services.tier_update(tier=tier, name="VIP club", rank=2, actor=acme_manager)
    assert only_event(action="updated").changes == {"name": ["VIP", "VIP club"], "rank": [1, 2]}

    # an update that changes nothing records nothing; archiving twice records once
    services.tier_update(tier=tier, name="VIP club")
    services.tier_archive(tier=tier)
    services.tier_archive(tier=tier)
    archived = only_event(action="archived")
    assert (archived.changes, archived.actor_kind, archived.actor_label) == (
        {"is_active": [True, False]},
        "system",
        "",
    )
    assert AuditEvent.objects.count() == 3


def test_an_update_of_an_instance_that_already_holds_the_new_values_diffs_against_the_database(brand):
    # the admin hands the service an instance its form has already changed
    tier = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    tier.name = "Golden"
    services.tier_update(tier=tier, name="Golden")
    assert only_event(action="updated").changes == {"name": ["Gold", "Golden"]}


def test_a_refused_write_records_nothing(brand):
    TierFactory(brand=brand, code="gold", rank=1)
    with pytest.raises(ValidationError):
        services.tier_create(brand=brand, code="gold", name="Gold again", rank=2)
    assert not AuditEvent.objects.exists()


def test_benefit_writes_are_recorded_with_decimals_as_text(brand):
    benefit = services.benefit_create(
        brand=brand, code="c10", name="Coupon 10", kind="coupon", value=Decimal("10")
    )
    services.benefit_update(benefit=benefit, value=Decimal("12.50"), validity_days=60)
    services.benefit_archive(benefit=benefit)
    assert events(object_type="benefit") == [
        ("created", "benefit", "Coupon 10 [c10]", "system", ""),
        ("updated", "benefit", "Coupon 10 [c10]", "system", ""),
        ("archived", "benefit", "Coupon 10 [c10]", "system", ""),
    ]
    assert only_event(action="updated").changes == {"value": ["10.00", "12.50"], "validity_days": [30, 60]}


def test_tier_benefit_links_are_recorded_when_set_changed_and_removed(brand):
    tier = TierFactory(brand=brand, code="gold")
    benefit = BenefitFactory(brand=brand, code="ship")
    link = services.tier_benefit_set(tier=tier, benefit=benefit, quota=1)
    services.tier_benefit_set(tier=tier, benefit=benefit, quota=1)  # unchanged: nothing recorded
    services.tier_benefit_set(tier=tier, benefit=benefit, quota=0)
    assert services.tier_benefit_remove(tier=tier, benefit=benefit) is True
    assert services.tier_benefit_remove(tier=tier, benefit=benefit) is False
    assert events() == [
        ("created", "tier_benefit", "gold ↔ ship", "system", ""),
        ("updated", "tier_benefit", "gold ↔ ship", "system", ""),
        ("deleted", "tier_benefit", "gold ↔ ship", "system", ""),
    ]
    updated, deleted = AuditEvent.objects.filter(action__in=["updated", "deleted"]).order_by("pk")
    assert updated.changes == {"quota": [1, 0]}
    assert deleted.object_id == link.pk
    assert deleted.changes == {"tier": [tier.pk, None], "benefit": [benefit.pk, None], "quota": [0, None]}
    assert not TierBenefit.objects.exists()


def test_tier_rule_writes_are_recorded(brand):
    tier = TierFactory(brand=brand, code="gold")
    rule = services.tier_rule_create(tier=tier, min_clv_percentile=80, rfm_segments=["champions"])
    services.tier_rule_update(
        rule=rule,
        min_clv_percentile=None,
        max_churn_probability=Decimal("0.4"),
        rfm_segments=["champions", "loyal"],
    )
    services.tier_rule_archive(rule=rule)
    assert [e[:3] for e in events(object_type="tier_rule")] == [
        ("created", "tier_rule", "gold"),
        ("updated", "tier_rule", "gold"),
        ("archived", "tier_rule", "gold"),
    ]
    assert only_event(action="updated").changes == {
        "min_clv_percentile": [80, None],
        "max_churn_probability": [None, "0.4"],
        "rfm_segments": [["champions"], ["champions", "loyal"]],
    }


def test_grants_and_revocations_are_recorded_per_grant_without_personal_data(brand, acme_manager):
    benefit = BenefitFactory(brand=brand, code="c10")
    first, second = CustomerFactory(brand=brand), CustomerFactory(brand=brand)
    result = services.benefit_grant(
        brand=brand,
        benefit=benefit,
        customer_ids=[first.pk, second.pk],
        when=WHEN,
        note="spring",
        actor=acme_manager,
    )
    granted = list(AuditEvent.objects.filter(action="granted").order_by("object_id"))
    assert [e.object_id for e in granted] == sorted(g.pk for g in result.grants)
    assert [e.object_repr for e in granted] == [f"c10 → #{first.pk}", f"c10 → #{second.pk}"]
    assert granted[0].changes["customer"] == [None, first.pk]
    assert granted[0].changes["expires_at"] == [None, "2026-03-31T08:00:00+00:00"]
    assert {e.actor_label for e in granted} == {"acme-manager"}
    for event in granted:  # names and phones never reach the trail
        text = f"{event.object_repr} {event.changes}"
        for customer in (first, second):
            assert customer.display_name not in text and customer.phone not in text

    services.benefit_grant_revoke(grant=result.grants[0], when=WHEN, actor=acme_manager)
    revoked = only_event(action="revoked")
    assert (revoked.object_id, revoked.changes) == (
        result.grants[0].pk,
        {"revoked_at": [None, "2026-03-01T08:00:00+00:00"]},
    )


def test_a_refused_revocation_records_nothing(brand):
    grant = BenefitGrantFactory(brand=brand, redeemed_at=WHEN)
    with pytest.raises(ValidationError):
        services.benefit_grant_revoke(grant=grant)
    assert not AuditEvent.objects.exists()


def test_default_rows_added_for_a_brand_are_recorded_once(brand, other_brand):
    services.loyalty_defaults_ensure(brand=brand)
    added = Tier.objects.filter(brand=brand).count() + Benefit.objects.filter(brand=brand).count()
    added += TierBenefit.objects.filter(brand=brand).count() + TierRule.objects.filter(brand=brand).count()
    assert AuditEvent.objects.filter(brand=brand, action="created", actor_kind="system").count() == added
    services.loyalty_defaults_ensure(brand=brand)
    assert AuditEvent.objects.count() == added
    assert not AuditEvent.objects.filter(brand=other_brand).exists()
