"""GraphQL type of API tokens. The hash is not a field: it never leaves the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
import strawberry_django
from strawberry import relay

from apps.api import models
from apps.brands.graphql.types import Role
from apps.core.graphql.permissions import request_user
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType
from apps.core.scoping import brand_ids_with_role

if TYPE_CHECKING:
    from apps.brands.graphql.types import BrandType


def managed_brand_ids(user) -> list[int] | None:
    """Brands whose tokens the user may see: those they manage (None: every brand, for superusers)."""
    return brand_ids_with_role(user, "manager")


@strawberry_django.type(
    models.ApiToken,
    name="ApiToken",
    description="An API token of a brand (brand managers only). The token itself is shown once, when created.",
    only=BRAND_COLUMN,
)
class ApiTokenType(BrandScopedType, relay.Node):
    name: strawberry.auto = strawberry_django.field(
        description="What the token is for, e.g. the app using it."
    )
    key_prefix: strawberry.auto = strawberry_django.field(
        description="The 8 characters after `clv_` in the token, to recognise it."
    )
    created_at: strawberry.auto
    last_used_at: strawberry.auto = strawberry_django.field(description="Last request, to the minute.")
    revoked_at: strawberry.auto = strawberry_django.field(description="Null while the token works.")
    brand: Annotated[BrandType, strawberry.lazy("apps.brands.graphql.types")]

    @strawberry_django.field(only=["role"])
    def role(self) -> Role:
        return Role(self.role)

    @strawberry_django.field(only=["revoked_at"], description="False once revoked.")
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs: Any):
        """Tokens of the brands the caller manages; viewers and analysts see none."""
        ids = managed_brand_ids(request_user(info))
        if ids is None:
            return queryset
        return queryset.filter(brand_id__in=ids)


@strawberry.type(
    name="CreateApiTokenPayload", description="A new API token and, this once, the token itself."
)
class CreateApiTokenPayload:
    token: ApiTokenType
    plaintext: str = strawberry.field(
        description="The token to send as `Authorization: Bearer <token>`. Not stored and never shown again."
    )
