"""Root query and mutation fields of the orders app, merged into clvsite.schema."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from apps.core.graphql.ingest import BATCH, MANAGER, IngestPayload, ingest
from apps.core.graphql.relay import Connection, connection
from apps.orders.graphql.filters import OrderFilter, OrderOrder, orders_filter, orders_order
from apps.orders.graphql.inputs import OrderIngestInput
from apps.orders.graphql.types import OrderType
from apps.orders.ingest import orders_ingest
from apps.orders.models import Order


@strawberry.type
class Query:
    @connection(Connection[OrderType], description="Orders of the caller's brands, newest first by default.")
    def orders(
        self,
        info: Info,
        filter: OrderFilter | None = None,  # noqa: A002 - the GraphQL argument's name
        order_by: OrderOrder | None = None,
    ) -> list[OrderType]:
        return orders_order(orders_filter(Order.objects.all(), filter), order_by)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description=f"Create or update whole orders by orderId; unknown customers are created. {BATCH} {MANAGER}"
    )
    def ingest_orders(self, info: Info, brand: strawberry.ID, items: list[OrderIngestInput]) -> IngestPayload:
        return ingest(info, brand, items, orders_ingest)
