"""Links between brand-owned rows are composite keys (brand_id, x_id) → parent (brand_id, id) in PostgreSQL:
a row can never point at another brand's row, whatever code path wrote it."""

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from apps.core.migration_ops import same_brand_constraint_name
from apps.core.models import BrandOwnedModel
from apps.orders.models import Order
from tests.factories import BrandFactory, CustomerFactory, OrderFactory, StreamViewFactory

pytestmark = pytest.mark.django_db


def intra_brand_foreign_keys():
    for model in apps.get_models():
        if not issubclass(model, BrandOwnedModel):
            continue
        for field in model._meta.concrete_fields:
            if (
                field.many_to_one
                and field.name != "brand"
                and issubclass(field.related_model, BrandOwnedModel)
            ):
                yield model, field


def constraint_defs(table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = %s::regclass",
            [table],
        )
        return dict(cursor.fetchall())


def test_every_link_between_brand_owned_rows_is_a_composite_same_brand_key():
    checked = 0
    for model, field in intra_brand_foreign_keys():
        table, parent = model._meta.db_table, field.related_model._meta.db_table
        defs = constraint_defs(table)
        name = same_brand_constraint_name(table, field.column)
        assert defs.get(name) == (
            f"FOREIGN KEY (brand_id, {field.column}) REFERENCES {parent}(brand_id, id) DEFERRABLE INITIALLY DEFERRED"
        ), f"{model.__name__}.{field.name}"
        # and no single-column key that would need an index not led by brand_id
        assert not any(d.startswith(f"FOREIGN KEY ({field.column})") for d in defs.values())
        checked += 1
    assert checked >= 13


def test_an_order_pointing_at_another_brands_customer_is_refused_by_postgresql():
    # given a customer of brand B
    stranger = CustomerFactory(brand=BrandFactory(slug="b"))
    brand_a = BrandFactory(slug="a")
    # when an order of brand A is written straight to the table (no model validation)
    with pytest.raises(IntegrityError, match="same_brand_fk"), transaction.atomic():
        Order.objects.create(
            brand=brand_a,
            customer=stranger,
            external_id="O1",
            placed_at=stranger.first_seen_at,
            total_amount=1,
        )
        connection.check_constraints()
    assert not Order.objects.exists()


def test_deleting_a_customer_checks_children_through_an_index():
    # given a customer with an order and a stream view
    view = StreamViewFactory()
    order = OrderFactory(brand=view.brand, customer=view.customer)
    # when PostgreSQL plans the check it runs for each deleted customer (seq scans ruled out, so a plan
    # without a usable index would still show a Seq Scan)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT 1 FROM orders_order WHERE brand_id = %s AND customer_id = %s",
            [order.brand_id, order.customer_id],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # then an index (every index of the table leads with brand_id, see test_indexes) serves it
    assert "Index" in plan and "Seq Scan" not in plan
