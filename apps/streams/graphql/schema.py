"""Root query and mutation fields of the streams app, merged into clvsite.schema."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from apps.core.graphql.relay import Connection, connection
from apps.streams.graphql.filters import StreamFilter, StreamOrder, streams_filter, streams_order
from apps.streams.graphql.types import StreamType
from apps.streams.models import Stream


@strawberry.type
class Query:
    @connection(
        Connection[StreamType], description="Live streams of the caller's brands, latest first by default."
    )
    def streams(
        self,
        info: Info,
        filter: StreamFilter | None = None,  # noqa: A002 - the GraphQL argument's name
        order_by: StreamOrder | None = None,
    ) -> list[StreamType]:
        return streams_order(streams_filter(Stream.objects.all(), filter), order_by)
