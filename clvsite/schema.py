"""Root GraphQL schema, merged from the apps' graphql packages.

Each app defines `Query` (and, where it changes data, `Mutation`) in `apps/<app>/graphql/schema.py`; this
module merges them. Types live beside them in `apps/<app>/graphql/types.py`.
"""

import strawberry
from django.conf import settings
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.tools import merge_types
from strawberry_django.optimizer import DjangoOptimizerExtension

from apps.analytics.graphql import schema as analytics
from apps.brands.graphql import schema as brands
from apps.communities.graphql import schema as communities
from apps.core.graphql import ingest
from apps.customers.graphql import schema as customers
from apps.loyalty.graphql import schema as loyalty
from apps.orders.graphql import schema as orders
from apps.streams.graphql import schema as streams

_APPS = (brands, customers, orders, streams, communities, loyalty, analytics, ingest)

Query = merge_types("Query", tuple(m.Query for m in _APPS if hasattr(m, "Query")))
_mutations = tuple(m.Mutation for m in _APPS if hasattr(m, "Mutation"))
Mutation = merge_types("Mutation", _mutations) if _mutations else None

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

schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)
