import pytest
from django.test import Client

from apps.brands.services import membership_set
from tests.factories import UserFactory
from tests.scenarios import build_world

GRAPHQL_URL = "/graphql/"
NEEDS_ANALYST = "This needs the Analyst role in the brand."


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


def run_query(client: Client, query: str, **variables):
    return gql(client, query, variables).json()


def error_of(body) -> str:
    """The first error's message of a response body that must have errors."""
    assert body.get("errors"), body
    return body["errors"][0]["message"]


def gql_token(client: Client, token: str, query: str, variables: dict | None = None):
    """POST a query as JSON the way a frontend app does: `Authorization: Bearer <token>`, no cookies, no CSRF."""
    return client.post(
        GRAPHQL_URL,
        {"query": query, "variables": variables or {}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.fixture
def api_token_for(db):
    """Factory: `api_token_for(brand, role)` creates an API token of that brand and role and returns its
    plaintext (e.g. `gql_token(client, api_token_for(brand, "viewer"), QUERY)`)."""

    def make(brand, role: str = "viewer", name: str = "test app") -> str:
        from apps.api.services import api_token_create

        _token, plaintext = api_token_create(brand=brand, role=role, name=name)
        return plaintext

    return make


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


@pytest.fixture
def world(brand, other_brand):
    return build_world(brand, other_brand)
