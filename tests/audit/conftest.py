"""Staff of Acme and Rival, and the API token factory of the GraphQL tests."""

import pytest

from apps.audit.models import AuditEvent
from tests.admin.conftest import staff
from tests.factories import UserFactory
from tests.graphql.conftest import api_token_for  # noqa: F401  (fixture)


@pytest.fixture
def acme_manager(brand):
    return staff("acme-manager", (brand, "manager"))


@pytest.fixture
def acme_viewer(brand):
    return staff("acme-viewer", (brand, "viewer"))


@pytest.fixture
def rival_manager(other_brand):
    return staff("rival-manager", (other_brand, "manager"))


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def login(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def events(**filters):
    """(action, object_type, object_repr, actor_kind, actor_label) of the events, oldest first."""
    return [
        (e.action, e.object_type, e.object_repr, e.actor_kind, e.actor_label)
        for e in AuditEvent.objects.filter(**filters).order_by("pk")
    ]
