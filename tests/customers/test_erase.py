"""customer_erase (the service) and the admin action "Erase personal data" that calls it."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from apps.brands.services import membership_set
from apps.customers.models import Customer
from apps.customers.services import customer_erase
from apps.orders.models import Order
from tests.factories import CustomerFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:customers_customer_changelist")
WHEN = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def pii(customer) -> tuple:
    c = Customer.objects.get(pk=customer.pk)
    return (c.external_id, c.display_name, c.phone, c.birth_year, c.province, c.city, c.erased_at)


@pytest.fixture
def customer(brand):
    c = CustomerFactory(
        brand=brand,
        external_id="ext-1",
        display_name="Li",
        phone="13800000001",
        birth_year=1990,
        city="Xi'an",
    )
    OrderFactory(brand=brand, customer=c, external_id="O-1")
    return c


def test_customer_erase_clears_personal_data_and_records_when(brand, customer):
    erased, erased_now = customer_erase(brand=brand, customer_id=customer.pk, now=WHEN)
    assert erased_now is True
    external_id, name, phone, birth_year, province, city, erased_at = pii(customer)
    assert external_id == erased.external_id and external_id.startswith("erased-")
    assert (name, phone, birth_year, province, city, erased_at) == ("", "", None, "", "", WHEN)
    assert Order.objects.get(external_id="O-1").customer_id == customer.pk


def test_customer_erase_is_idempotent_and_tokens_are_not_derived_from_the_id(brand, customer):
    first, _ = customer_erase(brand=brand, customer_id=customer.pk, now=WHEN)
    again, erased_now = customer_erase(brand=brand, customer_id=customer.pk)
    assert erased_now is False
    assert (again.external_id, again.erased_at) == (first.external_id, WHEN)
    twin = CustomerFactory(brand=brand, external_id="ext-1-twin")
    other, _ = customer_erase(brand=brand, customer_id=twin.pk)
    assert other.external_id != first.external_id


def test_customer_erase_refuses_another_brands_customer(brand, other_brand, customer):
    with pytest.raises(Customer.DoesNotExist):
        customer_erase(brand=other_brand, customer_id=customer.pk)
    assert pii(customer)[:3] == ("ext-1", "Li", "13800000001")


def test_customer_erase_relabels_the_admin_history(brand, customer):
    user = UserFactory(username="admin-user")
    LogEntry.objects.log_actions(user_id=user.pk, queryset=[customer], action_flag=CHANGE, change_message="x")
    erased, _ = customer_erase(brand=brand, customer_id=customer.pk)
    content_type = ContentType.objects.get_for_model(Customer)
    reprs = set(LogEntry.objects.filter(content_type=content_type).values_list("object_repr", flat=True))
    assert reprs == {erased.external_id}


def _member(brand, role, username):
    user = UserFactory(username=username)
    membership_set(user=user, brand=brand, role=role)
    return user


def _erase_action(client, *customers, confirm: bool = True, **headers):
    """The list's "Erase personal data" action: the confirmation page, then (confirm) the "Yes" on it."""
    selection = {"action": "erase_personal_data", "_selected_action": [c.pk for c in customers]}
    response = client.post(CHANGELIST, {**selection, "index": 0}, follow=True, **headers)
    if not confirm or response.status_code != 200 or "erase-form" not in response.content.decode():
        return response
    return client.post(CHANGELIST, {**selection, "post": "yes"}, follow=True, **headers)


def _offered_actions(client) -> list[str]:
    form = client.get(CHANGELIST).context["action_form"]
    return [] if form is None else [name for name, _label in form.fields["action"].choices]


def test_admin_action_erases_for_a_manager(client, brand, customer):
    client.force_login(_member(brand, "manager", "mona"))
    assert "erase_personal_data" in _offered_actions(client)
    response = _erase_action(client, customer)
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["Erased the personal data of 1 customer."]
    assert pii(customer)[1:6] == ("", "", None, "", "")
    assert pii(customer)[6] is not None
    entry = LogEntry.objects.get(object_id=str(customer.pk))
    assert entry.object_repr == pii(customer)[0]


def test_admin_action_asks_first_and_erases_nothing_until_confirmed(client, brand, customer):
    other = CustomerFactory(brand=brand, external_id="ext-2", phone="13800000002")
    client.force_login(_member(brand, "manager", "mona"))
    page = _erase_action(client, customer, other, confirm=False)
    text = page.content.decode()
    assert page.status_code == 200 and 'id="erase-form"' in text
    assert "Erase the personal data of 2 customers:" in text and "ext-1, ext-2" in text
    assert "This cannot be undone." in text
    assert "13800000001" not in text and "Li" not in text.split('id="erase-summary"')[1].split("</p>")[0]
    assert pii(customer)[:3] == ("ext-1", "Li", "13800000001")
    chinese = _erase_action(client, customer, other, confirm=False, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert (
        "清除 2 位客户的个人信息：" in chinese.content.decode()
        and "此操作无法撤销。" in chinese.content.decode()
    )
    done = _erase_action(client, customer, other)
    assert [str(m) for m in done.context["messages"]] == ["Erased the personal data of 2 customers."]
    assert pii(customer)[1:3] == ("", "")


def test_admin_action_is_not_offered_to_viewers(client, brand, customer):
    client.force_login(_member(brand, "viewer", "vic"))
    assert "erase_personal_data" not in _offered_actions(client)
    _erase_action(client, customer)
    assert pii(customer)[:3] == ("ext-1", "Li", "13800000001")


def test_admin_action_refuses_customers_of_a_brand_the_user_only_views(client, brand, other_brand, customer):
    user = _member(brand, "manager", "mona")
    membership_set(user=user, brand=other_brand, role="viewer")
    rival = CustomerFactory(brand=other_brand, external_id="rival-1", phone="13900000009")
    client.force_login(user)
    response = _erase_action(client, customer, rival)
    assert response.status_code == 403
    assert pii(customer)[:3] == ("ext-1", "Li", "13800000001")
    assert pii(rival)[0] == "rival-1"
