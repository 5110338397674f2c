"""Inputs that look valid but lie outside what the product can compute with get a clear error naming the value,
not "Unexpected error.": a day past Python's last date, an amount PostgreSQL cannot compare, a NUL in text."""

from __future__ import annotations

import pytest
from strawberry.relay import to_base64

from tests.graphql.conftest import gql_token

pytestmark = pytest.mark.django_db

UNEXPECTED = "Unexpected error."


@pytest.fixture
def call(client, brand, api_token_for):
    token = api_token_for(brand, "analyst")

    def run(query: str, **variables):
        if "$brand" in query:
            variables["brand"] = to_base64("Brand", brand.pk)
        response = gql_token(client, token, query, variables)
        assert response.status_code == 200
        return response.json()

    return run


def messages(body) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]


STREAMS = """query S($brand: ID!, $from: Date!, $to: Date!) {
  streamPerformance(brand: $brand, from: $from, to: $to) { total { viewers } } }"""
CUSTOMERS_BY_LAST_ORDER = """query C($end: Date) {
  customers(filter: {lastOrder: {end: $end}}) { totalCount } }"""
CUSTOMERS_BY_CLV = """query C($min: Decimal) { customers(filter: {clv: {min: $min}}) { totalCount } }"""
ORDERS_BY_AMOUNT = """query O($min: Decimal) { orders(filter: {totalAmount: {min: $min}}) { totalCount } }"""


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1899-12-31", "2200-01-01"])
def test_a_day_outside_the_calendar_the_product_uses_is_refused_clearly(call, day):
    expected = f'"{day}" is outside the range of a Date this API takes (1900-01-01 … 2199-12-31).'
    body = call(STREAMS, **{"from": "2026-01-01", "to": day})
    assert body["data"] is None
    assert len(messages(body)) == 1 and messages(body)[0].endswith(expected), messages(body)
    assert messages(call(CUSTOMERS_BY_LAST_ORDER, end=day))[0].endswith(expected)


def test_the_calendar_s_edges_are_taken(call):
    body = call(STREAMS, **{"from": "1900-01-01", "to": "2199-12-31"})
    assert "errors" not in body and body["data"]["streamPerformance"]["total"]["viewers"] == 0
    assert call(CUSTOMERS_BY_LAST_ORDER, end="2199-12-31") == {"data": {"customers": {"totalCount": 0}}}


@pytest.mark.parametrize("amount", ["1e999999", "NaN", "-Infinity", "1000000000000000", 1e300])
def test_an_amount_no_column_can_compare_is_refused_clearly(call, amount):
    for query in (CUSTOMERS_BY_CLV, ORDERS_BY_AMOUNT):
        found = messages(call(query, min=amount))
        assert len(found) == 1, found
        assert "is outside the range of a Decimal this API takes (-10^15 … 10^15)." in found[0], found
        assert UNEXPECTED not in found[0]


def test_amounts_within_the_range_run(call):
    assert call(CUSTOMERS_BY_CLV, min="999999999999999.99") == {"data": {"customers": {"totalCount": 0}}}
    assert call(ORDERS_BY_AMOUNT, min=-5) == {"data": {"orders": {"totalCount": 0}}}


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (
            "9999-12-31",
            '"9999-12-31" is outside the range of a Date this API takes (1900-01-01 … 2199-12-31).',
        ),
        ("30/06/2026", '"30/06/2026" is not a Date; use YYYY-MM-DD, e.g. 2026-06-30.'),
    ],
)
def test_a_date_written_in_the_document_is_refused_in_words_at_its_place(call, day, message):
    # graphql-core reported the scalar's refusal of a literal without a location, or quoted in its own English
    query = f'query($brand: ID!) {{ streamPerformance(brand: $brand, from: "2026-01-01", to: "{day}") {{ total {{ viewers }} }} }}'
    body = call(query)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == message
    assert error["locations"] == [{"line": 1, "column": query.index(f'"{day}"') + 1}]


@pytest.mark.parametrize("field", ["customers", "orders", "streams", "communities"])
def test_a_nul_in_a_search_names_the_argument(call, field):
    body = call(f"query($s: String) {{ {field}(filter: {{search: $s}}) {{ totalCount }} }}", s="a\x00b")
    assert messages(body) == ["search must not contain a NUL character (U+0000)."]


def test_a_nul_in_any_other_text_argument_is_the_caller_s_mistake(call, caplog):
    body = call(
        "query($brand: ID!, $code: String!) { experimentResults(brand: $brand, code: $code) }", code="a\x00b"
    )
    assert messages(body) == [
        "A text argument contains a NUL character (U+0000), which no text here can hold."
    ]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
