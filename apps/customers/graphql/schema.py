"""Root query and mutation fields of the customers app, merged into clvsite.schema."""

from __future__ import annotations

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.types import Info

from apps.analytics import selectors
from apps.core.graphql.relay import Connection, connection, node_pk
from apps.customers.graphql import scores
from apps.customers.graphql.filters import CustomerFilter, CustomerOrder, customers_filter, customers_order
from apps.customers.graphql.types import CustomerType
from apps.customers.models import Customer


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

    @strawberry_django.field(description="One customer by id; null if not found or of another brand.")
    def customer(self, info: Info, id: relay.GlobalID) -> CustomerType | None:  # noqa: A002
        return Customer.objects.filter(pk=node_pk(id, type_name="Customer", field="id"))
