"""Development and demo: DEBUG on, GraphiQL on, the embedded PostgreSQL unless DATABASE_URL is set."""

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
GRAPHQL_GRAPHIQL = True
GRAPHQL_INTROSPECTION = True
SCORES_REFRESH_IN_THREAD = env.bool("SCORES_REFRESH_IN_THREAD", default=True)
