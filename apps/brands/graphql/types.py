import strawberry
import strawberry_django
from django.contrib.auth import get_user_model
from strawberry import relay

from apps.brands import models
from apps.core.graphql.enums import choices_enum
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType

Role = choices_enum(
    models.Role,
    "Role",
    "A role in a brand: VIEWER reads, ANALYST also refreshes and runs analytics, MANAGER "
    "also edits tiers, benefits, rules and tokens.",
)


@strawberry_django.type(models.Brand, name="Brand", description="A brand (tenant) the caller belongs to.")
class BrandType(BrandScopedType, relay.Node):
    brand_scope_lookup = "pk"

    slug: strawberry.auto
    name: strawberry.auto
    timezone: strawberry.auto = strawberry_django.field(
        description="IANA time zone, e.g. Asia/Shanghai: the API gives the brand's times with its offset."
    )
    currency: strawberry.auto = strawberry_django.field(
        description="ISO 4217 code of the brand's money figures, e.g. CNY."
    )


@strawberry_django.type(
    models.Membership, name="Membership", description="The caller's role in one brand.", only=BRAND_COLUMN
)
class MembershipType(BrandScopedType):
    brand: BrandType

    @strawberry_django.field(only=["role"])
    def role(self) -> Role:
        return Role(self.role)

    @strawberry_django.field(only=["role"], description="The role's name in the caller's language.")
    def role_label(self) -> str:
        return str(self.get_role_display())


@strawberry_django.type(get_user_model(), name="Me", description="The signed-in staff member.")
class MeType:
    username: strawberry.auto
    is_superuser: strawberry.auto
    memberships: list[MembershipType] = strawberry_django.field(field_name="brand_memberships")
