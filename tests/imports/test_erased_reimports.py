"""Erasure that lasts: re-importing the brand's usual files after a customer was erased does not bring the
person back (no customer under the old id, no personal field written, orders not moved), whether the brand
keeps such rows anonymous (the default) or refuses them; the same through the GraphQL batch ingests."""

from decimal import Decimal

import pytest
from django.core.management import CommandError
from strawberry import relay

from apps.customers.models import Customer, ErasureTombstone
from apps.customers.services import customer_erase
from apps.orders.models import Order
from apps.streams.models import StreamView
from tests.customers.erasure_world import (
    ORDER,
    PERSON,
    build_world,
    figures,
    import_file,
    pii_hits,
)
from tests.factories import CustomerFactory, OrderFactory
from tests.graphql.conftest import gql

pytestmark = pytest.mark.django_db

REFUSED = (
    "this customer's personal data was erased; the brand refuses rows of erased customers "
    "(brand setting: rows of erased customers in imports)"
)


@pytest.fixture
def erased_world(brand, manager, tmp_path):
    world = build_world(brand, tmp_path, manager)
    world.figures = figures(brand)
    customer_erase(brand=brand, customer_id=world.person.pk, actor=manager)
    world.token = Customer.objects.get(pk=world.person.pk).external_id
    return world


def _person_is_gone(brand, world):
    assert not Customer.objects.filter(brand=brand, external_id=PERSON["external_id"]).exists()
    erased = Customer.objects.get(pk=world.person.pk)
    assert (erased.external_id, erased.display_name, erased.phone, erased.email) == (world.token, "", "", "")
    assert (erased.city, erased.birth_year, erased.marketing_consent) == ("", None, False)


def test_reimporting_the_usual_files_keeps_the_erased_customer_anonymous(brand, erased_world):
    summaries = {}
    for name in ORDER:
        out, err = import_file(brand, erased_world.paths[name])
        assert err == ""
        summaries[name] = out
    _person_is_gone(brand, erased_world)
    assert figures(brand) == erased_world.figures  # same orders on the same customers, same totals
    assert pii_hits(PERSON) == []
    # Each summary says what happened to the person's rows (a count, never the id).
    assert "rows of erased customers, not written: 1" in summaries["customers.csv"]
    assert "1 skipped" in summaries["customers.csv"]
    assert "rows of erased customers, kept anonymous: 4" in summaries["orders.csv"]
    assert "rows of erased customers, kept anonymous: 2" in summaries["views.csv"]
    assert "rows of erased customers, kept anonymous: 1" in summaries["memberships.csv"]
    assert "rows of erased customers, kept anonymous: 1" in summaries["redemptions.csv"]
    assert "0 created, 0 updated, 5 unchanged" in summaries["orders.csv"]
    assert "customers created: 0" in summaries["orders.csv"]


def test_new_rows_of_the_erased_person_go_to_the_erased_customer(brand, erased_world, write_csv):
    path = write_csv(
        "orders.csv",
        f"order_id,customer_id,ordered_at,amount\nO-2001,{PERSON['external_id']},2026-05-01T10:00:00,66.00\n",
    )
    import_file(brand, path)
    order = Order.objects.get(brand=brand, external_id="O-2001")
    assert order.customer_id == erased_world.person.pk
    _person_is_gone(brand, erased_world)


def test_a_brand_that_refuses_gets_an_error_per_row_and_nothing_written(brand, erased_world):
    brand.erased_customer_rows = "refuse"
    brand.save()
    expected = {
        "customers.csv": ["customers.csv:2 customer_id: " + REFUSED],
        "views.csv": ["views.csv:2 customer_id: " + REFUSED, "views.csv:4 customer_id: " + REFUSED],
        "orders.csv": [f"orders.csv:{line} customer_id: " + REFUSED for line in (2, 3, 5, 6)],
        "memberships.csv": ["memberships.csv:2 customer_id: " + REFUSED],
        "redemptions.csv": ["redemptions.csv:2 customer_id: " + REFUSED],
    }
    for name, errors in expected.items():
        with pytest.raises(CommandError, match="nothing was written"):
            import_file(brand, erased_world.paths[name])
        try:
            import_file(brand, erased_world.paths[name], "--skip-invalid")
        except CommandError:  # pragma: no cover - the message says why
            pytest.fail(f"{name} with --skip-invalid")
        _out, err = import_file(brand, erased_world.paths[name], "--skip-invalid", "--dry-run")
        assert err.splitlines() == errors
    _person_is_gone(brand, erased_world)
    assert figures(brand) == erased_world.figures
    assert pii_hits(PERSON) == []


def test_an_order_of_a_customer_erased_before_tombstones_does_not_move(brand, write_csv):
    """An erasure made before tombstones existed left only a random token: the old id is free, and a file
    under it creates a new customer, but the orders already stored stay with the erased customer."""
    old = CustomerFactory(brand=brand, external_id="legacy-1", display_name="Old", phone="13800009999")
    OrderFactory(brand=brand, customer=old, external_id="O-9", total_amount=Decimal("50.00"))
    customer_erase(brand=brand, customer_id=old.pk)
    ErasureTombstone.objects.filter(customer=old).delete()  # as such an erasure left it
    path = write_csv("orders.csv", "order_id,customer_id,ordered_at,amount\nO-9,legacy-1,2026-03-01,80.00\n")
    out, _err = import_file(brand, path)
    order = Order.objects.get(brand=brand, external_id="O-9")
    assert (order.customer_id, order.total_amount) == (old.pk, Decimal("80.00"))
    assert "0 created, 1 updated" in out


def test_rows_under_the_erasure_token_write_no_personal_field(brand, erased_world, write_csv):
    path = write_csv("customers.csv", f"customer_id,name,phone\n{erased_world.token},Someone,13800001234\n")
    out, _err = import_file(brand, path)
    assert "rows of erased customers, not written: 1" in out
    _person_is_gone(brand, erased_world)


def test_a_dry_run_counts_the_rows_kept_anonymous(brand, erased_world):
    out, _err = import_file(brand, erased_world.paths["views.csv"], "--dry-run")
    assert "rows of erased customers, kept anonymous: 2" in out
    assert StreamView.objects.filter(customer_id=erased_world.person.pk).count() == 2


# --- the GraphQL batch ingests ---------------------------------------------------------------------------

PAYLOAD = "{ ok created updated unchanged customersCreated errors { index field message } }"
INGEST = {
    "customers": "mutation($brand: ID!, $items: [CustomerIngestInput!]!) { ingestCustomers(brand: $brand, "
    "items: $items) " + PAYLOAD + " }",
    "views": "mutation($brand: ID!, $items: [StreamViewIngestInput!]!) { ingestStreamViews(brand: $brand, "
    "items: $items) " + PAYLOAD + " }",
    "orders": "mutation($brand: ID!, $items: [OrderIngestInput!]!) { ingestOrders(brand: $brand, "
    "items: $items) " + PAYLOAD + " }",
}
ITEMS = {
    "customers": [
        {"customerId": "dy-0033002", "city": "天津"},
        {"customerId": PERSON["external_id"], "phone": PERSON["phone"]},
    ],
    "views": [
        {"streamId": "S2", "customerId": "dy-0022001", "watchSeconds": 60},
        {"streamId": "S1", "customerId": PERSON["external_id"], "watchSeconds": 3600},
    ],
    "orders": [
        {
            "orderId": "O-1002",
            "customerId": "dy-0022001",
            "orderedAt": "2026-03-01T21:00:00",
            "lines": [{"amount": "88.00"}],
        },
        {
            "orderId": "O-1003",
            "customerId": PERSON["external_id"],
            "orderedAt": "2026-03-15T20:45:00",
            "streamId": "S2",
            "lines": [{"amount": "120.00", "sku": "SKU-C"}],
        },
    ],
}


@pytest.fixture
def call(client, manager, brand):
    client.force_login(manager)
    client.get("/admin/")

    def run(kind):
        body = gql(client, INGEST[kind], {"brand": relay.to_base64("Brand", brand.pk), "items": ITEMS[kind]})
        return next(iter(body.json()["data"].values()))

    return run


@pytest.mark.parametrize("kind", ["customers", "views", "orders"])
def test_ingests_keep_the_erased_customer_anonymous(brand, erased_world, call, kind):
    payload = call(kind)
    assert (payload["ok"], payload["customersCreated"], payload["errors"]) == (True, 0, [])
    _person_is_gone(brand, erased_world)
    assert pii_hits(PERSON) == []
    assert Order.objects.get(brand=brand, external_id="O-1003").customer_id == erased_world.person.pk


@pytest.mark.parametrize("kind", ["customers", "views", "orders"])
def test_ingests_refuse_when_the_brand_refuses(brand, erased_world, call, kind):
    brand.erased_customer_rows = "refuse"
    brand.save()
    payload = call(kind)
    assert (payload["ok"], payload["errors"]) == (
        False,
        [{"index": 1, "field": "customerId", "message": REFUSED}],
    )
    _person_is_gone(brand, erased_world)
    assert figures(brand) == erased_world.figures
