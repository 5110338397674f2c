"""Production: everything from the environment, PostgreSQL required, no GraphiQL or introspection."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import DATABASES, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "Production requires DATABASE_URL pointing at a PostgreSQL server (the embedded one is for the demo)."
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
GRAPHQL_GRAPHIQL = False
GRAPHQL_INTROSPECTION = False
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
