"""Hostile GraphQL documents and variables on the real schema: every error is clear (never "Unexpected error."
for the client's own mistake, never Python's or strawberry's internals) and repeats at most 64 characters of
any one value that was sent, in a message of at most 500 characters."""

from __future__ import annotations

import base64

import pytest

from tests.factories import CustomerFactory
from tests.graphql.conftest import gql_token
from tests.scenarios import gid

pytestmark = pytest.mark.django_db

NAME = "a" * 5000
CUT = "a" * 63 + "…"


def messages(response) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    text = response.content.decode()
    assert "Traceback" not in text and "Unexpected error" not in text
    body = response.json()
    assert body.get("errors"), body
    found = [e["message"] for e in body["errors"]]
    for message in found:
        assert len(message) <= 500, message
    return found


@pytest.fixture
def token(brand, api_token_for):
    return api_token_for(brand, "manager")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"{{ {NAME} }}", f"Cannot query field '{CUT}' on type 'Query'."),
        (f"{{ brands {{ slug }} }} fragment {NAME} on Brand {{ slug }}", f"Fragment '{CUT}' is never used."),
        (f"{{ brands @{NAME} {{ slug }} }}", f"Unknown directive '@{'a' * 62}…'."),
        (f"query ($x: {NAME}) {{ brands {{ slug }} }}", f"Unknown type '{CUT}'."),
        (
            f"{{ customers({NAME}: 1) {{ totalCount }} }}",
            f"Unknown argument '{CUT}' on field 'Query.customers'.",
        ),
        (f"{{ brands {{ ...{NAME} }} }}", f"Unknown fragment '{CUT}'."),
        (f"query {NAME} {{ brands {{ slug }} }}", None),  # a long operation name is fine: it runs
    ],
)
def test_long_names_in_graphqls_own_messages_are_cut(client, token, query, expected):
    response = gql_token(client, token, query)
    if expected is None:
        assert response.json() == {"data": {"brands": [{"slug": "acme"}]}}
        return
    assert expected in messages(response)


def test_an_integer_of_5000_digits_is_a_clear_error_not_an_unexpected_one(client, token):
    # Python refuses to read it (its 4,300-digit limit): GraphQL said so with Python's own words, and it was masked
    [message] = messages(gql_token(client, token, "{ customers(first: %s) { totalCount } }" % ("1" * 5000)))
    assert message == f"Expected value of type 'Int', found: {'1' * 63}…."
    found = messages(gql_token(client, token, "{ customers(first: %s) { totalCount } }" % ("1" * 50)))
    assert f"Int cannot represent non 32-bit signed integer value: {'1' * 50}" in found


def test_a_huge_first_is_an_int_error_not_an_endless_count(client, token):
    # refused by Int's range, which names it (not counted as two billion nodes, nor counted at all)
    found = messages(
        gql_token(client, token, "query ($n: Int) { customers(first: $n) { totalCount } }", {"n": 10**60})
    )
    assert found == [
        "Variable '$n' has invalid value: Int cannot represent non 32-bit signed integer value: "
        + str(10**60)
    ]


def test_a_long_literal_of_many_short_values_is_cut_as_a_whole(client, token):
    values = ", ".join(["1"] * 900)
    query = f"{{ customers(first: 1, filter: {{search: [{values}]}}) {{ totalCount }} }}"
    [message] = messages(gql_token(client, token, query))
    assert message.startswith("String cannot represent a non string value: [") and message.endswith("…")


def test_a_long_string_and_a_long_enum_value_are_cut(client, token):
    long_string = "s" * 5000
    [message] = messages(
        gql_token(client, token, f'{{ customers(first: "{long_string}") {{ totalCount }} }}')
    )
    assert message == f'Int cannot represent non-integer value: "{"s" * 63}…"'
    query = "query ($f: CustomerFilter) { customers(first: 1, filter: $f) { totalCount } }"
    [message] = messages(gql_token(client, token, query, {"f": {"stages": ["X" * 5000]}}))
    assert message.startswith(f'$f.stages[0]: "{"X" * 63}…" is not a value of Stage; use one of PROSPECT')


@pytest.mark.parametrize(
    "node_number", ["9" * 19, "9" * 5000, "1" + "0" * 30], ids=["past-bigint", "5000-digits", "31-digits"]
)
def test_ids_with_numbers_no_row_can_have_are_not_ids(client, token, node_number):
    global_id = base64.b64encode(f"Customer:{node_number}".encode()).decode()
    shown = global_id if len(global_id) <= 64 else global_id[:63] + "…"
    not_an_id = f'"{shown}" is not an id this API returned (use the `id` of a node).'
    for query, expected in (
        ("{ customer(id: $id) { id } }", "id must be the id of a Customer."),
        ("{ node(id: $id) { id } }", f"id: {not_an_id}"),
        ("{ nodes(ids: [$id]) { id } }", f"ids[0]: {not_an_id}"),
    ):
        found = messages(gql_token(client, token, "query ($id: ID!) " + query, {"id": global_id}))
        assert found == [expected]


def test_cursors_with_offsets_no_list_has_are_not_cursors(client, brand, token):
    CustomerFactory(brand=brand)
    query = "query ($c: String) { customers(first: 1, after: $c) { edges { node { id } } } }"
    for offset in ("9" * 13, "9" * 30):
        cursor = base64.b64encode(f"arrayconnection:{offset}".encode()).decode()
        [message] = messages(gql_token(client, token, query, {"c": cursor}))
        assert message.startswith("after: ") and "is not a cursor of this list" in message
    # a cursor past the end of the list (as large as a real one can be) is an empty page, not an error
    far = base64.b64encode(b"arrayconnection:999999999999").decode()
    body = gql_token(client, token, query, {"c": far}).json()
    assert body == {"data": {"customers": {"edges": []}}}


@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        (
            "{ customers(first: 1, filter: {lastOrder: {start: %s}}) { totalCount } }",
            "2026-13-45",
            '"2026-13-45" is not a Date; use YYYY-MM-DD, e.g. 2026-06-30.',
        ),
        (
            "{ orders(first: 1, filter: {placedAt: {start: %s}}) { totalCount } }",
            "StageRule",  # dateutil said: invalid literal for int() with base 10: b'Stag'
            '"StageRule" is not a DateTime; use ISO 8601, e.g. 2026-06-01T21:30:00+08:00.',
        ),
        (
            "{ orders(first: 1, filter: {totalAmount: {min: %s}}) { totalCount } }",
            "12,50",
            '"12,50" is not a Decimal; use a decimal number, e.g. 1280.50.',
        ),
        (
            "{ orders(first: 1, filter: {placedAt: {start: %s}}) { totalCount } }",
            "x" * 500,
            f'"{"x" * 63}…" is not a DateTime; use ISO 8601, e.g. 2026-06-01T21:30:00+08:00.',
        ),
    ],
)
def test_a_date_time_or_decimal_that_is_none_names_the_format_without_pythons_words(
    client, token, argument, value, expected
):
    literal = messages(gql_token(client, token, argument % f'"{value}"'))
    assert literal == [expected]
    name = "$" + "v" * 5000
    declared = "Date" if "lastOrder" in argument else "DateTime" if "placedAt" in argument else "Decimal"
    query = f"query ({name}: {declared}) " + argument % name
    as_variable = messages(gql_token(client, token, query, {name[1:]: value}))
    assert as_variable == [f"Variable '${'v' * 62}…' has invalid value: {expected}"]


def test_a_contact_policy_without_a_quiet_time_is_a_clear_error(client, brand, token):
    query = "mutation ($b: ID!) { updateContactPolicy(brand: $b, input: {quietStart: null}) { quietStart } }"
    body = gql_token(client, token, query, {"b": gid("Brand", brand)}).json()
    assert [e["message"] for e in body["errors"]] == ["quiet_start: use HH:MM."]


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (
            "updateContactPolicy(brand: $b, input: {webhookUrl: null}) { gateway }",
            "webhookUrl: This field cannot be null.",
        ),
        (
            "updateContactPolicy(brand: $b, input: {webhookSecret: null}) { gateway }",
            "webhookSecret: This field cannot be null.",
        ),
        (
            'createMessageTemplate(brand: $b, input: {code: "t", name: "T", body: "Hi", subject: null}) { id }',
            None,
        ),
    ],
)
def test_a_null_for_a_field_that_cannot_be_empty_is_a_clear_error(client, brand, token, mutation, message):
    body = gql_token(client, token, f"mutation ($b: ID!) {{ {mutation} }}", {"b": gid("Brand", brand)}).json()
    if message is None:  # a null the schema refuses itself
        assert [e["message"] for e in body["errors"]] == [
            "Expected value of non-null type 'String!' not to be null."
        ]
        return
    assert [e["message"] for e in body["errors"]] == [message]


def test_a_template_patched_to_a_null_body_is_a_clear_error(client, brand, token):
    from tests.factories import MessageTemplateFactory

    template = MessageTemplateFactory(brand=brand)
    query = "mutation ($id: ID!) { updateMessageTemplate(id: $id, input: {body: null}) { body } }"
    body = gql_token(client, token, query, {"id": gid("MessageTemplate", template)}).json()
    assert [e["message"] for e in body["errors"]] == ["body: This field cannot be null."]
