"""GraphQL types of the streams app: live streams and who watched them. Relay nodes scoped to the caller's
brands (BrandScopedType), so nested lists and prefetches never show another brand's rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from strawberry import relay

from apps.core.graphql.enums import choices_enum
from apps.core.graphql.relay import Connection, connection
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType
from apps.streams import models

if TYPE_CHECKING:
    from apps.customers.graphql.types import CustomerType

CustomerRef = Annotated["CustomerType", strawberry.lazy("apps.customers.graphql.types")]

StreamPlatform = choices_enum(models.Platform, "StreamPlatform", "The platform a live stream ran on.")


@strawberry_django.type(
    models.Stream, name="Stream", description="A live stream of a brand.", only=BRAND_COLUMN
)
class StreamType(BrandScopedType, relay.Node):
    external_id: strawberry.auto
    title: strawberry.auto
    host_name: strawberry.auto
    category: strawberry.auto
    started_at: strawberry.auto
    ended_at: strawberry.auto

    @strawberry_django.field(only=["platform"])
    def platform(self) -> StreamPlatform:
        return StreamPlatform(self.platform)

    @strawberry_django.field(only=["platform"], description="The platform's name in the caller's language.")
    def platform_label(self) -> str:
        return str(self.get_platform_display())

    views: Connection[StreamViewType] = connection(description="Who watched, latest to join first.")

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs):
        queryset = super().get_queryset(queryset, info, **kwargs)
        if not queryset.query.order_by:
            queryset = queryset.order_by("-started_at", "-pk")
        return queryset


@strawberry_django.type(
    models.StreamView,
    name="StreamView",
    description="One customer's engagement with one live stream.",
    only=BRAND_COLUMN,
)
class StreamViewType(BrandScopedType, relay.Node):
    customer: CustomerRef
    joined_at: strawberry.auto
    watch_seconds: strawberry.auto
    comments: strawberry.auto
    likes: strawberry.auto
    shares: strawberry.auto

    # Joined in the views' own query (same brand by the composite same-brand key): no query of its own.
    @strawberry_django.field(select_related=["stream"], description="The live stream.")
    def stream(self) -> StreamType:
        return self.stream

    @strawberry_django.field(
        only=["comments", "likes", "shares"], description="Comments, likes and shares together."
    )
    def interactions(self) -> int:
        return self.interactions

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs):
        queryset = super().get_queryset(queryset, info, **kwargs)
        if not queryset.query.order_by:
            queryset = queryset.order_by("-joined_at", "-pk")
        return queryset
