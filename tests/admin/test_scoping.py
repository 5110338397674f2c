"""Every brand-owned admin: members see their brand's rows; staff of another brand never do."""

import pytest

from apps.loyalty.models import BenefitGrant
from tests.admin.conftest import BRAND_OWNED_MODELS, change_url, changelist_url, delete_url, model_id

pytestmark = pytest.mark.django_db


def _row_link(customer) -> str:
    """A customer's row in the list links to their 360 page (the record's form is one click further)."""
    from django.urls import reverse

    return reverse("admin:customers_customer_360", args=[customer.pk])


@pytest.mark.parametrize("model", BRAND_OWNED_MODELS, ids=model_id)
def test_member_loads_changelist_and_change_page(login, acme, rival, acme_viewer, model):
    # Given a viewer of Acme and one row of this model in Acme and in Rival
    client = login(acme_viewer)
    # When they open the list
    response = client.get(changelist_url(model))
    # Then they see Acme's row and not Rival's
    assert response.status_code == 200
    html = response.content.decode()
    link = _row_link if model._meta.label_lower == "customers.customer" else change_url
    assert link(acme[model]) in html
    assert link(rival[model]) not in html
    assert response.context["cl"].result_count == 1
    # And Acme's row opens (read-only for a viewer)
    response = client.get(change_url(acme[model]))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False


@pytest.mark.parametrize("model", BRAND_OWNED_MODELS, ids=model_id)
def test_staff_of_another_brand_gets_404(login, acme, rival, rival_manager, model):
    client = login(rival_manager)
    assert client.get(change_url(acme[model])).status_code == 404
    assert client.get(delete_url(acme[model])).status_code == 404
    assert client.post(change_url(acme[model]), {}).status_code == 404
    # while their own row opens and can be edited
    response = client.get(change_url(rival[model]))
    assert response.status_code == 200
    manager_edits = model._meta.app_label in {"customers", "communities", "loyalty"}
    assert response.context["has_change_permission"] is manager_edits


@pytest.mark.parametrize("model", BRAND_OWNED_MODELS, ids=model_id)
def test_manager_of_another_brand_never_sees_rows_in_changelist(login, acme, rival, rival_manager, model):
    response = login(rival_manager).get(changelist_url(model))
    assert response.status_code == 200
    assert [obj.pk for obj in response.context["cl"].result_list] == [rival[model].pk]


@pytest.mark.parametrize("model", BRAND_OWNED_MODELS, ids=model_id)
def test_superuser_sees_both_brands_with_a_brand_column(login, acme, rival, superuser, model):
    response = login(superuser).get(changelist_url(model))
    assert response.status_code == 200
    assert {obj.pk for obj in response.context["cl"].result_list} == {acme[model].pk, rival[model].pk}
    assert "brand" in response.context["cl"].list_display


def test_brand_list_filter_offers_only_own_brands(login, acme, rival, brand, other_brand):
    # Given a viewer of Acme and of a third brand, and rows of Rival
    from apps.customers.models import Customer
    from tests.admin.conftest import staff
    from tests.factories import BrandFactory

    nova = BrandFactory(slug="nova", name="Nova Outdoor")
    user = staff("two-brands", (brand, "viewer"), (nova, "viewer"))
    # When they open the customer list
    html = login(user).get(changelist_url(Customer)).content.decode()
    # Then the brand filter offers their two brands and never Rival
    assert f"brand__id__exact={brand.pk}" in html
    assert f"brand__id__exact={nova.pk}" in html
    assert f"brand__id__exact={other_brand.pk}" not in html
    assert "Rival Apparel" not in html


def test_single_brand_staff_get_no_brand_filter_or_column(login, acme, acme_viewer):
    from apps.customers.models import Customer

    response = login(acme_viewer).get(changelist_url(Customer))
    assert "brand" not in response.context["cl"].list_display
    assert "brand__id__exact" not in response.content.decode()


@pytest.mark.parametrize("model", BRAND_OWNED_MODELS, ids=model_id)
def test_add_page_loads_for_superuser(login, acme, superuser, model):
    from tests.admin.conftest import add_url

    # grants are made by the customer list's action and the API, where the grant rules apply
    expected = 403 if model is BenefitGrant else 200
    assert login(superuser).get(add_url(model)).status_code == expected


@pytest.mark.parametrize("model", BRAND_OWNED_MODELS, ids=model_id)
def test_changelist_with_facets_stays_scoped(login, acme, rival, acme_viewer, model):
    response = login(acme_viewer).get(changelist_url(model), {"_facets": "1"})
    assert response.status_code == 200
    assert [obj.pk for obj in response.context["cl"].result_list] == [acme[model].pk]
