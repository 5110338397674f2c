"""Root query and mutation fields of the customers app, merged into clvsite.schema."""

from __future__ import annotations

import strawberry
import strawberry_django
from django.utils.translation import gettext
from strawberry import relay
from strawberry.types import Info

from apps.analytics import selectors
from apps.core.graphql.ingest import BATCH, MANAGER, IngestPayload, ingest
from apps.core.graphql.mutations import scoped_get
from apps.core.graphql.permissions import request_user
from apps.core.graphql.relay import Connection, connection, node_pk
from apps.customers.graphql import scores
from apps.customers.graphql.filters import CustomerFilter, CustomerOrder, customers_filter, customers_order
from apps.customers.graphql.inputs import CustomerIngestInput, EraseCustomerPayload
from apps.customers.graphql.types import CustomerType
from apps.customers.ingest import customers_ingest
from apps.customers.models import Customer
from apps.customers.services import customer_erase


@strawberry.type
class Query:
    @connection(
        Connection[CustomerType],
        description="Customers of the caller's brands, with filters and orderings staff need "
        "(by external id when no order is given).",
    )
    def customers(
        self,
        info: Info,
        filter: CustomerFilter | None = None,  # noqa: A002 - the GraphQL argument's name
        order_by: CustomerOrder | None = None,
    ) -> list[CustomerType]:
        queryset = selectors.customers_with_published_score(
            Customer.objects.all(), scores.brand_ids_of_caller(info)
        )
        queryset = customers_filter(queryset, filter, info)
        return customers_order(queryset, order_by)

    @strawberry_django.field(
        description="One customer by id; null if not found or of another brand.", disable_optimization=True
    )
    def customer(self, info: Info, id: relay.GlobalID) -> CustomerType | None:  # noqa: A002
        return Customer.objects.filter(pk=node_pk(id, type_name="Customer", field="id"))


@strawberry.type
class Mutation:
    @strawberry.mutation(description=f"Create or update customers by customerId. {BATCH} {MANAGER}")
    def ingest_customers(
        self, info: Info, brand: strawberry.ID, items: list[CustomerIngestInput]
    ) -> IngestPayload:
        return ingest(info, brand, items, customers_ingest)

    @strawberry.mutation(
        description="Erase a customer's personal data for good (PIPL): name, phone, gender, birth year, age "
        "band, region and touch preference are cleared, the external id becomes a random token, marketing "
        "consent is withdrawn and the customer is opted out of automated decisions (tiers and benefits). "
        "Orders and the brand's figures stay. Idempotent. Needs the manager role in the customer's brand."
    )
    def erase_customer(self, info: Info, id: strawberry.ID) -> EraseCustomerPayload:  # noqa: A002
        customer = scoped_get(
            info,
            Customer,
            id,
            "Customer",
            not_found=gettext("No such customer."),
            minimum="manager",
            select_related=["brand"],
        )
        customer, erased_now = customer_erase(
            brand=customer.brand, customer_id=customer.pk, actor=request_user(info)
        )
        return EraseCustomerPayload(
            customer_id=relay.GlobalID("Customer", str(customer.pk)),
            erased_at=customer.erased_at,
            erased_now=erased_now,
            brand_id=customer.brand_id,
        )
