"""The admin edits tiers and benefits through the same services as the GraphQL mutations: saving, archiving,
revoking grants; a manager of another brand cannot touch Acme's rows."""

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.brands.services import membership_set
from apps.loyalty import services
from apps.loyalty.models import Benefit, BenefitGrant, Tier
from tests.factories import BenefitFactory, BenefitGrantFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db


def changelist(model):
    return reverse(f"admin:loyalty_{model._meta.model_name}_changelist")


@pytest.fixture
def manager_client(client, brand):
    user = UserFactory(username="acme-manager")
    membership_set(user=user, brand=brand, role="manager")
    client.force_login(user)
    return client


def test_adding_a_tier_in_the_admin_goes_through_tier_create(manager_client, brand, monkeypatch):
    calls = []
    original = services.tier_create

    def spy(**kwargs):
        calls.append(kwargs["code"])
        return original(**kwargs)

    monkeypatch.setattr(services, "tier_create", spy)
    data = {
        "brand": brand.pk,
        "code": "vip",
        "name": "VIP",
        "rank": "1",
        "description": "",
        "demotion_grace_days": "30",
        "is_active": "on",
        "tier_benefits-TOTAL_FORMS": "0",
        "tier_benefits-INITIAL_FORMS": "0",
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
    }
    response = manager_client.post(reverse("admin:loyalty_tier_add"), data)
    assert response.status_code == 302, response.context["errors"]
    assert calls == ["vip"]
    assert (
        Tier.objects.filter(brand=brand, code="vip", rank=1, demotion_grace_days=30, is_active=True).count()
        == 1
    )


def test_archive_actions_deactivate_tiers_and_benefits(manager_client, brand, other_brand):
    tier = TierFactory(brand=brand)
    benefit = BenefitFactory(brand=brand)
    for model, obj in ((Tier, tier), (Benefit, benefit)):
        response = manager_client.post(
            changelist(model), {"action": "archive_selected", "_selected_action": [obj.pk]}
        )
        assert response.status_code == 302
        obj.refresh_from_db()
        assert obj.is_active is False


def test_revoke_action_revokes_open_grants_and_leaves_redeemed_ones(manager_client, brand):
    now = timezone.now()
    open_grant = BenefitGrantFactory(brand=brand, granted_at=now)
    redeemed = BenefitGrantFactory(brand=brand, granted_at=now, redeemed_at=now)
    response = manager_client.post(
        changelist(BenefitGrant),
        {"action": "revoke_selected", "_selected_action": [open_grant.pk, redeemed.pk]},
    )
    assert response.status_code == 302
    open_grant.refresh_from_db()
    redeemed.refresh_from_db()
    assert open_grant.revoked_at is not None
    assert redeemed.revoked_at is None


def test_another_brands_rows_are_not_archived(client, brand, other_brand):
    rival = UserFactory(username="rival-manager")
    membership_set(user=rival, brand=other_brand, role="manager")
    client.force_login(rival)
    tier = TierFactory(brand=brand)
    client.post(changelist(Tier), {"action": "archive_selected", "_selected_action": [tier.pk]})
    tier.refresh_from_db()
    assert tier.is_active is True
