"""API tokens over GraphQL: brand managers list, create and revoke their brand's tokens."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext
from strawberry import relay
from strawberry.types import Info

from apps.api.graphql.types import ApiTokenType, CreateApiTokenPayload
from apps.api.models import ApiToken
from apps.api.services import api_token_create, api_token_revoke
from apps.brands.graphql.types import Role
from apps.core.graphql.mutations import brand_for, scoped_get
from apps.core.graphql.permissions import request_user, signed_in_user_or_deny
from apps.core.graphql.relay import Connection, connection


def _db_user(info: Info):
    """The staff user behind the request, None for an API token (it has no user row)."""
    user = request_user(info)
    return user if isinstance(user, get_user_model()) else None


@strawberry.type
class Query:
    @connection(
        Connection[ApiTokenType],
        description="The brand's API tokens, newest first (brand managers only). Never the tokens themselves.",
    )
    def api_tokens(self, info: Info, brand: relay.GlobalID) -> Iterable[ApiToken]:
        managed = brand_for(info, brand, "manager")
        return ApiToken.objects.filter(brand=managed).order_by("-created_at", "-pk")


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Create an API token of a brand with a role (brand managers signed in as staff; a token "
        "cannot create tokens). The response holds the token itself, which is not stored and never shown again."
    )
    def create_api_token(
        self, info: Info, brand: relay.GlobalID, role: Role, name: str = ""
    ) -> CreateApiTokenPayload:
        signed_in_user_or_deny(info)
        if _db_user(info) is None:  # a leaked token must not be able to mint new ones
            raise PermissionDenied(
                gettext("API tokens are created by a brand manager signed in as staff, not by another token.")
            )
        managed = brand_for(info, brand, "manager")
        token, plaintext = api_token_create(
            brand=managed, role=role.value, name=name, created_by=_db_user(info)
        )
        return CreateApiTokenPayload(token=token, plaintext=plaintext)

    @strawberry.mutation(description="Revoke an API token (brand managers only): it stops working at once.")
    def revoke_api_token(self, info: Info, id: relay.GlobalID) -> ApiTokenType:  # noqa: A002
        token = scoped_get(
            info, ApiToken, id, "ApiToken", not_found=gettext("No such API token."), minimum="manager"
        )
        return api_token_revoke(token=token, by=_db_user(info))
