"""Root GraphQL schema, merged from the apps' graphql packages.

Each app defines `Query` (and, where it changes data, `Mutation`) in `apps/<app>/graphql/schema.py`; this
module merges them. Types live beside them in `apps/<app>/graphql/types.py`.
"""

from django.conf import settings
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry_django.optimizer import DjangoOptimizerExtension

from apps.analytics.graphql import schema as analytics
from apps.api.graphql import schema as api
from apps.brands.graphql import schema as brands
from apps.communities.graphql import schema as communities
from apps.core.graphql.brand_values import BrandValues
from apps.core.graphql.errors import ClvMaskErrors, ClvSchema
from apps.core.graphql.limits import (
    MAX_NODE_COUNT,
    VALID_DOCUMENTS_KEPT,
    AliasLimiter,
    DepthLimiter,
    NodeCountLimiter,
    OneOperationOrNamed,
    ValidationCached,
)
from apps.core.graphql.scalars import SCALAR_OVERRIDES
from apps.customers.graphql import schema as customers
from apps.engagement.graphql import schema as engagement
from apps.loyalty.graphql import schema as loyalty
from apps.orders.graphql import schema as orders
from apps.streams.graphql import schema as streams

_APPS = (brands, customers, orders, streams, communities, loyalty, analytics, engagement, api)

Query = merge_types("Query", tuple(m.Query for m in _APPS if hasattr(m, "Query")))
_mutations = tuple(m.Mutation for m in _APPS if hasattr(m, "Mutation"))
Mutation = merge_types("Mutation", _mutations) if _mutations else None

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000

# Classes or factories, so that every request gets fresh extension instances. The limits refuse an
# operation before it runs (see docs/api.md); ClvMaskErrors hides our internals behind "Unexpected error."
# while validation, permission and not-found errors stay clear (apps/core/graphql/errors.py). BrandValues
# renders every DateTime in its brand's time zone and names an argument that is not a global id.
extensions = [
    DjangoOptimizerExtension,
    BrandValues,
    lambda: DepthLimiter(max_depth=MAX_DEPTH),
    lambda: AliasLimiter(max_alias_count=MAX_ALIASES),
    lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    lambda: NodeCountLimiter(max_node_count=MAX_NODE_COUNT),
    ClvMaskErrors,
    # the same text parses to the same document, validated once (NodeCountLimiter's rule runs every time)
    lambda: ParserCache(maxsize=VALID_DOCUMENTS_KEPT),
    # several operations and no operationName: refused, not the first one run
    OneOperationOrNamed,
    ValidationCached,
]
if not getattr(settings, "GRAPHQL_INTROSPECTION", True):
    from graphql.validation import NoSchemaIntrospectionCustomRule
    from strawberry.extensions import AddValidationRules

    extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))

# Without introspection, "Did you mean …?" suggestions would leak the schema too.
config = StrawberryConfig(disable_field_suggestions=not getattr(settings, "GRAPHQL_INTROSPECTION", True))
# Date and Decimal inputs within the ranges the product computes with (apps/core/graphql/scalars.py)
schema = ClvSchema(
    query=Query, mutation=Mutation, extensions=extensions, config=config, scalar_overrides=SCALAR_OVERRIDES
)
