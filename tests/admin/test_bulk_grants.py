"""Bulk "Grant a benefit" and "Revoke open grants" on the customer list: a confirmation page offering the brand's
benefits only, the loyalty services doing the work (quota and opt-out skips reported), managers only, one brand at
a time."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from apps.customers.models import Customer
from apps.loyalty.models import BenefitGrant, TierChange
from tests.admin.conftest import changelist_url
from tests.factories import (
    BenefitFactory,
    BenefitGrantFactory,
    CustomerFactory,
    TierBenefitFactory,
    TierFactory,
)

pytestmark = pytest.mark.django_db

URL = changelist_url(Customer)


@pytest.fixture
def crowd(brand, other_brand):
    """Three Acme customers (C2 in Gold, whose quota of the coupon is 1 and who holds one already; C3 opted out
    of automated decisions), an archived benefit, and a Rival customer and benefit."""
    gold = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    coupon = BenefitFactory(brand=brand, code="coupon", name="Coupon", validity_days=30)
    gift = BenefitFactory(brand=brand, code="gift", name="Birthday gift", kind="gift")
    archived = BenefitFactory(brand=brand, code="old", name="Old perk", is_active=False)
    TierBenefitFactory(brand=brand, tier=gold, benefit=coupon, quota=1)
    c1 = CustomerFactory(brand=brand, external_id="C1")
    c2 = CustomerFactory(brand=brand, external_id="C2")
    c3 = CustomerFactory(brand=brand, external_id="C3", automated_decisions_opt_out=True)
    TierChange.objects.create(
        brand=brand,
        customer=c2,
        to_tier=gold,
        changed_at=datetime(2026, 1, 1, tzinfo=UTC),
        reason="rule:gold",
    )
    now = timezone.now()
    BenefitGrantFactory(
        brand=brand, customer=c2, benefit=coupon, granted_at=now, expires_at=now + timedelta(30)
    )
    rival_benefit = BenefitFactory(brand=other_brand, code="rival-coupon", name="Rival coupon")
    rival_customer = CustomerFactory(brand=other_brand, external_id="R1")
    return {
        "customers": [c1, c2, c3],
        "coupon": coupon,
        "gift": gift,
        "archived": archived,
        "rival_benefit": rival_benefit,
        "rival_customer": rival_customer,
    }


def run_action(client, action, customers, **data):
    payload = {"action": action, "_selected_action": [c.pk for c in customers], **data}
    if "apply" not in data:
        payload["index"] = 0  # as the changelist's action bar sends it
    return client.post(URL, payload)


def offered_actions(client) -> dict:
    action_form = client.get(URL).context["action_form"]
    return {} if action_form is None else {k: str(v) for k, v in action_form.fields["action"].choices}


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_confirmation_page_offers_the_brands_active_benefits_only(login, crowd, acme_manager):
    client = login(acme_manager)
    response = run_action(client, "grant_benefit", crowd["customers"])
    assert response.status_code == 200
    html = response.content.decode()
    assert "3 customers of Acme Beauty selected:" in html and "C1, C2, C3" in html
    choices = [str(label) for _value, label in response.context["form"].fields["benefit"].choices][1:]
    assert choices == ["Coupon (Exclusive coupon)", "Birthday gift (Gift)"]
    assert "Rival coupon" not in html and "Old perk" not in html
    assert 'name="action" value="grant_benefit"' in html and 'name="apply" value="1"' in html
    assert BenefitGrant.objects.count() == 1  # nothing granted before confirming


def test_grant_creates_grants_and_reports_the_quota_skip(login, crowd, acme_manager):
    client = login(acme_manager)
    response = run_action(
        client,
        "grant_benefit",
        crowd["customers"],
        apply="1",
        benefit=crowd["coupon"].pk,
        source="manual",
        note="VIP",
    )
    assert response.status_code == 302
    messages = texts(response)
    assert "Granted Coupon to 2 customers." in messages
    assert "Skipped 1 customer: already at their tier's quota of this benefit (1)." in messages
    c1, c2, c3 = crowd["customers"]
    new = BenefitGrant.objects.filter(benefit=crowd["coupon"], note="VIP")
    assert sorted(new.values_list("customer_id", flat=True)) == [c1.pk, c3.pk]  # a manual grant reaches C3
    assert set(new.values_list("source", flat=True)) == {"manual"}
    assert BenefitGrant.objects.filter(customer=c2).count() == 1  # the quota held
    grant = new.first()
    assert grant.expires_at - grant.granted_at == timedelta(days=30)


def test_campaign_grant_skips_the_opted_out(login, crowd, acme_manager):
    client = login(acme_manager)
    response = run_action(
        client, "grant_benefit", crowd["customers"], apply="1", benefit=crowd["gift"].pk, source="campaign"
    )
    assert "Granted Birthday gift to 2 customers." in texts(response)
    assert "Skipped 1 customer: opted out of automated decisions (1)." in texts(response)
    c1, c2, c3 = crowd["customers"]
    granted = BenefitGrant.objects.filter(benefit=crowd["gift"]).values_list("customer_id", flat=True)
    assert sorted(granted) == [c1.pk, c2.pk]


def test_another_brands_benefit_is_refused(login, crowd, acme_manager):
    client = login(acme_manager)
    for benefit in (crowd["rival_benefit"], crowd["archived"]):
        response = run_action(client, "grant_benefit", crowd["customers"], apply="1", benefit=benefit.pk)
        assert response.status_code == 200  # the page again, with the error on the field
        assert "Select a valid choice" in str(response.context["form"].errors["benefit"])
    assert BenefitGrant.objects.count() == 1


def test_customers_of_two_brands_are_refused(login, crowd, superuser):
    client = login(superuser)
    response = run_action(client, "grant_benefit", [crowd["customers"][0], crowd["rival_customer"]])
    assert response.status_code == 302
    assert "Choose customers of one brand: benefits belong to a brand." in texts(response)
    assert BenefitGrant.objects.count() == 1


def test_only_managers_are_offered_the_actions(login, crowd, acme_viewer, acme_analyst, acme_manager):
    for user in (acme_viewer, acme_analyst):
        client = login(user)
        assert "grant_benefit" not in offered_actions(client)
        assert "revoke_open_grants" not in offered_actions(client)
        response = run_action(
            client,
            "grant_benefit",
            crowd["customers"],
            apply="1",
            benefit=crowd["coupon"].pk,
            source="manual",
        )
        assert response.status_code in (200, 302)  # the list again: no such action for them
        assert BenefitGrant.objects.count() == 1
    actions = offered_actions(login(acme_manager))
    assert (
        actions["grant_benefit"] == "Grant a benefit"
        and actions["revoke_open_grants"] == "Revoke open grants"
    )


def test_a_manager_of_another_brand_cannot_reach_these_customers(login, crowd, rival_manager):
    client = login(rival_manager)
    response = run_action(
        client,
        "grant_benefit",
        crowd["customers"],
        apply="1",
        benefit=crowd["rival_benefit"].pk,
        source="manual",
    )
    # the selection is filtered to the manager's brands: nothing of Acme is selected
    assert response.status_code == 302
    assert BenefitGrant.objects.count() == 1


def test_revoke_open_grants_of_one_benefit(login, crowd, acme_manager, brand):
    c1, c2, c3 = crowd["customers"]
    now = timezone.now()
    BenefitGrantFactory(
        brand=brand, customer=c1, benefit=crowd["coupon"], granted_at=now, expires_at=now + timedelta(9)
    )
    BenefitGrantFactory(  # redeemed: stays
        brand=brand,
        customer=c3,
        benefit=crowd["coupon"],
        granted_at=now,
        expires_at=now + timedelta(9),
        redeemed_at=now,
    )
    BenefitGrantFactory(
        brand=brand, customer=c3, benefit=crowd["gift"], granted_at=now, expires_at=now + timedelta(9)
    )
    client = login(acme_manager)
    page = run_action(client, "revoke_open_grants", crowd["customers"])
    assert page.status_code == 200
    choices = [str(label) for _value, label in page.context["form"].fields["benefit"].choices][1:]
    assert choices == ["Coupon (2 open grants)", "Birthday gift (1 open grant)"]
    response = run_action(
        client, "revoke_open_grants", crowd["customers"], apply="1", benefit=crowd["coupon"].pk
    )
    assert response.status_code == 302
    assert "Revoked 2 open grants of Coupon (2 customers)." in texts(response)
    coupon = BenefitGrant.objects.filter(benefit=crowd["coupon"])
    assert coupon.filter(revoked_at__isnull=False).count() == 2
    assert coupon.filter(redeemed_at__isnull=False, revoked_at__isnull=True).count() == 1
    assert BenefitGrant.objects.get(benefit=crowd["gift"]).revoked_at is None


def test_revoke_with_nothing_open_says_so(login, crowd, acme_manager):
    client = login(acme_manager)
    response = run_action(client, "revoke_open_grants", [crowd["customers"][0]])
    assert response.status_code == 302
    assert "The selected customers hold no open grant." in texts(response)
