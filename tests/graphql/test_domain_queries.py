"""Customers, orders, streams and communities over GraphQL, as each role and as another brand's caller.

The world (`world` fixture): Acme has three customers (two scored by the published run, one not), orders,
stream views, a community, tiers, stage and tier history and a grant; Rival has one customer of each kind.
Every test asserts values and that nothing of the other brand appears anywhere, nested relations included.
"""

from __future__ import annotations

import json

import pytest

from tests.factories import (
    CustomerFactory,
)
from tests.graphql.conftest import gql, gql_token
from tests.scenarios import assert_no_rival, data, gid

LIST = """
query($first: Int) {
  customers(first: $first) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage }
    edges { node {
      id externalId displayName phone phoneMasked gender acquisitionChannel
      acquisitionStream { externalId title }
      stage stageRule tier { code displayName rank } rfmSegment rfmSegmentLabel rfmRecency rfmFrequency rfmMonetary
      churnProbability pPurchaseHorizon horizonDays expectedRevenueHorizon { amount currency }
      clv { amount currency } medianDaysToNextPurchase
      rhythmDays paidOrders totalSpend { amount currency } scoresAsOf lastOrderAt
      survivalCurve { days survival }
    } }
  }
}
"""

ALICE_SCORES = {
    "stage": "MATURITY",
    "stageRule": "MATURITY_ORDERS",
    "tier": {"code": "gold", "displayName": "Gold", "rank": 1},
    "rfmSegment": "CHAMPIONS",
    "rfmSegmentLabel": "Champions",
    "rfmRecency": 5,
    "rfmFrequency": 4,
    "rfmMonetary": 5,
    "churnProbability": 0.1,
    "pPurchaseHorizon": 0.9,
    "horizonDays": 90,
    "expectedRevenueHorizon": {"amount": "250.50", "currency": "CNY"},
    "clv": {"amount": "800.00", "currency": "CNY"},
    "medianDaysToNextPurchase": 12.5,
    "rhythmDays": 18.0,
    "paidOrders": 3,
    "totalSpend": {"amount": "303.00", "currency": "CNY"},
    "scoresAsOf": "2026-03-31",
}


@pytest.mark.parametrize("role", ["viewer", "analyst", "manager"])
def test_customers_list_values_scores_and_phones_by_role(world, as_role, role):
    # When a member of Acme lists customers
    result = data(gql(as_role(role), LIST))["customers"]
    # Then they see Acme's three customers by external id, with the published scores (not the older run's)
    assert result["totalCount"] == 3
    assert result["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False}
    nodes = [e["node"] for e in result["edges"]]
    assert [n["externalId"] for n in nodes] == ["A-001", "A-002", "A-003"]
    alice, bob, cai = nodes
    assert alice["id"] == gid("Customer", world.c["alice"].pk)
    assert {k: alice[k] for k in ALICE_SCORES} == ALICE_SCORES
    assert alice["survivalCurve"][:2] == [{"days": 7, "survival": 0.95}, {"days": 14, "survival": 0.9}]
    assert alice["survivalCurve"][-1] == {"days": 365, "survival": 0.3}
    assert alice["acquisitionStream"] == {"externalId": "S-LAUNCH", "title": "Spring launch"}
    # the last paid order: 2026-03-20 (the later refunded one does not count), in Acme's time zone
    assert alice["lastOrderAt"] == "2026-03-20T10:00:00+08:00"
    assert (alice["gender"], alice["acquisitionChannel"]) == ("UNKNOWN", "OTHER")
    assert (bob["stage"], bob["tier"]["code"], bob["churnProbability"], bob["clv"]) == (
        "DECLINE",
        "silver",
        0.7,
        {"amount": "100.00", "currency": "CNY"},
    )
    assert bob["medianDaysToNextPurchase"] is None
    # Cai has no published score: every score field is null, the curve empty
    assert {k: cai[k] for k in ALICE_SCORES} == dict.fromkeys(ALICE_SCORES) | {
        "horizonDays": 90,
        "scoresAsOf": "2026-03-31",
    }
    assert cai["survivalCurve"] == [] and cai["lastOrderAt"] is None
    # Phones: raw for managers (customers.view_customer_pii), masked as in the admin for the others
    if role == "manager":
        assert [(n["phone"], n["phoneMasked"]) for n in nodes] == [
            ("13812345678", False),
            ("13900001111", False),
            ("", False),
        ]
    else:
        assert [(n["phone"], n["phoneMasked"]) for n in nodes] == [
            ("138****5678", True),
            ("139****1111", True),
            ("", True),
        ]
    assert_no_rival(result, world)


DETAIL = """
query($id: ID!) {
  customer(id: $id) {
    id externalId
    orders(first: 10) {
      totalCount
      edges { cursor node { externalId status statusLabel totalAmount { amount currency } placedAt
        stream { externalId startedAt } customer { externalId clv { amount } }
        items { lineNo sku unitPrice { amount currency } amount { amount currency } } } }
    }
    streamViews { totalCount edges { node { watchSeconds interactions stream { externalId title } } } }
    communities { totalCount edges { node { isCurrent activityCount community { externalId name kindLabel } } } }
    benefitGrants { totalCount edges { node { note } } }
    stageHistory { fromStage toStage changedOn run { asOf } }
    tierHistory { fromTier { code } toTier { code } reason }
  }
}
"""


@pytest.mark.parametrize("role", ["viewer", "analyst", "manager"])
def test_customer_detail_with_nested_relations(world, as_role, role):
    customer = data(gql(as_role(role), DETAIL, {"id": gid("Customer", world.c["alice"].pk)}))["customer"]
    assert customer["externalId"] == "A-001"
    orders = customer["orders"]
    assert orders["totalCount"] == 4
    # newest first, items in line order, the stream the first order is attributed to
    assert [e["node"]["externalId"] for e in orders["edges"]] == ["O-A3", "O-A2", "O-A1", "O-A0"]
    assert orders["edges"][0]["node"]["status"] == "REFUNDED"
    assert orders["edges"][0]["node"]["statusLabel"] == "Refunded"
    assert [i["sku"] for i in orders["edges"][1]["node"]["items"]] == ["SKU-A", "SKU-B"]
    first_order = orders["edges"][3]["node"]
    assert first_order["stream"] == {
        "externalId": "S-LAUNCH",
        "startedAt": world.s["launch"].started_at.astimezone(world.brand.tzinfo).isoformat(),
    }
    assert first_order["stream"]["startedAt"].endswith("+08:00")
    assert first_order["customer"] == {"externalId": "A-001", "clv": {"amount": "800.00"}}
    # money with its currency: the order's, its lines' too
    assert first_order["totalAmount"] == {"amount": "100.00", "currency": "CNY"}
    assert {(i["amount"]["currency"], i["unitPrice"]["currency"]) for i in first_order["items"]} <= {
        ("CNY", "CNY")
    }
    assert all(e["node"]["placedAt"].endswith("+08:00") for e in orders["edges"])
    views = customer["streamViews"]
    assert views["totalCount"] == 2
    assert [(e["node"]["stream"]["externalId"], e["node"]["watchSeconds"]) for e in views["edges"]] == [
        ("S-LATE", 60),
        ("S-LAUNCH", 900),
    ]
    assert views["edges"][1]["node"]["interactions"] == 5
    spells = customer["communities"]
    assert spells == {
        "totalCount": 1,
        "edges": [
            {
                "node": {
                    "isCurrent": True,
                    "activityCount": 7,
                    "community": {"externalId": "G-FANS", "name": "Acme fans", "kindLabel": "WeCom"},
                }
            }
        ],
    }
    assert customer["benefitGrants"] == {"totalCount": 1, "edges": [{"node": {"note": "welcome gift"}}]}
    assert customer["stageHistory"] == [
        {
            "fromStage": "GROWTH",
            "toStage": "MATURITY",
            "changedOn": "2026-03-31",
            "run": {"asOf": "2026-03-31"},
        }
    ]
    assert customer["tierHistory"] == [
        {"fromTier": {"code": "silver"}, "toTier": {"code": "gold"}, "reason": "rule:gold"}
    ]
    assert_no_rival(customer, world)


def test_nested_orders_page_with_cursor(world, as_role):
    client = as_role("viewer")
    query = """query($id: ID!, $after: String) { customer(id: $id) {
      orders(first: 2, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
        edges { node { externalId } } } } }"""
    first = data(gql(client, query, {"id": gid("Customer", world.c["alice"].pk)}))["customer"]["orders"]
    assert [e["node"]["externalId"] for e in first["edges"]] == ["O-A3", "O-A2"]
    assert first["pageInfo"]["hasNextPage"] is True and first["totalCount"] == 4
    second = data(
        gql(
            client,
            query,
            {"id": gid("Customer", world.c["alice"].pk), "after": first["pageInfo"]["endCursor"]},
        )
    )["customer"]["orders"]
    assert [e["node"]["externalId"] for e in second["edges"]] == ["O-A1", "O-A0"]
    assert second["pageInfo"]["hasNextPage"] is False and second["pageInfo"]["hasPreviousPage"] is True


def test_nested_orders_in_a_list_are_paged_per_customer(world, as_role):
    query = """{ customers { edges { node { externalId
      orders(first: 1) { totalCount pageInfo { hasNextPage } edges { node { externalId } } } } } } }"""
    nodes = [e["node"] for e in data(gql(as_role("analyst"), query))["customers"]["edges"]]
    assert [
        (
            n["externalId"],
            n["orders"]["totalCount"],
            n["orders"]["pageInfo"]["hasNextPage"],
            [e["node"]["externalId"] for e in n["orders"]["edges"]],
        )
        for n in nodes
    ] == [("A-001", 4, True, ["O-A3"]), ("A-002", 1, False, ["O-B0"]), ("A-003", 0, False, [])]


def test_nested_orders_from_the_end(world, as_role):
    query = """query($id: ID!) { customer(id: $id) {
      orders(last: 2) { totalCount pageInfo { hasPreviousPage } edges { node { externalId } } } } }"""
    orders = data(gql(as_role("viewer"), query, {"id": gid("Customer", world.c["alice"].pk)}))["customer"][
        "orders"
    ]
    assert [e["node"]["externalId"] for e in orders["edges"]] == ["O-A1", "O-A0"]  # the two oldest
    assert orders["totalCount"] == 4 and orders["pageInfo"]["hasPreviousPage"] is True


def test_another_brands_manager_sees_only_their_brand(world, as_role):
    client = as_role("manager", world.other)
    customers = data(gql(client, LIST))["customers"]
    assert [e["node"]["externalId"] for e in customers["edges"]] == ["R-001"]
    rita = customers["edges"][0]["node"]
    assert (rita["phone"], rita["clv"], rita["tier"]["code"]) == (
        "13700002222",
        {"amount": "5000.00", "currency": world.other.currency},
        "vip",
    )
    body = json.dumps(customers, ensure_ascii=False)
    for marker in ("A-001", "A-002", "Alice", "13812345678", "S-LAUNCH", "gold"):
        assert marker not in body
    # Acme's customer by id is null for them, and so is everything nested
    assert data(gql(client, DETAIL, {"id": gid("Customer", world.c["alice"].pk)})) == {"customer": None}
    lists = data(
        gql(
            client,
            "{ orders { edges { node { externalId } } } streams { edges { node { externalId } } }"
            " communities { edges { node { externalId } } } }",
        )
    )
    assert lists == {
        "orders": {"edges": [{"node": {"externalId": "O-R0"}}]},
        "streams": {"edges": [{"node": {"externalId": "S-RIVAL"}}]},
        "communities": {"edges": [{"node": {"externalId": "G-RIVAL"}}]},
    }


NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on Customer { externalId } ... on Order { externalId } ... on Stream { externalId }
  ... on Community { externalId } ... on Brand { slug } } }"""


def test_node_of_another_brand_is_null(world, as_role):
    client = as_role("viewer")
    own = [
        (gid("Customer", world.c["alice"].pk), "Customer", "A-001"),
        (gid("Order", world.o["bob0"].pk), "Order", "O-B0"),
        (gid("Stream", world.s["launch"].pk), "Stream", "S-LAUNCH"),
        (gid("Community", world.g["fans"].pk), "Community", "G-FANS"),
    ]
    for node_id, type_name, external_id in own:
        node = data(gql(client, NODE, {"id": node_id}))["node"]
        assert node == {"__typename": type_name, "id": node_id, "externalId": external_id}
    assert data(gql(client, NODE, {"id": gid("Brand", world.brand.pk)}))["node"]["slug"] == "acme"
    rival_ids = [
        gid("Customer", world.r["customer"].pk),
        gid("Order", world.r["order"].pk),
        gid("Stream", world.r["stream"].pk),
        gid("Community", world.r["community"].pk),
        gid("Tier", world.r["tier"].pk),
        gid("Brand", world.other.pk),
        gid("CommunityMembership", world.r["customer"].community_memberships.get().pk),
        gid("StreamView", world.r["customer"].stream_views.get().pk),
    ]
    for node_id in rival_ids:
        assert data(gql(client, NODE, {"id": node_id})) == {"node": None}
    nodes = data(
        gql(
            client,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": [own[0][0], rival_ids[0], own[1][0]]},
        )
    )["nodes"]
    assert nodes == [{"id": own[0][0]}, None, {"id": own[1][0]}]
    assert data(gql(client, DETAIL, {"id": rival_ids[0]})) == {"customer": None}


def test_customer_by_id_of_another_type_is_a_clear_error(world, as_role):
    body = gql(as_role("viewer"), DETAIL, {"id": gid("Order", world.o["bob0"].pk)}).json()
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["message"] == "id must be the id of a Customer."


def test_another_brands_api_token_sees_nothing_of_acme(world, client, api_token_for):
    token = api_token_for(world.other, "viewer")
    customers = gql_token(client, token, LIST).json()["data"]["customers"]
    assert [e["node"]["externalId"] for e in customers["edges"]] == ["R-001"]
    assert customers["edges"][0]["node"]["phone"] == "137****2222"  # a viewer token: masked
    for node_id in (
        gid("Customer", world.c["alice"].pk),
        gid("Order", world.o["alice0"].pk),
        gid("Stream", world.s["launch"].pk),
        gid("Community", world.g["fans"].pk),
    ):
        assert gql_token(client, token, NODE, {"id": node_id}).json() == {"data": {"node": None}}
    detail = gql_token(client, token, DETAIL, {"id": gid("Customer", world.c["alice"].pk)}).json()
    assert detail == {"data": {"customer": None}}


def test_acme_manager_token_sees_raw_phones_and_nested_rows(world, client, api_token_for):
    token = api_token_for(world.brand, "manager")
    body = gql_token(client, token, DETAIL, {"id": gid("Customer", world.c["alice"].pk)}).json()
    assert body["data"]["customer"]["orders"]["totalCount"] == 4
    assert_no_rival(body, world)
    customers = gql_token(client, token, LIST).json()["data"]["customers"]
    assert customers["edges"][0]["node"]["phone"] == "13812345678"


def test_signed_out_callers_are_a_401_before_any_list_or_node(world, client):
    lists = gql(
        client,
        "{ customers { totalCount edges { node { id } } } orders { totalCount } "
        "streams { totalCount } communities { totalCount } }",
    )
    node = gql(client, NODE, {"id": gid("Customer", world.c["alice"].pk)})
    for response in (lists, node):
        assert response.status_code == 401 and response.json()["data"] is None


# -- page sizes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ customers(first: 101) { totalCount } }",
        "{ customers(last: 500) { totalCount } }",
        "{ customers(first: -1) { totalCount } }",
        "{ orders(first: 101) { totalCount } }",
        "{ streams(first: 1000) { totalCount } }",
        "{ communities(last: 101) { totalCount } }",
        "{ customers { edges { node { orders(first: 101) { totalCount } } } } }",
        "{ streams { edges { node { views(first: 200) { totalCount } } } } }",
    ],
)
def test_page_size_over_100_is_refused(world, as_role, query):
    body = gql(as_role("viewer"), query).json()
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == ["Page size must be between 0 and 100."]


def test_default_page_size_is_20_and_pages_continue(world, as_role):
    CustomerFactory.create_batch(22, brand=world.brand)
    client = as_role("viewer")
    page = data(
        gql(client, "{ customers { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }")
    )
    page = page["customers"]
    assert page["totalCount"] == 25 and len(page["edges"]) == 20 and page["pageInfo"]["hasNextPage"] is True
    rest = data(
        gql(
            client,
            "query($after: String) { customers(after: $after, first: 100) { edges { node { id } } } }",
            {"after": page["pageInfo"]["endCursor"]},
        )
    )["customers"]["edges"]
    assert len(rest) == 5
    assert not {e["node"]["id"] for e in rest} & {e["node"]["id"] for e in page["edges"]}
    exactly = data(gql(client, "{ customers(first: 100) { edges { node { id } } } }"))["customers"]["edges"]
    assert len(exactly) == 25


# -- orders, streams and communities lists ------------------------------------------------------------------


def test_orders_list_filters_orderings_and_nested(world, as_role):
    client = as_role("analyst")
    query = """query($filter: OrderFilter, $orderBy: OrderOrder) { orders(filter: $filter, orderBy: $orderBy) {
      totalCount edges { node { externalId totalAmount { amount currency } channel channelLabel
        customer { externalId stage }
        items { sku } } } } }"""
    everything = data(gql(client, query))["orders"]
    assert [e["node"]["externalId"] for e in everything["edges"]] == ["O-A3", "O-A2", "O-A1", "O-B0", "O-A0"]
    assert everything["edges"][3]["node"]["customer"] == {"externalId": "A-002", "stage": "DECLINE"}
    assert everything["edges"][1]["node"]["items"] == [{"sku": "SKU-A"}, {"sku": "SKU-B"}]
    assert_no_rival(everything, world)

    def ids(filter_=None, order_by=None):
        result = data(gql(client, query, {"filter": filter_, "orderBy": order_by}))["orders"]
        return [e["node"]["externalId"] for e in result["edges"]]

    assert ids({"customer": gid("Customer", world.c["bob"].pk)}) == ["O-B0"]
    assert ids({"customer": gid("Customer", world.r["customer"].pk)}) == []
    assert ids({"statuses": ["REFUNDED"]}) == ["O-A3"]
    assert ids({"stream": gid("Stream", world.s["launch"].pk)}) == ["O-A0"]
    assert ids({"placedAt": {"start": "2026-02-01T00:00:00+00:00", "end": "2026-03-21T00:00:00+00:00"}}) == [
        "O-A2",
        "O-A1",
    ]
    assert ids({"totalAmount": {"min": "101", "max": "102"}}) == ["O-A2", "O-A1"]
    assert ids({"search": "O-B0"}) == ["O-B0"]
    assert ids(order_by={"field": "TOTAL_AMOUNT", "direction": "ASC"}) == [
        "O-B0",
        "O-A0",
        "O-A1",
        "O-A2",
        "O-A3",
    ]
    errors = {
        "{ orders(filter: {statuses: [LOST]}) { totalCount } }": (
            '"LOST" is not a value of OrderStatus; use one of PAID, REFUNDED, CANCELLED.'
        ),
        '{ orders(filter: {totalAmount: {min: "9", max: "1"}}) { totalCount } }': "totalAmount: the lower bound must not be above the upper bound.",
        '{ orders(filter: {stream: "STREAM"}) { totalCount } }'.replace("STREAM", gid("Customer", 1)): (
            "stream must be the id of a Stream."
        ),
    }
    for bad, message in errors.items():
        body = gql(client, bad).json()
        assert [e["message"] for e in body["errors"]] == [message], bad


def test_streams_list_with_views_and_filters(world, as_role):
    client = as_role("viewer")
    query = """query($filter: StreamFilter, $orderBy: StreamOrder) { streams(filter: $filter, orderBy: $orderBy) {
      totalCount edges { node { externalId title platform platformLabel
        views { totalCount edges { node { watchSeconds customer { externalId churnProbability } } } } } } } }"""
    result = data(gql(client, query))["streams"]
    assert [e["node"]["externalId"] for e in result["edges"]] == ["S-LATE", "S-LAUNCH"]
    launch = result["edges"][1]["node"]
    assert launch["platformLabel"] == "Douyin"
    assert launch["views"] == {
        "totalCount": 1,
        "edges": [
            {"node": {"watchSeconds": 900, "customer": {"externalId": "A-001", "churnProbability": 0.1}}}
        ],
    }
    assert_no_rival(result, world)
    assert launch["platform"] == "DOUYIN"
    by_platform = data(gql(client, query, {"filter": {"platforms": ["KUAISHOU"]}}))["streams"]["edges"]
    assert [e["node"]["externalId"] for e in by_platform] == ["S-LATE"]
    by_text = data(gql(client, query, {"filter": {"search": "spring"}}))["streams"]["edges"]
    assert [e["node"]["externalId"] for e in by_text] == ["S-LAUNCH"]
    by_title = data(gql(client, query, {"orderBy": {"field": "TITLE", "direction": "ASC"}}))["streams"][
        "edges"
    ]
    assert [e["node"]["externalId"] for e in by_title] == ["S-LATE", "S-LAUNCH"]
    body = gql(client, "{ streams(filter: {platforms: [TV]}) { totalCount } }").json()
    assert body["errors"][0]["message"] == (
        '"TV" is not a value of StreamPlatform; use one of DOUYIN, KUAISHOU, TAOBAO, WECHAT_CHANNELS, OTHER.'
    )


def test_communities_list_with_memberships(world, as_role):
    client = as_role("manager")
    query = """query($filter: CommunityFilter) { communities(filter: $filter) { totalCount edges { node {
      externalId name kind memberships { totalCount edges { node { isCurrent customer { externalId phone } } } }
    } } } }"""
    result = data(gql(client, query))["communities"]
    assert result["totalCount"] == 1
    fans = result["edges"][0]["node"]
    assert (fans["externalId"], fans["name"], fans["kind"]) == ("G-FANS", "Acme fans", "WECOM")
    assert [
        (e["node"]["customer"]["externalId"], e["node"]["isCurrent"], e["node"]["customer"]["phone"])
        for e in fans["memberships"]["edges"]
    ] == [("A-001", True, "13812345678"), ("A-002", False, "13900001111")]
    assert_no_rival(result, world)
    assert data(gql(client, query, {"filter": {"kinds": ["WECHAT_GROUP"]}}))["communities"]["totalCount"] == 0
    assert data(gql(client, query, {"filter": {"search": "FANS"}}))["communities"]["totalCount"] == 1
