import pytest
from django.test import Client

from apps.brands.services import membership_set
from tests.factories import UserFactory

GRAPHQL_URL = "/graphql/"


def gql(client: Client, query: str, variables: dict | None = None):
    """POST a query as JSON; the session's CSRF token is sent the way a browser app sends it."""
    headers = {}
    token = client.cookies.get("csrftoken")
    if token is not None:
        headers["HTTP_X_CSRFTOKEN"] = token.value
    response = client.post(
        GRAPHQL_URL,
        {"query": query, "variables": variables or {}},
        content_type="application/json",
        **headers,
    )
    return response


@pytest.fixture
def member(brand):
    user = UserFactory(username="mei")
    membership_set(user=user, brand=brand, role="analyst")
    return user


@pytest.fixture
def rival_member(other_brand):
    user = UserFactory(username="rick")
    membership_set(user=user, brand=other_brand, role="manager")
    return user


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)
