"""Root query and mutation fields of the communities app, merged into clvsite.schema."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from apps.communities.graphql.filters import (
    CommunityFilter,
    CommunityOrder,
    communities_filter,
    communities_order,
)
from apps.communities.graphql.types import CommunityType
from apps.communities.models import Community
from apps.core.graphql.relay import Connection, connection


@strawberry.type
class Query:
    @connection(
        Connection[CommunityType], description="Communities of the caller's brands, by name by default."
    )
    def communities(
        self,
        info: Info,
        filter: CommunityFilter | None = None,  # noqa: A002 - the GraphQL argument's name
        order_by: CommunityOrder | None = None,
    ) -> list[CommunityType]:
        return communities_order(communities_filter(Community.objects.all(), filter), order_by)
