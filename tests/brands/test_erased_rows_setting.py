"""Brand.erased_customer_rows: what imports do with rows of erased customers, chosen by the brand's managers in
the admin (default: keep them anonymous)."""

import pytest
from django.urls import reverse

from apps.brands.models import Brand
from apps.brands.services import membership_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_new_brand_keeps_rows_of_erased_customers_anonymous(brand):
    assert Brand.objects.get(pk=brand.pk).erased_customer_rows == "anonymous"


def test_a_manager_chooses_to_refuse_them_in_the_admin(client, brand):
    user = UserFactory(username="mona")
    membership_set(user=user, brand=brand, role="manager")
    client.force_login(user)
    url = reverse("admin:brands_brand_change", args=[brand.pk])
    page = client.get(url)
    assert 'name="erased_customer_rows"' in page.content.decode()
    response = client.post(
        url,
        {
            "name": brand.name,
            "timezone": brand.timezone,
            "currency": brand.currency,
            "erased_customer_rows": "refuse",
        },
    )
    assert response.status_code == 302
    assert Brand.objects.get(pk=brand.pk).erased_customer_rows == "refuse"


def test_a_superuser_sets_it_when_adding_a_brand(client):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    response = client.post(
        reverse("admin:brands_brand_add"),
        {
            "slug": "glow",
            "name": "Glow",
            "timezone": "Asia/Shanghai",
            "currency": "CNY",
            "erased_customer_rows": "refuse",
        },
    )
    assert response.status_code == 302
    assert Brand.objects.get(slug="glow").erased_customer_rows == "refuse"
