"""A brand's values as the API answers them: money with its currency, times in the brand's time zone, for a
caller of several brands each row in its own brand's; and clear, translated, bounded messages for ids and
cursors a client got wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from strawberry.relay import to_base64

from apps.brands.services import membership_set
from apps.customers.models import Customer
from apps.streams.models import Stream
from tests.factories import (
    BrandFactory,
    CustomerFactory,
    OrderFactory,
    StreamFactory,
    StreamViewFactory,
    UserFactory,
    make_run,
    make_score,
)
from tests.graphql.conftest import gql, gql_token

JUNE = datetime(2026, 6, 1, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai, 09:30 in New York (summer time)

ORDERS = """{ orders(first: 100) { edges { node {
  externalId placedAt totalAmount { amount currency }
  stream { startedAt }
  customer { externalId firstSeenAt clv { amount currency } }
} } } }"""


@pytest.fixture
def two_brands(brand):
    """Acme (Asia/Shanghai, CNY) and Gotham (America/New_York, USD), each with a stream, a scored customer
    and orders; a staff member of both."""
    gotham = BrandFactory(slug="gotham", name="Gotham Goods", timezone="America/New_York", currency="USD")
    for owner in (brand, gotham):
        stream = StreamFactory(brand=owner, external_id=f"S-{owner.slug}", started_at=JUNE)
        customer = CustomerFactory(brand=owner, external_id=f"C-{owner.slug}", first_seen_at=JUNE)
        make_score(make_run(owner), customer, clv=Decimal("88.50"))
        for n in range(3):
            OrderFactory(
                brand=owner,
                customer=customer,
                stream=stream,
                external_id=f"O-{owner.slug}-{n}",
                placed_at=JUNE + timedelta(hours=n),
                total_amount=Decimal("120.00"),
                currency=owner.currency,
            )
    staff = UserFactory(username="both")
    membership_set(user=staff, brand=brand, role="analyst")
    membership_set(user=staff, brand=gotham, role="analyst")
    return brand, gotham, staff


def signed_in(client, user):
    client.force_login(user)
    client.get("/admin/")  # the CSRF cookie
    return client


def test_each_row_is_in_its_own_brands_time_zone_and_currency(client, two_brands):
    acme, gotham, staff = two_brands
    client = signed_in(client, staff)
    body = gql(client, ORDERS).json()
    assert "errors" not in body, body
    nodes = [e["node"] for e in body["data"]["orders"]["edges"]]
    assert len(nodes) == 6
    for node in nodes:
        owner = acme if node["externalId"].startswith("O-acme") else gotham
        offset = "+08:00" if owner == acme else "-04:00"
        # the order's own time, the stream joined to it and the customer reached through it: all in its brand's
        assert node["placedAt"].endswith(offset), node
        assert node["stream"]["startedAt"] == JUNE.astimezone(owner.tzinfo).isoformat()
        assert node["customer"]["firstSeenAt"] == JUNE.astimezone(owner.tzinfo).isoformat()
        assert node["totalAmount"] == {"amount": "120.00", "currency": owner.currency}
        assert node["customer"]["clv"] == {"amount": "88.50", "currency": owner.currency}
    shanghai = next(n for n in nodes if n["externalId"] == "O-acme-0")
    new_york = next(n for n in nodes if n["externalId"] == "O-gotham-0")
    assert (shanghai["placedAt"], new_york["placedAt"]) == (
        "2026-06-01T21:30:00+08:00",
        "2026-06-01T09:30:00-04:00",
    )


def test_money_and_time_zones_cost_one_query_whatever_the_number_of_rows(client, two_brands):
    acme, gotham, staff = two_brands
    client = signed_in(client, staff)
    counts = []
    for extra in (0, 40):
        for owner in (acme, gotham):
            customer = CustomerFactory(brand=owner, first_seen_at=JUNE)
            for _ in range(extra // 2):
                OrderFactory(brand=owner, customer=customer, placed_at=JUNE, currency=owner.currency)
        with CaptureQueriesContext(connection) as ctx:
            body = gql(client, ORDERS).json()
        assert "errors" not in body, body
        counts.append((len(body["data"]["orders"]["edges"]), len(ctx.captured_queries)))
    # session, user, the caller's brands, orders (streams joined), their customers with scores, the brands'
    # currency and time zone: the same for 6 and for 46 orders of two brands
    assert counts == [(6, 6), (46, 6)]


def test_an_order_converted_from_another_currency_shows_both_totals(client, brand, api_token_for):
    OrderFactory(
        brand=brand,
        external_id="O-USD",
        total_amount=Decimal("721.50"),
        currency="CNY",
        original_currency="USD",
        original_amount=Decimal("100.00"),
        exchange_rate=Decimal("7.215"),
    )
    OrderFactory(brand=brand, external_id="O-CNY", total_amount=Decimal("10.00"), currency="CNY")
    query = "{ orders { edges { node { externalId totalAmount { amount currency } originalTotal { amount currency } exchangeRate } } } }"
    body = gql_token(client, api_token_for(brand, "viewer"), query).json()
    nodes = {e["node"]["externalId"]: e["node"] for e in body["data"]["orders"]["edges"]}
    assert nodes["O-USD"] == {
        "externalId": "O-USD",
        "totalAmount": {"amount": "721.50", "currency": "CNY"},
        "originalTotal": {"amount": "100.00", "currency": "USD"},
        "exchangeRate": "7.21500000",
    }
    assert (nodes["O-CNY"]["originalTotal"], nodes["O-CNY"]["exchangeRate"]) == (None, None)


def test_a_report_is_in_the_time_zone_of_the_brand_it_was_asked_for(client, two_brands):
    _acme, gotham, staff = two_brands
    StreamViewFactory(
        brand=gotham,
        stream=Stream.objects.get(brand=gotham),
        customer=Customer.objects.get(brand=gotham, external_id="C-gotham"),
    )
    query = """query($b: ID!) { streamPerformance(brand: $b, from: "2026-05-01", to: "2026-06-30") {
      streams { startedAt gmv { amount currency } } total { gmv { amount currency } } } }"""
    body = gql(signed_in(client, staff), query, {"b": to_base64("Brand", gotham.pk)}).json()
    assert "errors" not in body, body
    report = body["data"]["streamPerformance"]
    assert report["streams"][0]["startedAt"] == "2026-06-01T09:30:00-04:00"
    assert report["total"]["gmv"] == {"amount": "360.00", "currency": "USD"}


def test_an_api_token_reads_its_brands_time_zone(client, two_brands, api_token_for):
    _acme, gotham, _staff = two_brands
    body = gql_token(client, api_token_for(gotham, "viewer"), ORDERS).json()
    placed = [e["node"]["placedAt"] for e in body["data"]["orders"]["edges"]]
    assert placed and all(p.endswith("-04:00") for p in placed)


# -- ids and cursors a client got wrong --------------------------------------------------------------------


def ask(client, token, query, variables=None, language="en"):
    return client.post(
        "/graphql/",
        {"query": query, "variables": variables or {}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE=language,
    ).json()


def messages(body) -> list[str]:
    return [e["message"] for e in body.get("errors") or ()]


NOT_AN_ID = '{}: "{}" is not an id this API returned (use the `id` of a node).'


def test_a_bad_id_names_its_argument(client, brand, api_token_for):
    token = api_token_for(brand, "viewer")
    cases = [
        ('{ customer(id: "12345") { id } }', {}, NOT_AN_ID.format("id", "12345")),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": "abc"}, NOT_AN_ID.format("id", "abc")),
        # well formed, but of no type the API has, or with a number that is not one
        (
            "query($id: ID!) { node(id: $id) { id } }",
            {"id": to_base64("Nope", 1)},
            NOT_AN_ID.format("id", to_base64("Nope", 1)),
        ),
        (
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": [to_base64("Customer", 1), to_base64("Customer", "x")]},
            NOT_AN_ID.format("ids[1]", to_base64("Customer", "x")),
        ),
        # inside an input, after other arguments that are no ids
        (
            '{ customers(filter: {search: "zz", tiers: ["tier-1"]}) { totalCount } }',
            {},
            NOT_AN_ID.format("filter.tiers[0]", "tier-1"),
        ),
    ]
    for query, variables, message in cases:
        body = ask(client, token, query, variables)
        assert messages(body) == [message], query


def test_a_bad_id_never_answers_in_strawberrys_words_nor_repeats_more_than_64_characters(
    client, brand, api_token_for
):
    token = api_token_for(brand, "viewer")
    sent = "x" * 300
    for language in ("en", "zh-hans"):
        body = ask(client, token, "query($id: ID!) { customer(id: $id) { id } }", {"id": sent}, language)
        [message] = messages(body)
        assert "GlobalID" not in message and "padding" not in message
        assert "x" * 64 not in message and "x" * 63 + "…" in message
        assert body["errors"][0]["path"] == ["customer"]


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ('{ customers(after: "garbage") { totalCount } }', "after"),
        ('{ orders(before: "Zm9vOjE=") { totalCount } }', "before"),  # base64 of foo:1
        (f'{{ streams(after: "{to_base64("arrayconnection", "x")}") {{ totalCount }} }}', "after"),
        ('{ customers(first: 1) { edges { node { orders(after: "zz") { totalCount } } } } }', "after"),
    ],
)
def test_a_bad_cursor_is_a_clear_error(client, brand, api_token_for, query, argument):
    CustomerFactory(brand=brand)
    [message] = messages(ask(client, api_token_for(brand, "viewer"), query))
    assert message.startswith(f"{argument}: ") or message.startswith(f"orders.{argument}: ")
    assert "is not a cursor of this list; pass a cursor the list returned" in message
    assert "padding" not in message and "literal" not in message


def test_a_cursor_the_list_returned_still_pages(client, brand, api_token_for):
    CustomerFactory.create_batch(3, brand=brand)
    token = api_token_for(brand, "viewer")
    first = ask(client, token, "{ customers(first: 2) { pageInfo { endCursor } edges { node { id } } } }")
    cursor = first["data"]["customers"]["pageInfo"]["endCursor"]
    rest = ask(
        client, token, "query($a: String) { customers(after: $a) { edges { node { id } } } }", {"a": cursor}
    )
    assert len(rest["data"]["customers"]["edges"]) == 1


def test_graphqls_own_messages_repeat_at_most_64_characters(client, brand, api_token_for):
    token = api_token_for(brand, "viewer")
    for query, variables in (
        ("query($f: Int) { customers(first: $f) { totalCount } }", {"f": "y" * 200}),
        ('{ customers(first: "%s") { totalCount } }' % ("y" * 200), {}),
    ):
        [message] = messages(ask(client, token, query, variables))
        assert "cannot represent" in message
        assert "y" * 64 not in message and "…" in message


def test_a_value_outside_an_enum_names_the_values_it_may_take(client, brand, api_token_for):
    token = api_token_for(brand, "viewer")
    query = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
    values = "PROSPECT, INTRODUCTION, GROWTH, MATURITY, DECLINE, CHURNED"
    for language, expected in (
        ("en", f'$f.stages[1]: "ASLEEP" is not a value of Stage; use one of {values}.'),
        ("zh-hans", f"$f.stages[1]: “ASLEEP”不是 Stage 的取值；请使用以下之一：{values}。"),
    ):
        [message] = messages(ask(client, token, query, {"f": {"stages": ["GROWTH", "ASLEEP"]}}, language))
        assert message == expected
    long_name = "A" * 200
    [message] = messages(
        ask(client, token, f"{{ orders(filter: {{statuses: [{long_name}]}}) {{ totalCount }} }}")
    )
    assert message == f'"{"A" * 63}…" is not a value of OrderStatus; use one of PAID, REFUNDED, CANCELLED.'
