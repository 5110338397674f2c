import pytest
from django.utils import translation

from apps.brands.services import membership_set
from tests.factories import BrandFactory, UserFactory


@pytest.fixture(autouse=True)
def _cache_clear():
    """Each test starts with an empty cache (the per-process cache of the test settings outlives a test's
    rollback: cached reads and counts of one test must not answer the next)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _language_reset():
    """Each test starts and ends in the settings' language.

    LocaleMiddleware activates the request's language in the thread and leaves it there after the
    response, so a test whose last request asked for zh-hans would otherwise hand Chinese messages to
    whichever test the same worker runs next.
    """
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def brand(db):
    return BrandFactory(slug="acme", name="Acme Beauty")


@pytest.fixture
def other_brand(db):
    return BrandFactory(slug="rival", name="Rival Apparel")


@pytest.fixture
def manager(brand):
    """Mona, a manager of acme."""
    user = UserFactory(username="mona")
    membership_set(user=user, brand=brand, role="manager")
    return user


@pytest.fixture
def redis_celery():
    """A Celery client on Redis (skips the test when no Redis answers); see tests/worker.py."""
    from tests.worker import celery_client_start

    client = celery_client_start()
    yield client
    client.close()


@pytest.fixture
def live_worker(redis_celery):
    """A real Celery worker on its own queue (tests.worker.QUEUE), using the test database."""
    from tests.worker import celery_worker_run

    yield from celery_worker_run(redis_celery)


@pytest.fixture
def as_role(client, brand, other_brand):
    """Sign in a staff member with a role in a brand (acme by default); returns the client."""

    def sign_in(role: str, in_brand=None):
        user = UserFactory(username=f"{role}-{(in_brand or brand).slug}")
        membership_set(user=user, brand=in_brand or brand, role=role)
        client.force_login(user)
        client.get("/admin/")  # CSRF cookie
        return client

    return sign_in
