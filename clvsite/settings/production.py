"""Production: everything from the environment, PostgreSQL required, no GraphiQL or introspection, HTTPS only.

`manage.py check --deploy` passes with no warning. The development secret key (or any short or well-known one)
is refused at start-up. The server is meant to sit behind a TLS-terminating proxy or load balancer that sets
X-Forwarded-Proto; static files are served by the app itself (WhiteNoise), so no separate file server is
needed. See README "Deploying" and docker-compose.yml.
"""

from django.conf import global_settings
from django.core.exceptions import ImproperlyConfigured

from . import base as _base
from .base import *  # noqa: F401,F403
from .base import DATABASES, MIDDLEWARE, env

DEBUG = False

DEVELOPMENT_KEYS = {"insecure-dev-key-change-me", "change-me", "secret", "django-insecure"}
SECRET_KEY = env("SECRET_KEY", default="")
if (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith("django-insecure")
    or any(key in SECRET_KEY for key in DEVELOPMENT_KEYS)
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value in production (at least 50 characters, not the "
        "development key); for example: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "Production requires DATABASE_URL pointing at a PostgreSQL server (the embedded one is for the demo)."
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
GRAPHQL_GRAPHIQL = False
GRAPHQL_INTROSPECTION = False

# HTTPS only. Behind a proxy that terminates TLS, it must set X-Forwarded-Proto (trusted here).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Static files (the admin's CSS and JS, GraphiQL's vendored bundle) from the app: `collectstatic` at build time.
MIDDLEWARE = [
    MIDDLEWARE[0],  # SecurityMiddleware first
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[1:],
]
STORAGES = {
    **getattr(_base, "STORAGES", global_settings.STORAGES),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
