"""Batch ingest (customers, streams, stream views, orders) and customer erasure over GraphQL.

Both write a brand's data, so both need the manager role in that brand (API tokens: a manager token). The
mutations only check who is calling and translate types; the work is done by the services the CSV import
commands and the admin use (apps.core.importing.batch → apps/<app>/importers.py; customers.services).
"""

from __future__ import annotations

import strawberry
from django.utils.translation import gettext
from strawberry import relay
from strawberry.types import Info

from apps.core.graphql.ingest_types import (
    CustomerIngestInput,
    EraseCustomerPayload,
    IngestPayload,
    OrderIngestInput,
    StreamIngestInput,
    StreamViewIngestInput,
    input_values,
)
from apps.core.graphql.mutations import brand_for, scoped_get
from apps.core.importing import batch

MANAGER = "Needs the manager role in the brand (ingest writes the brand's data)."
BATCH = (
    "At most 1,000 items per call (more: one error, nothing written). Idempotent by external id: sending the "
    "same items again changes nothing; changed fields are updated. Every bad item gives an error with its "
    "index and field, and with any error nothing is written."
)


def _ingest(info: Info, brand_id, items, service) -> IngestPayload:
    brand = brand_for(info, brand_id, "manager")
    if refused := batch.too_many_items(len(items)):
        return IngestPayload.from_result(refused)
    return IngestPayload.from_result(service(brand=brand, items=[input_values(item) for item in items]))


@strawberry.type
class Mutation:
    @strawberry.mutation(description=f"Create or update customers by customerId. {BATCH} {MANAGER}")
    def ingest_customers(
        self, info: Info, brand: strawberry.ID, items: list[CustomerIngestInput]
    ) -> IngestPayload:
        return _ingest(info, brand, items, batch.customers_ingest)

    @strawberry.mutation(description=f"Create or update live streams by streamId. {BATCH} {MANAGER}")
    def ingest_streams(
        self, info: Info, brand: strawberry.ID, items: list[StreamIngestInput]
    ) -> IngestPayload:
        return _ingest(info, brand, items, batch.streams_ingest)

    @strawberry.mutation(
        description=f"Create or update stream views by (streamId, customerId); unknown customers are created. "
        f"{BATCH} {MANAGER}"
    )
    def ingest_stream_views(
        self, info: Info, brand: strawberry.ID, items: list[StreamViewIngestInput]
    ) -> IngestPayload:
        return _ingest(info, brand, items, batch.stream_views_ingest)

    @strawberry.mutation(
        description=f"Create or update whole orders by orderId; unknown customers are created. {BATCH} {MANAGER}"
    )
    def ingest_orders(self, info: Info, brand: strawberry.ID, items: list[OrderIngestInput]) -> IngestPayload:
        return _ingest(info, brand, items, batch.orders_ingest)

    @strawberry.mutation(
        description="Erase a customer's personal data for good (PIPL): name, phone, gender, birth year, age "
        "band, region and touch preference are cleared, the external id becomes a random token, marketing "
        "consent is withdrawn and the customer is opted out of automated decisions (tiers and benefits). "
        "Orders and the brand's figures stay. Idempotent. Needs the manager role in the customer's brand."
    )
    def erase_customer(self, info: Info, id: strawberry.ID) -> EraseCustomerPayload:
        from apps.customers.models import Customer
        from apps.customers.services import customer_erase

        customer = scoped_get(
            info,
            Customer,
            id,
            "Customer",
            not_found=gettext("No such customer."),
            minimum="manager",
            select_related=["brand"],
        )
        customer, erased_now = customer_erase(brand=customer.brand, customer_id=customer.pk)
        return EraseCustomerPayload(
            customer_id=relay.GlobalID("Customer", str(customer.pk)),
            erased_at=customer.erased_at,
            erased_now=erased_now,
        )
