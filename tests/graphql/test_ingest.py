"""Batch ingest mutations: values written, idempotent re-runs, updates, per-item errors, limits, roles, brands."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from strawberry import relay

from apps.brands.services import membership_set
from apps.customers.models import Customer
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream, StreamView
from tests.factories import CustomerFactory, StreamFactory, UserFactory
from tests.graphql.conftest import gql, gql_token

pytestmark = pytest.mark.django_db

PAYLOAD = "{ ok created updated unchanged customersCreated errors { index field message } }"
INGEST_CUSTOMERS = (
    "mutation($brand: ID!, $items: [CustomerIngestInput!]!) { ingestCustomers(brand: $brand, items: $items) "
    + PAYLOAD
    + " }"
)
INGEST_STREAMS = (
    "mutation($brand: ID!, $items: [StreamIngestInput!]!) { ingestStreams(brand: $brand, items: $items) "
    + PAYLOAD
    + " }"
)
INGEST_VIEWS = (
    "mutation($brand: ID!, $items: [StreamViewIngestInput!]!) { ingestStreamViews(brand: $brand, items: $items) "
    + PAYLOAD
    + " }"
)
INGEST_ORDERS = (
    "mutation($brand: ID!, $items: [OrderIngestInput!]!) { ingestOrders(brand: $brand, items: $items) "
    + PAYLOAD
    + " }"
)


def brand_id(brand) -> str:
    return relay.to_base64("Brand", brand.pk)


def counts(created=0, updated=0, unchanged=0, customers_created=0):
    return {
        "ok": True,
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "customersCreated": customers_created,
        "errors": [],
    }


def refused(*errors):
    return {
        "ok": False,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "customersCreated": 0,
        "errors": [{"index": i, "field": f, "message": m} for i, f, m in errors],
    }


@pytest.fixture
def call(client, manager, brand):
    """Run a mutation as Acme's manager (session + CSRF) and return its payload."""
    client.force_login(manager)
    client.get("/admin/")

    def run(query, items, as_brand=None):
        body = gql(client, query, {"brand": brand_id(as_brand or brand), "items": items}).json()
        assert "errors" not in body, body
        return next(iter(body["data"].values()))

    return run


# Customers


CUSTOMERS = [
    {
        "customerId": "00123",
        "name": "王小美",
        "phone": "13812345678",
        "gender": "女",
        "age": 30,
        "province": "浙江",
        "city": "杭州",
        "acquisitionChannel": "live_stream",
        "acquisitionStreamId": "S1",
        "firstSeenAt": "2026-01-05T10:00:00",
        "marketingConsent": True,
        "automatedDecisionsOptOut": False,
        "preferredTouchChannel": "wecom",
    },
    {"customerId": "C2", "birthYear": 1990, "ageBand": "35-44", "gender": "male"},
]


def test_ingest_customers_writes_every_field(call, brand):
    stream = StreamFactory(brand=brand, external_id="S1")
    assert call(INGEST_CUSTOMERS, CUSTOMERS) == counts(created=2)
    first = Customer.objects.get(brand=brand, external_id="00123")
    assert (first.display_name, first.phone, first.gender, first.age_band) == (
        "王小美",
        "13812345678",
        "female",
        "25-34",
    )
    assert (first.province, first.city, first.acquisition_channel) == ("浙江", "杭州", "live_stream")
    assert first.acquisition_stream_id == stream.pk
    # Naive times are the brand's local time (Asia/Shanghai, UTC+8).
    assert first.first_seen_at == datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    assert (first.marketing_consent, first.automated_decisions_opt_out, first.preferred_touch_channel) == (
        True,
        False,
        "wecom",
    )
    second = Customer.objects.get(brand=brand, external_id="C2")
    assert (second.birth_year, second.age_band, second.gender, second.display_name, second.phone) == (
        1990,
        "35-44",
        "male",
        "",
        "",
    )
    assert second.first_seen_at is None


def test_ingest_customers_again_changes_nothing_and_changed_fields_update(call, brand):
    StreamFactory(brand=brand, external_id="S1")
    call(INGEST_CUSTOMERS, CUSTOMERS)
    before = Customer.objects.get(brand=brand, external_id="00123").updated_at
    assert call(INGEST_CUSTOMERS, CUSTOMERS) == counts(unchanged=2)
    assert Customer.objects.get(brand=brand, external_id="00123").updated_at == before
    # Fields left out keep their values; null clears one; a changed field updates.
    assert call(INGEST_CUSTOMERS, [{"customerId": "00123", "city": "宁波", "province": None}]) == counts(
        updated=1
    )
    customer = Customer.objects.get(brand=brand, external_id="00123")
    assert (customer.city, customer.province, customer.phone, customer.display_name) == (
        "宁波",
        "",
        "13812345678",
        "王小美",
    )
    assert Customer.objects.filter(brand=brand).count() == 2


def test_items_giving_different_fields_keep_what_each_leaves_out(call, brand):
    CustomerFactory(brand=brand, external_id="A", display_name="Ann", phone="13800000001", city="Hangzhou")
    CustomerFactory(brand=brand, external_id="B", display_name="Bo", phone="13800000002", city="Suzhou")
    result = call(
        INGEST_CUSTOMERS, [{"customerId": "A", "city": "Ningbo"}, {"customerId": "B", "name": "Bob"}]
    )
    assert result == counts(updated=2)
    a, b = Customer.objects.filter(brand=brand).order_by("external_id")
    assert (a.display_name, a.phone, a.city) == ("Ann", "13800000001", "Ningbo")
    assert (b.display_name, b.phone, b.city) == ("Bob", "13800000002", "Suzhou")


def test_bad_customers_give_one_error_per_problem_and_write_nothing(call, brand):
    items = [
        {"customerId": "C1", "gender": "x"},
        {"customerId": "C1"},
        {"customerId": " ", "phone": "call me"},
        {"customerId": "C4", "birthYear": 1800},
        {"customerId": "C5", "acquisitionStreamId": "nope"},
        {"customerId": "C6", "marketingConsent": True},
    ]
    assert call(INGEST_CUSTOMERS, items) == refused(
        (0, "gender", "must be one of: female, male, unknown"),
        (1, "customerId", "the same customer appears in item 0"),
        (2, "customerId", "a value is required"),
        (2, "phone", "not a valid phone number"),
        (3, "birthYear", "must be at least 1900"),
        (4, "acquisitionStreamId", "unknown live stream"),
    )
    assert not Customer.objects.exists()


def test_error_messages_never_repeat_personal_data(call, brand):
    result = call(
        INGEST_CUSTOMERS, [{"customerId": "C1", "phone": "王小美 13812345678x", "name": "王" * 201}]
    )
    assert result == refused(
        (0, "name", "longer than 200 characters"), (0, "phone", "not a valid phone number")
    )


# Streams


STREAMS = [
    {
        "streamId": "S1",
        "startedAt": "2026-02-01T20:00:00+08:00",
        "endedAt": "2026-02-01T22:30:00+08:00",
        "title": "Spring launch",
        "host": "Lily",
        "platform": "抖音",
        "category": "skincare",
    },
    {"streamId": "S2", "startedAt": "2026-02-02"},
]


def test_ingest_streams_writes_values_and_is_idempotent(call, brand):
    assert call(INGEST_STREAMS, STREAMS) == counts(created=2)
    s1 = Stream.objects.get(brand=brand, external_id="S1")
    assert (s1.title, s1.host_name, s1.platform, s1.category) == (
        "Spring launch",
        "Lily",
        "douyin",
        "skincare",
    )
    assert s1.started_at == datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    assert s1.ended_at == datetime(2026, 2, 1, 14, 30, tzinfo=UTC)
    s2 = Stream.objects.get(brand=brand, external_id="S2")
    assert (s2.title, s2.platform, s2.ended_at) == ("", "other", None)
    assert s2.started_at == datetime(2026, 2, 1, 16, 0, tzinfo=UTC)  # midnight in Shanghai
    assert call(INGEST_STREAMS, STREAMS) == counts(unchanged=2)
    assert call(INGEST_STREAMS, [{**STREAMS[0], "title": "Spring launch II"}]) == counts(updated=1)
    s1.refresh_from_db()
    assert (s1.title, s1.host_name) == ("Spring launch II", "Lily")


def test_bad_streams(call, brand):
    items = [
        {"streamId": "S1", "startedAt": "2026-02-01T20:00:00", "endedAt": "2026-02-01T19:00:00"},
        {"streamId": "S2", "startedAt": "2026-02-01T20:00:00", "platform": "myspace"},
        {"streamId": "S1", "startedAt": "2026-02-01T20:00:00"},
        {"streamId": "", "startedAt": "2026-02-01T20:00:00"},
        {"streamId": "S5", "startedAt": "2026-02-01T20:00:00"},
    ]
    assert call(INGEST_STREAMS, items) == refused(
        (0, "endedAt", "must not be before started_at"),
        (1, "platform", "must be one of: douyin, kuaishou, taobao, wechat_channels, other"),
        (2, "streamId", "the same stream appears in item 0"),
        (3, "streamId", "a value is required"),
    )
    assert not Stream.objects.exists()


# Stream views


def test_ingest_stream_views_creates_customers_and_updates_counts(call, brand):
    stream = StreamFactory(brand=brand, external_id="S1", started_at=datetime(2026, 2, 1, 12, tzinfo=UTC))
    CustomerFactory(brand=brand, external_id="C1", first_seen_at=datetime(2026, 3, 1, tzinfo=UTC))
    items = [
        {"streamId": "S1", "customerId": "C1", "watchSeconds": 600, "comments": 3, "likes": 10, "shares": 1},
        {"streamId": "S1", "customerId": "NEW", "joinedAt": "2026-02-01T20:30:00"},
    ]
    assert call(INGEST_VIEWS, items) == counts(created=2, customers_created=1)
    c1 = StreamView.objects.get(brand=brand, stream=stream, customer__external_id="C1")
    assert (c1.watch_seconds, c1.comments, c1.likes, c1.shares) == (600, 3, 10, 1)
    assert c1.joined_at == stream.started_at
    new = StreamView.objects.get(brand=brand, stream=stream, customer__external_id="NEW")
    assert (new.watch_seconds, new.comments, new.likes, new.shares) == (0, 0, 0, 0)
    assert new.joined_at == datetime(2026, 2, 1, 12, 30, tzinfo=UTC)
    # The view moved the existing customer's first_seen_at earlier; the new one starts there.
    assert Customer.objects.get(brand=brand, external_id="C1").first_seen_at == stream.started_at
    assert Customer.objects.get(brand=brand, external_id="NEW").first_seen_at == new.joined_at

    assert call(INGEST_VIEWS, items) == counts(unchanged=2)
    assert call(INGEST_VIEWS, [{"streamId": "S1", "customerId": "C1", "likes": 12}]) == counts(updated=1)
    c1.refresh_from_db()
    assert (c1.watch_seconds, c1.comments, c1.likes) == (600, 3, 12)


def test_bad_stream_views(call, brand):
    StreamFactory(brand=brand, external_id="S1")
    items = [
        {"streamId": "S9", "customerId": "C1"},
        {"streamId": "S1", "customerId": "C1", "likes": -1},
        {"streamId": "S1", "customerId": "C1", "comments": 2},
        {"streamId": "S1", "customerId": "C2"},
    ]
    assert call(INGEST_VIEWS, items) == refused(
        (0, "streamId", "unknown live stream"),
        (1, "likes", "must be at least 0"),
        (2, "customerId", "the same live stream and customer appear in item 1"),
    )
    assert not StreamView.objects.exists()
    assert not Customer.objects.exists()


# Orders


ORDERS = [
    {
        "orderId": "O-1",
        "customerId": "C1",
        "orderedAt": "2026-02-01T20:15:00",
        "streamId": "S1",
        "lines": [
            {"amount": "99.90", "quantity": 3, "sku": "SKU-1", "category": "serum"},
            {"amount": 0, "sku": "GIFT"},
        ],
    },
    {
        "orderId": "O-2",
        "customerId": "C1",
        "orderedAt": "2026-02-03T09:00:00+08:00",
        "status": "已退款",
        "channel": "mini_program",
        "currency": "cny",  # the brand's (another currency needs a rate: tests/imports/test_robustness.py)
        "lines": [{"amount": 19.5}],
    },
]


def test_ingest_orders_writes_orders_and_lines(call, brand):
    stream = StreamFactory(brand=brand, external_id="S1")
    assert call(INGEST_ORDERS, ORDERS) == counts(created=2, customers_created=1)
    customer = Customer.objects.get(brand=brand, external_id="C1")
    o1 = Order.objects.get(brand=brand, external_id="O-1")
    assert (o1.customer_id, o1.stream_id, o1.status, o1.channel, o1.currency) == (
        customer.pk,
        stream.pk,
        "paid",
        "live_stream",
        "CNY",
    )
    assert o1.total_amount == Decimal("99.90")
    assert o1.placed_at == datetime(2026, 2, 1, 12, 15, tzinfo=UTC)
    lines = list(
        OrderItem.objects.filter(order=o1)
        .order_by("line_no")
        .values_list("line_no", "sku", "category", "quantity", "unit_price", "amount")
    )
    assert lines == [
        (1, "SKU-1", "serum", 3, Decimal("33.3000"), Decimal("99.90")),
        (2, "GIFT", "", 1, Decimal("0.0000"), Decimal("0.00")),
    ]
    o2 = Order.objects.get(brand=brand, external_id="O-2")
    assert (o2.status, o2.channel, o2.currency, o2.stream_id, o2.total_amount) == (
        "refunded",
        "mini_program",
        "CNY",
        None,
        Decimal("19.50"),
    )
    assert customer.first_seen_at == o1.placed_at


def test_ingest_orders_again_changes_nothing_and_updates_replace_lines(call, brand):
    StreamFactory(brand=brand, external_id="S1")
    call(INGEST_ORDERS, ORDERS)
    assert call(INGEST_ORDERS, ORDERS) == counts(unchanged=2)
    assert OrderItem.objects.filter(brand=brand).count() == 3
    changed = {**ORDERS[0], "status": "cancelled", "lines": [{"amount": "120.00", "sku": "SKU-1"}]}
    assert call(INGEST_ORDERS, [changed]) == counts(updated=1)
    order = Order.objects.get(brand=brand, external_id="O-1")
    assert (order.status, order.total_amount) == ("cancelled", Decimal("120.00"))
    assert list(order.items.values_list("line_no", "sku", "amount")) == [(1, "SKU-1", Decimal("120.00"))]
    assert Order.objects.filter(brand=brand).count() == 2


def test_bad_orders(call, brand):
    StreamFactory(brand=brand, external_id="S1")
    base = {"customerId": "C1", "orderedAt": "2026-02-01T20:15:00", "lines": [{"amount": "10"}]}
    items = [
        {**base, "orderId": "O1", "lines": [{"amount": "-5"}, {"amount": "1", "quantity": 0}]},
        {**base, "orderId": "O2", "streamId": "S9", "lines": [{"amount": "1"}, {"amount": "2"}]},
        {**base, "orderId": "O3", "status": "lost", "currency": "yuan"},
        {**base, "orderId": "O4", "lines": []},
        {**base, "orderId": "O1"},
        {**base, "orderId": "  "},
        {**base, "orderId": "O7", "lines": [{"amount": "1.999"}]},
        {**base, "orderId": "O8", "customerId": ""},
        {**base, "orderId": "O9"},
    ]
    assert call(INGEST_ORDERS, items) == refused(
        (0, "lines.0.amount", "must not be negative"),
        (0, "lines.1.quantity", "must be at least 1"),
        (1, "streamId", "unknown live stream"),
        (2, "status", "must be one of: paid, refunded, cancelled"),
        (2, "currency", "must be a three-letter currency code such as CNY"),
        (3, "lines", "an order needs at least one line"),
        (4, "orderId", "the same order appears in item 0"),
        (5, "orderId", "a value is required"),
        (6, "lines.0.amount", "at most 2 decimal places"),
        (7, "customerId", "a value is required"),
    )
    assert not Order.objects.exists()
    assert not OrderItem.objects.exists()
    assert not Customer.objects.exists()


def test_too_many_lines_in_one_order(call, brand):
    item = {"orderId": "O1", "customerId": "C1", "orderedAt": "2026-02-01", "lines": [{"amount": "1"}] * 101}
    assert call(INGEST_ORDERS, [item]) == refused((0, "lines", "at most 100 lines per order"))


# Limits, roles and brands


def test_more_than_1000_items_are_refused_whole(call, brand):
    items = [{"customerId": f"C{i}"} for i in range(1001)]
    assert call(INGEST_CUSTOMERS, items) == refused(
        (None, "items", "At most 1000 items per call; this call has 1001. Nothing was written.")
    )
    assert not Customer.objects.exists()
    assert call(INGEST_CUSTOMERS, items[:1000]) == counts(created=1000)


def test_an_empty_batch_writes_nothing(call, brand):
    assert call(INGEST_STREAMS, []) == counts()


def _error_of(response):
    body = response.json()
    assert body["data"] is None
    return [e["message"] for e in body["errors"]]


def test_another_brands_manager_is_told_no_such_brand(client, brand, other_brand, rival_member):
    client.force_login(rival_member)
    client.get("/admin/")
    response = gql(client, INGEST_CUSTOMERS, {"brand": brand_id(brand), "items": [{"customerId": "X"}]})
    assert _error_of(response) == ["No such brand."]
    for bad in ("not-an-id", relay.to_base64("Customer", brand.pk), relay.to_base64("Brand", 987654)):
        response = gql(client, INGEST_CUSTOMERS, {"brand": bad, "items": [{"customerId": "X"}]})
        assert _error_of(response) == ["No such brand."]
    assert not Customer.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_may_not_ingest(client, brand, role):
    user = UserFactory(username=f"{role}-user")
    membership_set(user=user, brand=brand, role=role)
    client.force_login(user)
    client.get("/admin/")
    response = gql(client, INGEST_STREAMS, {"brand": brand_id(brand), "items": STREAMS})
    assert _error_of(response) == ["This needs the Manager role in the brand."]
    assert not Stream.objects.exists()


def test_signed_out_callers_may_not_ingest(client, brand):
    response = gql(client, INGEST_STREAMS, {"brand": brand_id(brand), "items": STREAMS})
    assert response.status_code == 401
    assert _error_of(response) == [
        "Sign in to the admin, or send an API token: Authorization: Bearer <token>."
    ]


def test_a_manager_token_ingests_and_another_brands_token_is_refused(
    client, brand, other_brand, api_token_for
):
    variables = {"brand": brand_id(brand), "items": STREAMS}
    response = gql_token(client, api_token_for(brand, "manager"), INGEST_STREAMS, variables)
    assert response.json()["data"]["ingestStreams"] == counts(created=2)
    rival = gql_token(client, api_token_for(other_brand, "manager"), INGEST_STREAMS, variables)
    assert _error_of(rival) == ["No such brand."]
    viewer = gql_token(client, api_token_for(brand, "viewer"), INGEST_STREAMS, variables)
    assert _error_of(viewer) == ["This needs the Manager role in the brand."]
    assert Stream.objects.filter(brand=other_brand).count() == 0
    assert Stream.objects.filter(brand=brand).count() == 2


def test_ingest_writes_only_the_named_brand(call, brand, other_brand):
    CustomerFactory(brand=other_brand, external_id="C2", display_name="Rival's")
    StreamFactory(brand=other_brand, external_id="S1")
    # The rival's stream S1 is unknown in Acme; the rival's customer C2 is untouched.
    result = call(INGEST_CUSTOMERS, [{"customerId": "C2", "name": "Acme's", "acquisitionStreamId": "S1"}])
    assert result == refused((0, "acquisitionStreamId", "unknown live stream"))
    assert call(INGEST_CUSTOMERS, [{"customerId": "C2", "name": "Acme's"}]) == counts(created=1)
    assert Customer.objects.get(brand=other_brand, external_id="C2").display_name == "Rival's"
    assert Customer.objects.get(brand=brand, external_id="C2").display_name == "Acme's"
