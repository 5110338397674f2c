"""GraphQL types of the communities app: brand-owned groups and membership spells. Relay nodes scoped to the
caller's brands (BrandScopedType), so nested lists and prefetches never show another brand's rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from strawberry import relay

from apps.communities import models
from apps.core.graphql.enums import choices_enum
from apps.core.graphql.relay import Connection, connection
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType

if TYPE_CHECKING:
    from apps.customers.graphql.types import CustomerType

CustomerRef = Annotated["CustomerType", strawberry.lazy("apps.customers.graphql.types")]

CommunityKind = choices_enum(models.CommunityKind, "CommunityKind", "What kind of group a community is.")


@strawberry_django.type(
    models.Community,
    name="Community",
    description="A brand's private-domain group (私域社群).",
    only=BRAND_COLUMN,
)
class CommunityType(BrandScopedType, relay.Node):
    external_id: strawberry.auto
    name: strawberry.auto
    opened_at: strawberry.auto

    @strawberry_django.field(only=["kind"])
    def kind(self) -> CommunityKind:
        return CommunityKind(self.kind)

    @strawberry_django.field(only=["kind"], description="The kind in the caller's language.")
    def kind_label(self) -> str:
        return str(self.get_kind_display())

    memberships: Connection[CommunityMembershipType] = connection(
        description="Membership spells, latest to join first."
    )

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs):
        queryset = super().get_queryset(queryset, info, **kwargs)
        if not queryset.query.order_by:
            queryset = queryset.order_by("name", "pk")
        return queryset


@strawberry_django.type(
    models.CommunityMembership,
    name="CommunityMembership",
    description="One spell of a customer in a community (leaving and rejoining makes two).",
    only=BRAND_COLUMN,
)
class CommunityMembershipType(BrandScopedType, relay.Node):
    customer: CustomerRef
    joined_at: strawberry.auto
    left_at: strawberry.auto
    activity_count: strawberry.auto

    # Joined in the memberships' own query: a spell and its community are of the same brand (composite
    # same-brand key), so the community needs no scoping query of its own.
    @strawberry_django.field(select_related=["community"], description="The community.")
    def community(self) -> CommunityType:
        return self.community

    @strawberry_django.field(only=["left_at"], description="True while the customer has not left.")
    def is_current(self) -> bool:
        return self.left_at is None

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs):
        queryset = super().get_queryset(queryset, info, **kwargs)
        if not queryset.query.order_by:
            queryset = queryset.order_by("-joined_at", "-pk")
        return queryset
