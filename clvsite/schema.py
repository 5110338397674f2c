"""Root GraphQL schema, merged from the apps' graphql packages."""

import strawberry
from django.conf import settings
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry_django.optimizer import DjangoOptimizerExtension

from apps.brands.graphql.schema import Query as BrandsQuery


@strawberry.type
class Query(BrandsQuery):
    pass


# Classes or factories, so that every request gets fresh extension instances.
extensions = [
    DjangoOptimizerExtension,
    lambda: QueryDepthLimiter(max_depth=10),
    lambda: MaxAliasesLimiter(max_alias_count=15),
    lambda: MaxTokensLimiter(max_token_count=2000),
]
if not getattr(settings, "GRAPHQL_INTROSPECTION", True):
    from graphql.validation import NoSchemaIntrospectionCustomRule
    from strawberry.extensions import AddValidationRules

    extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))

schema = strawberry.Schema(query=Query, extensions=extensions)
