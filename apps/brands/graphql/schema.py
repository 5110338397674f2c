import strawberry
import strawberry_django
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext
from strawberry import relay
from strawberry.types import Info

from apps.brands.graphql.types import BrandType, MeType
from apps.core.graphql.permissions import signed_in_user_or_deny
from apps.core.graphql.relay import NodeIdsLimit


@strawberry.type
class Query:
    @strawberry_django.field(description="The signed-in staff member and their brand memberships.")
    def me(self, info: Info) -> MeType:
        user = signed_in_user_or_deny(info)
        if user.pk is None:  # an API token: no staff login behind it
            raise PermissionDenied(gettext("An API token has no staff login; use brands instead."))
        # A queryset (not request.user) so that the optimizer prefetches memberships and brands.
        return get_user_model().objects.filter(pk=user.pk)

    brands: list[BrandType] = strawberry_django.field(
        description="Brands the caller belongs to (every brand for superusers, none when signed out)."
    )

    node: relay.Node | None = strawberry_django.node(
        description="Any node by its global id; null if not found or of another brand."
    )
    nodes: list[relay.Node | None] = strawberry_django.node(
        description=(
            "Nodes by their global ids (at most 100), in the same order; null for those not found or of another "
            "brand."
        ),
        extensions=[NodeIdsLimit()],
    )
