"""Roles decide what a staff member may do, per brand."""

import pytest

from apps.customers.models import Customer
from apps.loyalty.models import Benefit, Tier
from tests.admin.conftest import add_url, change_url, changelist_url, delete_url, form_data, staff

pytestmark = pytest.mark.django_db


def test_viewer_cannot_change_a_customer(login, acme, acme_viewer):
    client = login(acme_viewer)
    customer = acme[Customer]
    response = client.post(change_url(customer), {"external_id": "hacked"})
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.external_id == "acme-C1"


def test_viewer_cannot_add_or_delete(login, acme, acme_viewer):
    client = login(acme_viewer)
    assert client.get(add_url(Tier)).status_code == 403
    assert client.post(delete_url(acme[Tier]), {"post": "yes"}).status_code == 403
    assert Tier.objects.filter(pk=acme[Tier].pk).exists()


def test_manager_changes_a_customer(login, acme, acme_manager):
    client = login(acme_manager)
    customer = acme[Customer]
    data = form_data(client.get(change_url(customer)))
    data["marketing_consent"] = "on"
    response = client.post(change_url(customer), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.marketing_consent is True


def test_manager_deletes_a_tier(login, acme, acme_manager):
    tier = acme[Tier]
    response = login(acme_manager).post(delete_url(tier), {"post": "yes"})
    assert response.status_code == 302
    assert not Tier.objects.filter(pk=tier.pk).exists()


def test_role_is_per_brand(login, acme, rival, brand, other_brand):
    # Given a manager of Rival who is only a viewer of Acme
    user = staff("mixed", (brand, "viewer"), (other_brand, "manager"))
    client = login(user)
    # Then Rival's tier is editable and Acme's is read-only
    assert client.get(change_url(rival[Tier])).context["has_change_permission"] is True
    assert client.get(change_url(acme[Tier])).context["has_change_permission"] is False
    # And a POST to Acme's tier is refused
    data = form_data(client.get(change_url(rival[Tier])))
    assert client.post(change_url(acme[Tier]), data).status_code == 403
    # And they cannot add a tier to Acme by choosing it on the add form
    response = client.post(add_url(Tier), {"brand": brand.pk, "code": "vip", "name": "VIP", "rank": 5})
    assert response.status_code == 200
    assert "Your role in Acme Beauty does not allow adding or changing tiers." in response.content.decode()
    assert not Tier.objects.filter(code="vip").exists()


def test_list_editable_cannot_touch_rows_of_a_brand_where_the_role_is_viewer(
    login, acme, rival, brand, other_brand
):
    user = staff("mixed", (brand, "viewer"), (other_brand, "manager"))
    client = login(user)
    benefits = list(Benefit.objects.order_by("brand_id", "kind", "code"))
    data = {
        "form-TOTAL_FORMS": str(len(benefits)),
        "form-INITIAL_FORMS": str(len(benefits)),
        "_save": "Save",
    }
    for index, benefit in enumerate(benefits):
        data[f"form-{index}-id"] = benefit.pk
        data[f"form-{index}-value"] = "99.00"
        data[f"form-{index}-validity_days"] = benefit.validity_days
        data[f"form-{index}-is_active"] = "on"
    response = client.post(changelist_url(Benefit), data)
    assert response.status_code == 403
    # Nothing is saved: the whole list is one transaction
    for benefit in (acme[Benefit], rival[Benefit]):
        benefit.refresh_from_db()
        assert benefit.value != 99
