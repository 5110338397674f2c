"""me and brands: who may see what, and CSRF for session callers."""

import pytest
from django.test import Client

from tests.graphql.conftest import GRAPHQL_URL, gql

ME = "{ me { username isSuperuser memberships { role roleLabel brand { slug name } } } }"
BRANDS = "{ brands { slug name timezone currency } }"


@pytest.fixture
def session(client):
    """A session client that picked up a CSRF cookie, as the admin-hosted app does."""

    def sign_in(user):
        client.force_login(user)
        client.get("/admin/")
        return client

    return sign_in


def test_me_lists_the_members_brands_with_role(session, member, brand):
    # Given a staff member who is an analyst of Acme
    client = session(member)
    # When they ask who they are
    response = gql(client, ME)
    # Then they see their username and their one membership
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    assert body["data"]["me"] == {
        "username": "mei",
        "isSuperuser": False,
        "memberships": [
            {"role": "ANALYST", "roleLabel": "Analyst", "brand": {"slug": "acme", "name": "Acme Beauty"}}
        ],
    }


def test_brands_lists_only_the_callers_brands(session, member, brand, other_brand):
    response = gql(session(member), BRANDS)
    assert response.json() == {
        "data": {
            "brands": [
                {"slug": "acme", "name": "Acme Beauty", "timezone": "Asia/Shanghai", "currency": "CNY"}
            ]
        }
    }


def test_user_of_another_brand_sees_only_that_brand(session, rival_member, brand, other_brand):
    client = session(rival_member)
    assert [b["slug"] for b in gql(client, BRANDS).json()["data"]["brands"]] == ["rival"]
    memberships = gql(client, ME).json()["data"]["me"]["memberships"]
    assert [(m["brand"]["slug"], m["role"]) for m in memberships] == [("rival", "MANAGER")]


def test_superuser_sees_every_brand(session, superuser, brand, other_brand):
    client = session(superuser)
    assert [b["slug"] for b in gql(client, BRANDS).json()["data"]["brands"]] == ["acme", "rival"]
    me = gql(client, ME).json()["data"]["me"]
    assert me == {"username": "root", "isSuperuser": True, "memberships": []}


def test_anonymous_is_a_401_before_any_field_runs(client, brand, other_brand):
    for query in (ME, BRANDS):
        response = gql(client, query)
        assert response.status_code == 401
        assert response.json()["data"] is None


def test_session_post_without_csrf_token_is_refused(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post(GRAPHQL_URL, {"query": BRANDS}, content_type="application/json")
    assert response.status_code == 403


def test_session_post_with_csrf_token_is_served(member, brand):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    client.get("/admin/")  # a page with a form sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        GRAPHQL_URL, {"query": BRANDS}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200
    assert [b["slug"] for b in response.json()["data"]["brands"]] == ["acme"]


def test_me_and_brands_run_a_constant_number_of_queries(
    session, member, brand, django_assert_max_num_queries
):
    from apps.brands.services import membership_set
    from tests.factories import BrandFactory

    client = session(member)
    for n in range(5):
        membership_set(user=member, brand=BrandFactory(slug=f"extra-{n}"), role="viewer")
    # session, user, brand ids of the caller, me, memberships, brands of the memberships
    with django_assert_max_num_queries(6):
        body = gql(client, ME).json()
    assert len(body["data"]["me"]["memberships"]) == 6
    # session, user, brand ids of the caller, brands
    with django_assert_max_num_queries(4):
        body = gql(client, BRANDS).json()
    assert len(body["data"]["brands"]) == 6
