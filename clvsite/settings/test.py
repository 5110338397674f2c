"""Tests run on real PostgreSQL. DATABASE_URL may point elsewhere, but it must be PostgreSQL."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import DATABASES, env

DATABASES["default"] = env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/clv")
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "The test suite runs on PostgreSQL only; set DATABASE_URL to a postgres:// URL."
    )
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_clv")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LANGUAGE_CODE = "en"
GRAPHQL_GRAPHIQL = False
GRAPHQL_INTROSPECTION = True
CLV_IMPORT_PROGRESS_MIN_ROWS = 10**9
