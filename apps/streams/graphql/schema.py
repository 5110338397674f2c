"""Root query and mutation fields of the streams app, merged into clvsite.schema."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from apps.core.graphql.ingest import BATCH, MANAGER, IngestPayload, ingest
from apps.core.graphql.relay import Connection, connection
from apps.streams.graphql.filters import StreamFilter, StreamOrder, streams_filter, streams_order
from apps.streams.graphql.inputs import StreamIngestInput, StreamViewIngestInput
from apps.streams.graphql.types import StreamType
from apps.streams.ingest import stream_views_ingest, streams_ingest
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


@strawberry.type
class Mutation:
    @strawberry.mutation(description=f"Create or update live streams by streamId. {BATCH} {MANAGER}")
    def ingest_streams(
        self, info: Info, brand: strawberry.ID, items: list[StreamIngestInput]
    ) -> IngestPayload:
        return ingest(info, brand, items, streams_ingest)

    @strawberry.mutation(
        description=f"Create or update stream views by (streamId, customerId); unknown customers are created. "
        f"{BATCH} {MANAGER}"
    )
    def ingest_stream_views(
        self, info: Info, brand: strawberry.ID, items: list[StreamViewIngestInput]
    ) -> IngestPayload:
        return ingest(info, brand, items, stream_views_ingest)
