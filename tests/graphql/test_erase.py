"""eraseCustomer: personal data gone for good, orders and figures kept, idempotent, managers of the brand only."""

from decimal import Decimal

import pytest
from strawberry import relay

from apps.brands.services import membership_set
from apps.customers.models import Customer
from apps.loyalty.selectors import customer_ids_opted_out
from apps.orders.models import Order, OrderItem
from apps.streams.models import StreamView
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory, StreamViewFactory, UserFactory
from tests.graphql.conftest import gql, gql_token

pytestmark = pytest.mark.django_db

ERASE = "mutation($id: ID!) { eraseCustomer(id: $id) { customerId erasedAt erasedNow } }"
INGEST_CUSTOMERS = (
    "mutation($brand: ID!, $items: [CustomerIngestInput!]!) { ingestCustomers(brand: $brand, items: $items) "
    "{ ok errors { index field message } } }"
)


def customer_id(customer) -> str:
    return relay.to_base64("Customer", customer.pk)


def signed_in(client, brand, role, username):
    user = UserFactory(username=username)
    membership_set(user=user, brand=brand, role=role)
    client.force_login(user)
    client.get("/admin/")
    return client


@pytest.fixture
def customer(brand):
    customer = CustomerFactory(
        brand=brand,
        external_id="0013800",
        display_name="王小美",
        phone="13812345678",
        gender="female",
        birth_year=1995,
        age_band="25-34",
        province="浙江",
        city="杭州",
        acquisition_channel="live_stream",
        marketing_consent=True,
        automated_decisions_opt_out=False,
        preferred_touch_channel="wecom",
    )
    order = OrderFactory(brand=brand, customer=customer, external_id="O-1", total_amount=Decimal("88.00"))
    OrderItemFactory(brand=brand, order=order, amount=Decimal("88.00"))
    StreamViewFactory(brand=brand, customer=customer)
    return customer


def test_manager_erases_personal_data_and_keeps_orders(client, brand, customer):
    first_seen = customer.first_seen_at
    body = gql(signed_in(client, brand, "manager", "mona"), ERASE, {"id": customer_id(customer)}).json()
    payload = body["data"]["eraseCustomer"]
    assert payload["customerId"] == customer_id(customer)
    assert payload["erasedNow"] is True

    erased = Customer.objects.get(pk=customer.pk)
    assert erased.external_id.startswith("erased-") and len(erased.external_id) == 39
    assert "0013800" not in erased.external_id
    assert (erased.display_name, erased.phone, erased.gender, erased.birth_year, erased.age_band) == (
        "",
        "",
        "unknown",
        None,
        "",
    )
    assert (erased.province, erased.city, erased.preferred_touch_channel) == ("", "", "")
    assert (erased.marketing_consent, erased.automated_decisions_opt_out) == (False, True)
    assert erased.erased_at is not None
    # in the brand's time zone
    assert payload["erasedAt"] == erased.erased_at.astimezone(brand.tzinfo).isoformat()
    assert payload["erasedAt"].endswith("+08:00")
    # Orders, lines, views and what cohorts need stay as they were.
    order = Order.objects.get(brand=brand, external_id="O-1")
    assert (order.customer_id, order.total_amount) == (customer.pk, Decimal("88.00"))
    assert OrderItem.objects.filter(order=order).count() == 1
    assert StreamView.objects.filter(customer=customer).count() == 1
    assert (erased.acquisition_channel, erased.first_seen_at) == ("live_stream", first_seen)
    # Out of automated decisions (tier and benefit changes skip opted-out customers).
    assert customer.pk in customer_ids_opted_out(brand=brand)
    # Nothing left to find the person by.
    assert not Customer.objects.filter(external_id="0013800").exists()
    assert not Customer.objects.filter(phone="13812345678").exists()


def test_erasing_again_changes_nothing(client, brand, customer):
    client = signed_in(client, brand, "manager", "mona")
    gql(client, ERASE, {"id": customer_id(customer)})
    first = Customer.objects.get(pk=customer.pk)
    body = gql(client, ERASE, {"id": customer_id(customer)}).json()
    assert body["data"]["eraseCustomer"] == {
        "customerId": customer_id(customer),
        "erasedAt": first.erased_at.astimezone(brand.tzinfo).isoformat(),
        "erasedNow": False,
    }
    again = Customer.objects.get(pk=customer.pk)
    assert (again.external_id, again.erased_at, again.updated_at) == (
        first.external_id,
        first.erased_at,
        first.updated_at,
    )


def test_an_erased_customer_cannot_be_ingested_again_by_its_token(client, brand, customer):
    client = signed_in(client, brand, "manager", "mona")
    gql(client, ERASE, {"id": customer_id(customer)})
    token = Customer.objects.get(pk=customer.pk).external_id
    variables = {
        "brand": relay.to_base64("Brand", brand.pk),
        "items": [{"customerId": token, "phone": "13900000000"}],
    }
    body = gql(client, INGEST_CUSTOMERS, variables).json()
    assert body["data"]["ingestCustomers"] == {
        "ok": False,
        "errors": [
            {
                "index": 0,
                "field": "customerId",
                "message": "this customer's personal data was erased; it cannot be written again",
            }
        ],
    }
    assert Customer.objects.get(pk=customer.pk).phone == ""


def _unchanged(customer):
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.external_id, fresh.phone, fresh.display_name, fresh.erased_at) == (
        "0013800",
        "13812345678",
        "王小美",
        None,
    )


def test_another_brand_cannot_erase(client, brand, other_brand, customer, rival_member):
    client.force_login(rival_member)
    client.get("/admin/")
    body = gql(client, ERASE, {"id": customer_id(customer)}).json()
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == ["No such customer."]
    _unchanged(customer)


def test_another_brands_token_cannot_erase(client, brand, other_brand, customer, api_token_for):
    body = gql_token(
        client, api_token_for(other_brand, "manager"), ERASE, {"id": customer_id(customer)}
    ).json()
    assert [e["message"] for e in body["errors"]] == ["No such customer."]
    _unchanged(customer)
    body = gql_token(client, api_token_for(brand, "manager"), ERASE, {"id": customer_id(customer)}).json()
    assert body["data"]["eraseCustomer"]["erasedNow"] is True


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_cannot_erase(client, brand, customer, role):
    body = gql(signed_in(client, brand, role, f"{role}-user"), ERASE, {"id": customer_id(customer)}).json()
    assert [e["message"] for e in body["errors"]] == ["This needs the Manager role in the brand."]
    _unchanged(customer)


@pytest.mark.parametrize("bad", ["nonsense", "QnJhbmQ6MQ==", "Q3VzdG9tZXI6eA=="])
def test_ids_that_are_not_customers_are_not_found(client, brand, customer, bad):
    body = gql(signed_in(client, brand, "manager", "mona"), ERASE, {"id": bad}).json()
    assert [e["message"] for e in body["errors"]] == ["No such customer."]
    _unchanged(customer)
