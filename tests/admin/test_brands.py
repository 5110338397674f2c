"""Brands and memberships in the admin; membership writes keep role groups in sync."""

import pytest
from django.contrib.auth.models import Group

from apps.brands.models import Brand, Membership
from apps.brands.roles import GROUP_NAMES
from apps.loyalty.models import Tier
from tests.admin.conftest import add_url, change_url, changelist_url, delete_url
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def group_names(user):
    return set(user.groups.values_list("name", flat=True))


def test_members_see_only_their_brands(login, brand, other_brand, acme_viewer):
    response = login(acme_viewer).get(changelist_url(Brand))
    assert [b.pk for b in response.context["cl"].result_list] == [brand.pk]
    assert login(acme_viewer).get(change_url(other_brand)).status_code == 404


def test_viewer_reads_the_brand_manager_edits_it(login, brand, acme_viewer, acme_manager):
    assert login(acme_viewer).get(change_url(brand)).context["has_change_permission"] is False
    client = login(acme_manager)
    response = client.post(
        change_url(brand),
        {
            "name": "Acme Beauty CN",
            "timezone": "Asia/Shanghai",
            "currency": "CNY",
            "erased_customer_rows": "anonymous",
        },
    )
    assert response.status_code == 302
    brand.refresh_from_db()
    assert (brand.name, brand.slug) == ("Acme Beauty CN", "acme")


def test_only_superusers_create_and_delete_brands(login, brand, acme_manager, superuser):
    manager = login(acme_manager)
    assert manager.get(add_url(Brand)).status_code == 403
    assert manager.post(delete_url(brand), {"post": "yes"}).status_code == 403

    root = login(superuser)
    response = root.post(
        add_url(Brand),
        {
            "slug": "nova",
            "name": "Nova Outdoor",
            "timezone": "Asia/Shanghai",
            "currency": "CNY",
            "erased_customer_rows": "anonymous",
        },
    )
    assert response.status_code == 302
    nova = Brand.objects.get(slug="nova")
    # created through brand_create: the default tiers come with it
    assert Tier.objects.filter(brand=nova).exists()
    assert root.post(delete_url(nova), {"post": "yes"}).status_code == 302
    assert not Brand.objects.filter(slug="nova").exists()


def test_manager_adds_a_member_and_groups_follow(login, brand, acme_manager):
    # Given a manager of Acme and a user who belongs to no brand yet
    newcomer = UserFactory(username="newcomer", is_staff=False)
    client = login(acme_manager)
    # When the manager adds them as an analyst
    response = client.post(
        add_url(Membership), {"username": "newcomer", "brand": brand.pk, "role": "analyst"}
    )
    # Then the membership exists and the user has the analyst group and staff access
    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer, brand=brand).role == "analyst"
    newcomer.refresh_from_db()
    assert group_names(newcomer) == {GROUP_NAMES["analyst"]}
    assert newcomer.is_staff


def test_changing_a_role_moves_the_user_between_groups(login, brand, acme_manager, acme_viewer):
    membership = Membership.objects.get(user=acme_viewer, brand=brand)
    response = login(acme_manager).post(change_url(membership), {"role": "manager"})
    assert response.status_code == 302
    assert group_names(acme_viewer) == {GROUP_NAMES["manager"]}
    promoted = type(acme_viewer).objects.get(pk=acme_viewer.pk)
    assert promoted.has_perm("customers.view_customer_pii")


def test_removing_a_member_removes_their_group(login, brand, acme_manager, acme_viewer):
    membership = Membership.objects.get(user=acme_viewer, brand=brand)
    response = login(acme_manager).post(delete_url(membership), {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert group_names(acme_viewer) == set()


def test_bulk_removal_goes_through_the_service(login, brand, acme_manager, acme_viewer, acme_analyst):
    ids = list(Membership.objects.filter(user__in=[acme_viewer, acme_analyst]).values_list("pk", flat=True))
    response = login(acme_manager).post(
        changelist_url(Membership), {"action": "delete_selected", "_selected_action": ids, "post": "yes"}
    )
    assert response.status_code == 302
    assert group_names(acme_viewer) == set()
    assert group_names(acme_analyst) == set()


def test_unknown_username_and_duplicates_are_refused(login, brand, acme_manager, acme_viewer):
    client = login(acme_manager)
    response = client.post(add_url(Membership), {"username": "nobody", "brand": brand.pk, "role": "viewer"})
    assert "No active user has this username." in response.content.decode()
    response = client.post(
        add_url(Membership), {"username": "acme-viewer", "brand": brand.pk, "role": "viewer"}
    )
    assert (
        "acme-viewer is already a member of Acme Beauty; change their role instead."
        in response.content.decode()
    )


def test_memberships_of_other_brands_are_invisible_and_untouchable(
    login, brand, other_brand, acme_viewer, rival_manager
):
    client = login(rival_manager)
    response = client.get(changelist_url(Membership))
    assert {m.brand_id for m in response.context["cl"].result_list} == {other_brand.pk}
    membership = Membership.objects.get(user=acme_viewer, brand=brand)
    assert client.post(change_url(membership), {"role": "manager"}).status_code == 404
    # and their brand choice does not offer Acme
    response = client.post(
        add_url(Membership), {"username": "acme-viewer", "brand": brand.pk, "role": "viewer"}
    )
    assert response.status_code == 200
    assert not Membership.objects.filter(user=acme_viewer, brand=other_brand).exists()
    assert Membership.objects.get(user=acme_viewer, brand=brand).role == "viewer"


def test_viewers_cannot_see_memberships(login, brand, acme_viewer, acme_analyst):
    assert login(acme_viewer).get(changelist_url(Membership)).status_code == 403
    analyst = login(acme_analyst)
    assert analyst.get(changelist_url(Membership)).status_code == 200
    assert analyst.get(add_url(Membership)).status_code == 403


def test_role_groups_exist(db):
    assert set(Group.objects.values_list("name", flat=True)) >= set(GROUP_NAMES.values())
