"""Who may call the API: API tokens (Bearer) of one brand and role, staff sessions with CSRF, token management."""

import hashlib

import pytest
from django.test import Client
from strawberry import relay

from apps.api.models import ApiToken
from apps.api.services import api_token_authenticate, api_token_create
from apps.brands.services import membership_set
from tests.factories import UserFactory
from tests.graphql.conftest import GRAPHQL_URL, gql, gql_token

pytestmark = pytest.mark.django_db

BRANDS = "{ brands { slug name } }"
ME = "{ me { username } }"
TOKENS = """query ($brand: ID!) { apiTokens(brand: $brand) { totalCount edges { node {
  id name role keyPrefix isActive revokedAt lastUsedAt brand { slug } } } } }"""
CREATE = """mutation ($brand: ID!, $role: Role!, $name: String!) {
  createApiToken(brand: $brand, role: $role, name: $name) { plaintext token { id name role keyPrefix isActive } } }"""
REVOKE = "mutation ($id: ID!) { revokeApiToken(id: $id) { id isActive revokedAt } }"


def brand_id(brand) -> str:
    return relay.to_base64("Brand", brand.pk)


def token_id(token) -> str:
    return relay.to_base64("ApiToken", token.pk)


def session_client(user) -> Client:
    """A browser-like client: CSRF enforced, signed in, with the CSRF cookie the admin page sets."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/admin/")
    return client


def manager_of(brand, username="mona"):
    user = UserFactory(username=username)
    membership_set(user=user, brand=brand, role="manager")
    return user


# Bearer tokens


def test_bearer_request_sees_only_the_tokens_brand(client, brand, other_brand, api_token_for):
    response = gql_token(client, api_token_for(brand, "viewer"), BRANDS)
    assert response.status_code == 200
    assert response.json() == {"data": {"brands": [{"slug": "acme", "name": "Acme Beauty"}]}}
    rival = gql_token(client, api_token_for(other_brand, "manager"), BRANDS).json()
    assert rival == {"data": {"brands": [{"slug": "rival", "name": "Rival Apparel"}]}}


def test_bearer_request_ignores_the_session(client, brand, other_brand, api_token_for):
    # a rival manager's browser session sends an Acme token: the token decides, not the session
    client.force_login(manager_of(other_brand, "rex"))
    body = gql_token(client, api_token_for(brand, "viewer"), BRANDS).json()
    assert [b["slug"] for b in body["data"]["brands"]] == ["acme"]


def test_bearer_request_needs_no_csrf_token(brand, api_token_for):
    client = Client(enforce_csrf_checks=True)
    response = gql_token(client, api_token_for(brand, "viewer"), BRANDS)
    assert response.status_code == 200
    assert response.json()["data"]["brands"] == [{"slug": "acme", "name": "Acme Beauty"}]


def test_me_is_an_error_for_a_token_it_has_no_staff_login(client, brand, api_token_for):
    body = gql_token(client, api_token_for(brand, "manager"), ME).json()
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["me"]
    assert body["errors"][0]["message"] != "Unexpected error."  # a clear error, not a crash


def test_a_request_notes_the_tokens_last_use(client, brand):
    token, plaintext = api_token_create(brand=brand, role="viewer")
    gql_token(client, plaintext, BRANDS)
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer clv_00000000_" + "a" * 43,  # unknown
        "Bearer not-a-token",  # malformed
        "Bearer ",  # empty
        "bearer clv_00000000_" + "a" * 43,  # the scheme is case-insensitive, still unknown
    ],
)
def test_invalid_token_is_a_401_with_a_clear_json_error(client, brand, authorization):
    client.force_login(manager_of(brand))  # a valid session is no fallback
    response = client.post(
        GRAPHQL_URL, {"query": BRANDS}, content_type="application/json", HTTP_AUTHORIZATION=authorization
    )
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == {"data": None, "errors": [{"message": "Invalid or revoked API token."}]}


def test_revoked_token_is_a_401(client, brand):
    token, plaintext = api_token_create(brand=brand, role="viewer")
    assert gql_token(client, plaintext, BRANDS).status_code == 200
    token.revoked_at = token.created_at
    token.save()
    response = gql_token(client, plaintext, BRANDS)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Invalid or revoked API token."


def test_401_is_also_returned_for_get_requests(client, brand):
    response = client.get(GRAPHQL_URL, {"query": BRANDS}, HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401


# Sessions keep CSRF


def test_session_post_without_csrf_header_is_refused(brand):
    client = session_client(manager_of(brand))
    response = client.post(GRAPHQL_URL, {"query": BRANDS}, content_type="application/json")
    assert response.status_code == 403
    assert b"brands" not in response.content


def test_session_post_with_csrf_header_is_served(brand):
    response = gql(session_client(manager_of(brand)), BRANDS)
    assert response.status_code == 200
    assert response.json() == {"data": {"brands": [{"slug": "acme", "name": "Acme Beauty"}]}}


@pytest.mark.parametrize("authorization", ["Basic eDp5", "Token clv_abc", "bearer"])
def test_another_authorization_scheme_is_a_401_naming_the_right_one(brand, authorization):
    client = session_client(manager_of(brand))  # even with a session: the header is a mistake to point out
    response = client.post(
        GRAPHQL_URL, {"query": BRANDS}, content_type="application/json", HTTP_AUTHORIZATION=authorization
    )
    if authorization == "bearer":  # the Bearer scheme with no token: an invalid token
        assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        return
    assert response.status_code == 401 and response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="clv"'
    assert "Authorization: Bearer <token>" in response.json()["errors"][0]["message"]


def test_no_token_and_no_session_is_a_json_401_in_the_callers_language(brand):
    client = Client(enforce_csrf_checks=True)
    response = client.post(GRAPHQL_URL, {"query": BRANDS}, content_type="application/json")
    assert response.status_code == 401 and response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="clv"'
    assert response.json()["data"] is None
    chinese = client.post(
        GRAPHQL_URL, {"query": BRANDS}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert (
        "API" in chinese.json()["errors"][0]["message"] and "登录" in chinese.json()["errors"][0]["message"]
    )


def test_a_csrf_refusal_and_an_empty_body_are_json(brand):
    client = session_client(manager_of(brand))
    refused = client.post(GRAPHQL_URL, {"query": BRANDS}, content_type="application/json")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/json"
    assert "X-CSRFToken" in refused.json()["errors"][0]["message"]
    token = client.cookies["csrftoken"].value
    empty = client.post(GRAPHQL_URL, "", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert empty.status_code == 400 and empty["Content-Type"] == "application/json"
    assert empty.json()["errors"][0]["message"]


# Listing tokens


def test_manager_lists_the_brands_tokens_without_secrets(brand, other_brand):
    dashboard, dashboard_plaintext = api_token_create(brand=brand, role="viewer", name="dashboard")
    mobile, _ = api_token_create(brand=brand, role="analyst", name="mobile")
    rival, _ = api_token_create(brand=other_brand, role="viewer", name="rival app")
    response = gql(session_client(manager_of(brand)), TOKENS, {"brand": brand_id(brand)})
    content = response.content.decode()
    body = response.json()
    assert "errors" not in body
    page = body["data"]["apiTokens"]
    assert page["totalCount"] == 2
    assert [e["node"] for e in page["edges"]] == [
        {
            "id": token_id(t),
            "name": t.name,
            "role": t.role.upper(),
            "keyPrefix": t.key_prefix,
            "isActive": True,
            "revokedAt": None,
            "lastUsedAt": None,
            "brand": {"slug": "acme"},
        }
        for t in (mobile, dashboard)
    ]
    assert dashboard.key_hash not in content and dashboard_plaintext not in content
    assert "rival app" not in content and rival.key_prefix not in content


def test_manager_token_lists_tokens_too(client, brand):
    token, plaintext = api_token_create(brand=brand, role="manager", name="ops")
    body = gql_token(client, plaintext, TOKENS, {"brand": brand_id(brand)}).json()
    assert [e["node"]["name"] for e in body["data"]["apiTokens"]["edges"]] == ["ops"]


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_may_not_list_tokens(client, brand, api_token_for, role):
    api_token_create(brand=brand, role="manager", name="ops")
    body = gql_token(client, api_token_for(brand, role), TOKENS, {"brand": brand_id(brand)}).json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "This needs the Manager role in the brand."


def test_another_brands_tokens_are_no_such_brand(client, brand, other_brand, api_token_for):
    api_token_create(brand=other_brand, role="manager", name="rival app")
    body = gql_token(client, api_token_for(brand, "manager"), TOKENS, {"brand": brand_id(other_brand)}).json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "No such brand."
    assert "rival app" not in str(body)


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_node_lookup_shows_tokens_to_managers_only(client, brand, other_brand, api_token_for, role):
    mine, _ = api_token_create(brand=brand, role="viewer", name="mine")
    rival, _ = api_token_create(brand=other_brand, role="viewer", name="rival app")
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { ... on ApiToken { name } } }"
    manager = gql_token(client, api_token_for(brand, "manager"), query, {"ids": [token_id(mine)]}).json()
    assert manager == {"data": {"nodes": [{"name": "mine"}]}}
    other_brand_lookup = gql_token(client, api_token_for(brand, "manager"), query, {"ids": [token_id(rival)]})
    assert other_brand_lookup.json() == {"data": {"nodes": [None]}}
    for ids in ([token_id(mine)], [token_id(rival)]):
        body = gql_token(client, api_token_for(brand, role), query, {"ids": ids}).json()
        assert body == {"data": {"nodes": [None]}}


# Creating and revoking


def test_manager_creates_a_token_that_works_and_is_stored_hashed(brand):
    manager = manager_of(brand)
    variables = {"brand": brand_id(brand), "role": "ANALYST", "name": "bi tool"}
    body = gql(session_client(manager), CREATE, variables).json()
    assert "errors" not in body
    payload = body["data"]["createApiToken"]
    token = ApiToken.objects.get()
    assert payload["token"] == {
        "id": token_id(token),
        "name": "bi tool",
        "role": "ANALYST",
        "keyPrefix": token.key_prefix,
        "isActive": True,
    }
    assert payload["plaintext"].startswith(f"clv_{token.key_prefix}_")
    assert token.key_hash == hashlib.sha256(payload["plaintext"].encode()).hexdigest()
    assert token.created_by == manager
    assert api_token_authenticate(payload["plaintext"]) == token
    # listing afterwards never repeats the plaintext
    listing = gql(session_client(manager), TOKENS, {"brand": brand_id(brand)}).content.decode()
    assert payload["plaintext"] not in listing


@pytest.mark.parametrize("role", ["viewer", "analyst", "manager"])
def test_no_token_creates_tokens_not_even_a_managers(client, brand, api_token_for, role):
    variables = {"brand": brand_id(brand), "role": "MANAGER", "name": "escalate"}
    body = gql_token(client, api_token_for(brand, role), CREATE, variables).json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        "API tokens are created by a brand manager signed in as staff, not by another token."
    )
    assert not ApiToken.objects.filter(name="escalate").exists()


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_may_not_create_tokens(brand, role):
    user = UserFactory(username=f"staff-{role}")
    membership_set(user=user, brand=brand, role=role)
    variables = {"brand": brand_id(brand), "role": "MANAGER", "name": "escalate"}
    body = gql(session_client(user), CREATE, variables).json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "This needs the Manager role in the brand."
    assert not ApiToken.objects.filter(name="escalate").exists()


def test_creating_a_token_for_another_brand_is_no_such_brand(brand, other_brand):
    variables = {"brand": brand_id(other_brand), "role": "VIEWER", "name": "sneaky"}
    body = gql(session_client(manager_of(brand)), CREATE, variables).json()
    assert body["errors"][0]["message"] == "No such brand."
    assert not ApiToken.objects.filter(name="sneaky").exists()


def test_bad_brand_id_and_unknown_role_are_clear_errors(brand):
    client = session_client(manager_of(brand))
    bad_id = gql(client, CREATE, {"brand": relay.to_base64("Tier", 1), "role": "VIEWER", "name": ""})
    assert bad_id.json()["errors"][0]["message"] == "No such brand."
    # the role is an enum: an unknown one is refused before anything runs, naming the allowed type
    bad_role = gql(client, CREATE, {"brand": brand_id(brand), "role": "OWNER", "name": ""})
    assert bad_role.json()["errors"][0]["message"] == (
        '$role: "OWNER" is not a value of Role; use one of VIEWER, ANALYST, MANAGER.'
    )
    assert ApiToken.objects.count() == 0


def test_manager_revokes_a_token_and_it_stops_working(client, brand):
    manager = manager_of(brand)
    token, plaintext = api_token_create(brand=brand, role="viewer")
    body = gql(session_client(manager), REVOKE, {"id": token_id(token)}).json()
    assert body["data"]["revokeApiToken"]["id"] == token_id(token)
    assert body["data"]["revokeApiToken"]["isActive"] is False
    token.refresh_from_db()
    assert token.revoked_by == manager and token.revoked_at is not None
    assert gql_token(client, plaintext, BRANDS).status_code == 401


def test_revoking_another_brands_token_is_not_found(client, brand, other_brand, api_token_for):
    rival, rival_plaintext = api_token_create(brand=other_brand, role="viewer")
    body = gql_token(client, api_token_for(brand, "manager"), REVOKE, {"id": token_id(rival)}).json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "No such API token."
    assert api_token_authenticate(rival_plaintext) == rival


def test_analyst_may_not_revoke(client, brand, api_token_for):
    token, plaintext = api_token_create(brand=brand, role="viewer")
    body = gql_token(client, api_token_for(brand, "analyst"), REVOKE, {"id": token_id(token)}).json()
    assert body["errors"][0]["message"] == "This needs the Manager role in the brand."
    assert api_token_authenticate(plaintext) == token


def test_anonymous_may_not_create_or_revoke(client, brand):
    token, _ = api_token_create(brand=brand, role="viewer")
    for query, variables in (
        (CREATE, {"brand": brand_id(brand), "role": "viewer", "name": "x"}),
        (REVOKE, {"id": token_id(token)}),
    ):
        response = gql(client, query, variables)
        assert response.status_code == 401
    assert ApiToken.objects.count() == 1
