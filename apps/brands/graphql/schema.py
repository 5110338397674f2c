import strawberry

from apps.brands.graphql.types import BrandType


@strawberry.type
class Query:
    @strawberry.field
    def brands(self) -> list[BrandType]:
        return []
