"""Tests run on real PostgreSQL: the server at DATABASE_URL, or the embedded one when it is unset
(scripts/test.sh picks: the system PostgreSQL when one answers, else the embedded server)."""

from .base import *  # noqa: F401,F403
from .base import DATABASES, env

DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_clv")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LANGUAGE_CODE = "en"
GRAPHQL_GRAPHIQL = False
GRAPHQL_INTROSPECTION = True
CLV_IMPORT_PROGRESS_MIN_ROWS = 10**9
