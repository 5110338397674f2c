"""Pinned query counts: a page of customers with their scores, last 10 orders and communities costs the same
small number of SQL queries for 10 customers as for 100 (the optimizer's window-function prefetches). Money
comes with its currency and times with the brand's offset at no cost per row: one query per request reads the
caller's brands (none for an API token, whose brand comes with it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from strawberry.relay import to_base64

from apps.analytics.models import CustomerScore
from apps.brands.services import membership_set
from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer
from apps.orders.models import Order, OrderItem
from tests.factories import CURVE, TierFactory, UserFactory, make_run
from tests.graphql.conftest import gql, gql_token

ORDERS_EACH = 12
PAGE = """
query($first: Int!) {
  customers(first: $first, orderBy: {field: CLV, direction: DESC}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id externalId displayName lastOrderAt
        stage tier { code displayName } rfmSegment churnProbability pPurchaseHorizon horizonDays
        expectedRevenueHorizon { amount currency } clv { amount currency } totalSpend { amount currency }
        medianDaysToNextPurchase survivalCurve { days survival }
        orders(first: 10) {
          totalCount
          edges { node { id externalId placedAt totalAmount { amount currency } status items { amount { amount currency } } } }
        }
        communities {
          totalCount
          edges { node { joinedAt isCurrent community { name kind } } }
        }
      }
    }
  }
}
"""


def seed_customers(brand, n: int, *, prefix: str):
    """n scored customers, each with ORDERS_EACH paid orders and two community spells (bulk inserts)."""
    gold = TierFactory(brand=brand, code=f"{prefix}-gold", name="Gold", rank=1)
    communities = [
        Community.objects.create(brand=brand, external_id=f"{prefix}-G{k}", name=f"Group {k}", kind="wecom")
        for k in range(2)
    ]
    customers = Customer.objects.bulk_create(
        Customer(brand=brand, external_id=f"{prefix}-{i:04d}", display_name=f"Name {i}", phone=f"138{i:08d}")
        for i in range(n)
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    orders = Order.objects.bulk_create(
        Order(
            brand=brand,
            customer=c,
            external_id=f"{prefix}-O{c.pk}-{k}",
            placed_at=t0 + timedelta(days=k, hours=i % 24),
            total_amount=Decimal(10 + k),
            currency=brand.currency,
        )
        for i, c in enumerate(customers)
        for k in range(ORDERS_EACH)
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            brand=brand,
            order=o,
            line_no=1,
            sku="S1",
            quantity=1,
            unit_price=o.total_amount,
            amount=o.total_amount,
        )
        for o in orders
    )
    CommunityMembership.objects.bulk_create(
        CommunityMembership(brand=brand, community=g, customer=c, joined_at=t0)
        for c in customers
        for g in communities
    )
    run = make_run(brand, as_of=date(2026, 3, 31))
    CustomerScore.objects.bulk_create(
        CustomerScore(
            brand=brand,
            run=run,
            customer=c,
            stage="growth",
            stage_rule="growth_orders",
            rhythm_days=10.0,
            tier=gold,
            rfm_recency=3,
            rfm_frequency=3,
            rfm_monetary=3,
            rfm_segment="loyal",
            orders_count=ORDERS_EACH,
            monetary_total=Decimal("100.00"),
            last_purchase_at=t0,
            days_since_last_purchase=5.0,
            p_purchase_horizon=0.5,
            churn_probability=0.5,
            expected_revenue_horizon=Decimal("10.00"),
            clv=Decimal(1000 - i),
            median_days_to_next_purchase=20.0,
            survival_curve=CURVE,
        )
        for i, c in enumerate(customers)
    )
    return customers


def run_page(client, first: int, *, token: str | None = None):
    with CaptureQueriesContext(connection) as ctx:
        if token is None:
            response = gql(client, PAGE, {"first": first})
        else:
            response = gql_token(client, token, PAGE, {"first": first})
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]["customers"], ctx


@pytest.fixture
def viewer_client(client, brand):
    user = UserFactory(username="counter")
    membership_set(user=user, brand=brand, role="viewer")
    client.force_login(user)
    client.get("/admin/")  # CSRF cookie
    return client


def assert_page(page, size: int, *, total: int, currency: str = "CNY", offset: str = "+08:00"):
    assert page["totalCount"] == total
    assert len(page["edges"]) == size
    first = page["edges"][0]["node"]
    # the highest CLV first, with its score, tier, last 10 orders (newest first) and both communities
    assert first["externalId"].endswith("-0000")
    assert first["clv"] == {"amount": "1000.00", "currency": currency}
    assert first["totalSpend"] == {"amount": "100.00", "currency": currency}
    assert first["stage"] == "GROWTH" and first["tier"] == {
        "code": first["tier"]["code"],
        "displayName": "Gold",
    }
    assert first["horizonDays"] == 90 and first["survivalCurve"][0] == {"days": 7, "survival": 0.95}
    orders = first["orders"]
    assert orders["totalCount"] == ORDERS_EACH and len(orders["edges"]) == 10
    placed = [e["node"]["placedAt"] for e in orders["edges"]]
    assert placed == sorted(placed, reverse=True)
    # money with its currency and times in the brand's time zone, on every row of every page
    assert all(p.endswith(offset) for p in placed) and first["lastOrderAt"].endswith(offset)
    assert {e["node"]["totalAmount"]["currency"] for e in orders["edges"]} == {currency}
    assert {e["node"]["items"][0]["amount"]["currency"] for e in orders["edges"]} == {currency}
    assert first["communities"]["totalCount"] == 2
    assert {e["node"]["community"]["name"] for e in first["communities"]["edges"]} == {"Group 0", "Group 1"}
    for edge in page["edges"]:
        assert len(edge["node"]["orders"]["edges"]) == 10 and edge["node"]["clv"] is not None


def test_page_of_customers_costs_the_same_queries_for_10_and_for_100(viewer_client, brand, other_brand):
    # Given 150 scored customers with 12 orders and 2 communities each (and a rival brand with its own)
    seed_customers(brand, 150, prefix="a")
    seed_customers(other_brand, 30, prefix="r")
    # When a session caller pages 10 and then 100 of them
    small, small_ctx = run_page(viewer_client, 10)
    large, large_ctx = run_page(viewer_client, 100)
    # Then both pages are complete and cost the same queries: session, user, the caller's brands,
    # customers with scores and tier (one query), their last 10 orders, the orders' items, their community
    # spells with communities, and the brands' currency and time zone (once for the request)
    assert_page(small, 10, total=150)
    assert_page(large, 100, total=150)
    # plus the brand's read version for the total, which the first page counts (one COUNT) and the second
    # reads from the read cache (apps/analytics/readcache.py)
    assert len(small_ctx.captured_queries) == 10 and len(large_ctx.captured_queries) == 9
    assert all(e["node"]["externalId"].startswith("a-") for e in large["edges"])


def test_page_with_phones_for_an_api_token_costs_the_same_for_10_and_for_100(
    client, brand, other_brand, api_token_for
):
    seed_customers(brand, 120, prefix="a")
    seed_customers(other_brand, 30, prefix="r")
    token = api_token_for(brand, "viewer")
    query = PAGE.replace("externalId displayName", "externalId displayName phone phoneMasked")
    gql_token(client, token, query, {"first": 1})  # the token's last-used time is written once a minute
    counts = []
    for first in (10, 100):
        with CaptureQueriesContext(connection) as ctx:
            body = gql_token(client, token, query, {"first": first}).json()
        assert "errors" not in body, body["errors"]
        edges = body["data"]["customers"]["edges"]
        assert len(edges) == first and edges[0]["node"]["phone"] == "138****0000"
        assert all(e["node"]["phoneMasked"] for e in edges)
        counts.append(len(ctx.captured_queries))
    # the token (with its brand: currency and time zone), the brand's read version (the total comes from the
    # read cache, filled by the first call), customers with scores, their last 10 orders, the orders' items,
    # their community spells with communities
    assert counts[0] == counts[1] == 6


def test_customer_detail_costs_a_fixed_number_of_queries(viewer_client, brand):
    customers = seed_customers(brand, 3, prefix="a")
    query = """
    query($id: ID!) { customer(id: $id) {
      externalId clv { amount currency } stage tier { code } survivalCurve { days survival }
      orders(first: 10) { totalCount edges { node { externalId items { sku } stream { title } } } }
      communities { edges { node { community { name } } } }
      streamViews { edges { node { stream { title } watchSeconds } } }
      benefitGrants { totalCount }
      stageHistory { toStage } tierHistory { reason }
    } }
    """
    with CaptureQueriesContext(connection) as ctx:
        body = gql(viewer_client, query, {"id": to_base64("Customer", customers[0].pk)}).json()
    assert "errors" not in body, body["errors"]
    assert body["data"]["customer"]["orders"]["totalCount"] == ORDERS_EACH
    # session, user, brands; customer (with the grants' count); orders (+ stream joined); their items;
    # spells (+ community joined); views (+ stream joined); stage changes; tier changes; the brand's currency
    # One customer by id is read without the optimizer (cheaper in Python for one object than planning a
    # prefetch): session, user, brands; the customer; their published score row (run and tier joined); the
    # brand's currency; orders (+ stream joined, with the total as a window); their items; spells (+ community
    # joined); views (+ stream joined); the grants' count; stage changes; tier changes
    assert len(ctx.captured_queries) == 13


def test_nested_total_counts_alone_are_counted_in_the_customers_query(viewer_client, brand):
    seed_customers(brand, 30, prefix="a")
    query = """query($first: Int!) { customers(first: $first) { edges { node {
      orders { totalCount } communities { totalCount } streamViews { totalCount } benefitGrants { totalCount }
    } } } }"""
    counts = []
    for first in (5, 30):
        with CaptureQueriesContext(connection) as ctx:
            body = gql(viewer_client, query, {"first": first}).json()
        assert "errors" not in body, body["errors"]
        nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
        assert len(nodes) == first
        assert all(
            n
            == {
                "orders": {"totalCount": ORDERS_EACH},
                "communities": {"totalCount": 2},
                "streamViews": {"totalCount": 0},
                "benefitGrants": {"totalCount": 0},
            }
            for n in nodes
        )
        counts.append(len(ctx.captured_queries))
    # session, user, the caller's brands, customers with four COUNT subqueries
    assert counts == [4, 4]


def test_conditions_on_the_published_score_share_one_join(viewer_client, brand):
    """Stage and churn conditions filter the same join of the scores that orders the page (a second join of a
    million scores made the at-risk list 4× slower at 1M customers)."""
    seed_customers(brand, 12, prefix="a")
    query = """query { customers(first: 5, orderBy: {field: CLV, direction: DESC},
        filter: {stages: [GROWTH, MATURITY], churnProbability: {min: 0.1, max: 0.9}}) { edges { node { id } } } }"""
    with CaptureQueriesContext(connection) as ctx:
        body = gql(viewer_client, query)
    assert "errors" not in body, body
    page = next(q["sql"] for q in ctx.captured_queries if 'ORDER BY published_score."clv" DESC' in q["sql"])
    where = page.split(" WHERE ", 1)[1]
    for condition in (
        'published_score."stage" IN',
        'published_score."churn_probability" >=',
        'published_score."churn_probability" <=',
    ):
        assert condition in where, where
