"""The API's response cache (apps/api/response_cache.py): an app's list screen or report asked again under the
same read version is answered from the cache in two queries (the token, the version); anything that changes
what it showed makes it run again; what reads data outside the version never comes from the cache; and what
the cache kept of an erased person cannot be read back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.analytics.models import ModelRun
from apps.api import response_cache
from apps.communities.models import Community
from apps.customers.importers import customers_import
from apps.customers.services import customer_erase
from apps.orders.models import Order
from tests.factories import CustomerFactory, TierFactory, make_run, make_score
from tests.graphql.conftest import gql, gql_token

LIST = """
query List($filter: CustomerFilter, $after: String) {
  customers(first: 10, after: $after, filter: $filter, orderBy: {field: CLV, direction: DESC}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id externalId displayName city phone stage churnProbability lastOrderAt
                   clv { amount currency } tier { name } rfmSegmentLabel } }
  }
}
"""
WITH_ORDERS = """
query { customers(first: 5) { edges { node { externalId orders(first: 3) { totalCount } } } } }
"""


@pytest.fixture
def scored(brand):
    """Three scored customers of the brand's published run, in one tier."""
    gold = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    run = make_run(brand)
    customers = [
        CustomerFactory(brand=brand, external_id=f"VIP-{i}", display_name=f"Name {i}", city="Hangzhou")
        for i in range(3)
    ]
    for i, customer in enumerate(customers):
        make_score(run, customer, churn=0.2 + i / 10, p=0.5, tier=gold, clv=Decimal(100 + i))
    return {"customers": customers, "tier": gold, "run": run}


def _read(client, token, query=LIST, variables=None, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            "/graphql/",
            {"query": query, "variables": variables or {}},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            **headers,
        )
    assert response.status_code == 200
    body = response.json()
    assert not body.get("errors"), body
    # the header tells a hit (answered in the token's and the version's queries) from a miss
    assert response[response_cache.HEADER] == ("hit" if len(queries) == 2 else "miss")
    return body, len(queries)


def _names(body) -> list[str]:
    return [edge["node"]["displayName"] for edge in body["data"]["customers"]["edges"]]


def test_the_same_read_again_comes_from_the_cache_in_two_queries(client, brand, scored, api_token_for):
    token = api_token_for(brand, "analyst")
    first, ran = _read(client, token)
    again, cached = _read(client, token)
    assert again == first
    assert ran > 2
    assert cached == 2  # the token, the brand's read version
    # the next page is a read of its own, cached in turn
    after = first["data"]["customers"]["pageInfo"]["endCursor"]
    _page, ran_page = _read(client, token, variables={"after": after})
    _page_again, cached_page = _read(client, token, variables={"after": after})
    assert ran_page > 2 and cached_page == 2


def test_what_changes_a_read_makes_it_run_again(client, brand, scored, api_token_for):
    token = api_token_for(brand, "manager")
    _read(client, token)

    customer = scored["customers"][0]
    customer.display_name = "Renamed"
    customer.save()
    body, ran = _read(client, token)
    assert "Renamed" in _names(body) and ran > 2

    tier = scored["tier"]
    tier.name = "Platinum"
    tier.save()
    body, ran = _read(client, token)
    assert {e["node"]["tier"]["name"] for e in body["data"]["customers"]["edges"]} == {"Platinum"}

    customers_import(brand=brand, rows=[{"customer_id": "VIP-1", "city": "Suzhou"}])
    body, ran = _read(client, token)
    assert "Suzhou" in [e["node"]["city"] for e in body["data"]["customers"]["edges"]] and ran > 2

    Order.objects.create(
        brand=brand,
        customer=customer,
        external_id="NEW-1",
        placed_at=datetime(2026, 4, 2, tzinfo=UTC),
        total_amount=Decimal(10),
        currency="CNY",
    )
    _body, ran = _read(client, token)
    assert ran > 2  # a new order moves the data version

    ModelRun.objects.filter(pk=scored["run"].pk).update(status="superseded")  # as a publish does
    newer = make_run(brand)
    make_score(newer, customer, churn=0.9, p=0.1, clv=Decimal(5))
    body, ran = _read(client, token)
    assert ran > 2
    assert [e["node"]["externalId"] for e in body["data"]["customers"]["edges"]] == [customer.external_id]


def test_role_and_language_are_read_apart(client, brand, scored, api_token_for):
    manager, viewer = api_token_for(brand, "manager"), api_token_for(brand, "viewer")
    phones, _ran = _read(client, manager, query="{ customers(first: 3) { edges { node { phone } } } }")
    assert all(e["node"]["phone"] for e in phones["data"]["customers"]["edges"])
    hidden, ran = _read(client, viewer, query="{ customers(first: 3) { edges { node { phone } } } }")
    assert ran > 2
    shown = {e["node"]["phone"] for e in phones["data"]["customers"]["edges"]}
    assert shown.isdisjoint(e["node"]["phone"] for e in hidden["data"]["customers"]["edges"])

    english, _ran = _read(client, manager, HTTP_ACCEPT_LANGUAGE="en")
    chinese, ran = _read(client, manager, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert ran > 2
    label = {e["node"]["rfmSegmentLabel"] for e in english["data"]["customers"]["edges"]}
    label_zh = {e["node"]["rfmSegmentLabel"] for e in chinese["data"]["customers"]["edges"]}
    assert label != label_zh


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (WITH_ORDERS, None),  # orders and other reads outside the version
        ("{ customers(first: 3) { edges { node { nextAction { kind } } } } }", None),
        (LIST, {"filter": {"community": "placeholder"}}),  # memberships move no version
        ("{ __typename }", None),
        # a tier's benefits and quotas change without a new version
        ("{ customers(first: 3) { edges { node { tier { name tierBenefits { quota } } } } } }", None),
        ("{ customers(first: 1) { totalCount } me { username } }", None),  # a root outside the list
    ],
)
def test_reads_outside_the_version_always_run(client, brand, scored, api_token_for, query, variables):
    from strawberry.relay import to_base64

    if variables and "filter" in variables:
        community = Community.objects.create(brand=brand, external_id="G1", name="Group", kind="wecom")
        variables = {"filter": {"community": to_base64("Community", community.pk)}}
    token = api_token_for(brand, "analyst")
    response = gql_token(client, token, query, variables)
    assert response.status_code == 200
    assert response_cache.HEADER not in response
    assert _kept() == []
    # the same read under a cacheable shape is kept (the test would pass on a cache that keeps nothing)
    _read(client, token)
    assert len(_kept()) == 1


def test_mutations_and_signed_in_staff_are_never_cached(client, brand, scored, api_token_for, manager):
    document = "mutation { __typename }"
    assert response_cache.plan(_schema(), document, None) == response_cache.NOT_CACHEABLE
    staff = Client()
    staff.force_login(manager)
    body = gql(staff, LIST).json()
    assert not body.get("errors")
    assert _kept() == []


def test_errors_are_not_kept(client, brand, scored, api_token_for):
    token = api_token_for(brand, "analyst")
    bad = {"after": "not-a-cursor"}
    first = gql_token(client, token, LIST, bad).json()
    assert first.get("errors")
    assert _kept() == []


def test_nothing_kept_of_an_erased_person_can_be_read_back(client, brand, scored, api_token_for):
    token = api_token_for(brand, "analyst")
    person = scored["customers"][0]
    body, _ran = _read(client, token)
    assert person.external_id in str(body)
    sealed = {key: value for key, value in _cache_items() if key.startswith(response_cache.PREFIX)}
    assert sealed, "the list was kept"
    for value in sealed.values():  # kept encrypted: no personal data in the clear
        assert person.external_id.encode() not in value and b"Name 0" not in value

    customer_erase(brand=brand, customer_id=person.pk)

    # every secret still in the cache fails on what was kept before the erasure
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    secrets_left = [value for key, value in _cache_items() if ":secret:" in key]
    for key, value in sealed.items():
        for secret in secrets_left:
            with pytest.raises(InvalidTag):
                AESGCM(secret).decrypt(value[:12], value[12:], key.encode())
    after, ran = _read(client, token)
    assert ran > 2
    assert person.external_id not in str(after)


def _kept() -> list[str]:
    """The keys of the responses the cache keeps."""
    return [key for key, _value in _cache_items() if key.startswith(response_cache.PREFIX)]


def _schema():
    from clvsite.schema import schema

    return schema._schema


def _cache_items():
    """(key, value) of every entry of the test's per-process cache (locmem), keys without Django's prefix."""
    import pickle

    return [
        (key.split(":", 2)[2], pickle.loads(value))  # noqa: S301 - the test's own cache
        for key, value in cache._cache.items()
    ]


def test_hostile_documents_are_not_planned_at_length(brand):
    """The planner parses a token's document before the schema's limits: its own bound stops a long or deep
    document early, which then runs (and is refused) as before."""
    schema = _schema()
    long = "{ customers(first: 1) { edges { node { " + "id " * 6000 + "} } } }"
    deep = "{ customers(first: 1) { " + "edges { node { " * 3000 + "id" + " } }" * 3000 + " } }"
    assert response_cache.plan(schema, long, None) == response_cache.NOT_CACHEABLE
    assert response_cache.plan(schema, deep, None) == response_cache.NOT_CACHEABLE
    assert response_cache.plan(schema, "{ customers(first: 1) { totalCount } }", None).cacheable
