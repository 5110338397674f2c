"""Limits (depth 10, aliases 15, tokens 2,000, nodes 50,000) and masked errors.

Most tests run a tiny schema built here with the project's own extensions (clvsite.schema.extensions and
schema class), so that each limit can be hit exactly; the HTTP tests check the real endpoint applies them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest
import strawberry
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.test import Client
from graphql import GraphQLError, parse
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.relay import to_base64

import clvsite.schema as project
from apps.api.services import api_token_create
from apps.core.graphql.errors import ClvMaskErrors
from apps.core.graphql.errors import ClvSchema as Schema
from apps.core.graphql.limits import NodeCountLimiter, operation_node_count
from tests.graphql.conftest import gql_token

NODE_LIMIT_MESSAGE = (
    "This query could return up to {count} nodes, more than the limit of {limit}. "
    "Ask for fewer items with first or last, or nest fewer connections."
)


@strawberry.type
class Item(relay.Node):
    id: relay.NodeID[int]

    @relay.connection(relay.ListConnection["Item"])
    def children(self) -> list[Item]:
        return [Item(id=self.id * 10 + i) for i in range(3)]

    @classmethod
    def resolve_nodes(cls, *, info, node_ids, required=False):
        return [Item(id=int(i)) for i in node_ids]


@strawberry.type
class Nest:
    @strawberry.field
    def child(self) -> Nest:
        return Nest()

    @strawberry.field
    def leaf(self) -> int:
        return 1


class Missing(ObjectDoesNotExist):
    pass


@strawberry.type
class Query:
    @relay.connection(relay.ListConnection[Item])
    def items(self) -> list[Item]:
        return [Item(id=i) for i in range(1, 4)]

    @strawberry.field
    def nest(self) -> Nest:
        return Nest()

    @strawberry.field
    def total(self, values: list[int]) -> int:
        return sum(values)

    @strawberry.field
    def crash(self) -> int:
        raise RuntimeError("connection to db password=hunter2 failed for phone 13800000000")

    @strawberry.field
    def key_error(self) -> int:
        return {}["secret_key"]

    @strawberry.field
    def invalid(self) -> int:
        raise ValidationError({"name": ["Too long."], "__all__": ["Dates overlap."]})

    @strawberry.field
    def invalid_plain(self) -> int:
        raise ValidationError("Quantity must be positive.")

    @strawberry.field
    def denied(self) -> int:
        raise PermissionDenied("This needs the Manager role in the brand.")

    @strawberry.field
    def missing(self) -> int:
        raise Missing("Customer matching query does not exist.")

    @strawberry.field
    def deliberate(self) -> int:
        raise GraphQLError("Pick a date after 2020.")


schema = Schema(query=Query, extensions=project.extensions, config=project.config)


def run(query: str, variables: dict | None = None):
    return schema.execute_sync(query, variable_values=variables)


def count(query: str, variables: dict | None = None) -> int:
    document = parse(query)
    operations = [d for d in document.definitions if d.kind == "operation_definition"]
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    return operation_node_count(schema._schema, operations[0], fragments, variables)


def nested_items(depth: int, first: int | None = None) -> str:
    args = f"(first: {first})" if first is not None else ""
    query = "id"
    for _ in range(depth - 1):
        query = f"id children{args} {{ edges {{ node {{ {query} }} }} }}"
    return f"{{ items{args} {{ edges {{ node {{ {query} }} }} }} }}"


# Node count: the arithmetic


def test_nested_connections_multiply():
    query = "{ items(first: 50) { edges { node { children(first: 10) { edges { cursor } } } } } }"
    assert count(query) == 50 + 50 * 10


def test_missing_first_counts_a_full_page_of_100():
    assert count(nested_items(2)) == 100 + 100 * 100
    assert count(nested_items(3)) == 100 + 100**2 + 100**3


def test_last_counts_like_first_and_the_larger_of_both_wins():
    assert count("{ items(last: 7) { edges { cursor } } }") == 7
    assert count("{ items(first: 3, last: 9) { edges { cursor } } }") == 9


def test_arguments_from_variables_and_their_defaults():
    query = """query ($n: Int = 4, $m: Int) { items(first: $n) { edges { node { children(first: $m) {
      edges { cursor } } } } } }"""
    assert count(query, {"n": 20, "m": 5}) == 20 + 20 * 5
    assert count(query, {"m": 5}) == 4 + 4 * 5
    assert count(query, {}) == 4 + 4 * 100


def test_siblings_add_up_and_plain_fields_count_nothing():
    query = (
        "{ a: items(first: 10) { edges { cursor } } b: items(first: 20) { edges { cursor } } nest { leaf } }"
    )
    assert count(query) == 30


def test_fragments_and_inline_fragments_count_like_inline_selections():
    query = """
      query { items(first: 10) { ...Page } }
      fragment Page on ItemConnection { edges { node { ... on Item { children(first: 6) { edges { cursor } } } } } }
    """
    assert count(query) == 10 + 10 * 6


# Node count: refusal


def test_operation_over_the_node_limit_is_refused_before_it_runs():
    result = run(nested_items(3))
    assert result.data is None
    assert [e.message for e in result.errors] == [
        NODE_LIMIT_MESSAGE.format(count="1,010,100", limit="50,000")
    ]


def test_operation_under_the_node_limit_runs():
    result = run(nested_items(2))  # 10,100 nodes at most
    assert result.errors is None
    assert [e["node"]["id"] for e in result.data["items"]["edges"]] == [
        relay.to_base64("Item", i) for i in (1, 2, 3)
    ]


def test_limit_counts_the_variables_the_request_sends():
    query = """query ($n: Int!) { items(first: $n) { edges { node { children(first: $n) { edges { node {
      children(first: $n) { edges { cursor } } } } } } } } }"""
    assert run(query, {"n": 30}).errors is None  # 30 + 900 + 27,000 = 27,930
    refused = run(query, {"n": 40})  # 40 + 1,600 + 64,000 = 65,640
    assert [e.message for e in refused.errors] == [NODE_LIMIT_MESSAGE.format(count="65,640", limit="50,000")]


def test_a_valid_document_is_validated_once_and_an_invalid_one_every_time(monkeypatch):
    import apps.core.graphql.limits as limits

    calls = []
    validate_document = limits.validate_document

    def counted(*args):
        calls.append(args[1])
        return validate_document(*args)

    monkeypatch.setattr(limits, "validate_document", counted)
    monkeypatch.setattr(limits, "_valid_documents", type(limits._valid_documents)())
    query = "query Once($n: Int!) { items(first: $n) { edges { cursor } } }"
    assert run(query, {"n": 2}).errors is None and run(query, {"n": 3}).errors is None
    assert len(calls) == 1 and len(limits._valid_documents) == 1
    # the node limit still reads each request's variables
    refused = run(query, {"n": 50_001})
    assert [e.message for e in refused.errors] == [NODE_LIMIT_MESSAGE.format(count="50,001", limit="50,000")]
    # a document the rules refuse is judged every time, and not remembered
    for _ in range(2):
        assert [e.message for e in run("{ items { nope } }").errors] == [
            "Cannot query field 'nope' on type 'ItemConnection'."
        ]
    assert len(calls) == 3 and len(limits._valid_documents) == 1


def test_limit_is_configurable():
    small = Schema(query=Query, extensions=[lambda: NodeCountLimiter(max_node_count=10)])
    refused = small.execute_sync("{ items(first: 11) { edges { cursor } } }")
    assert refused.errors[0].message == NODE_LIMIT_MESSAGE.format(count="11", limit="10")
    assert small.execute_sync("{ items(first: 10) { edges { cursor } } }").errors is None


# Depth, aliases, tokens


def deep(levels: int) -> str:
    return "{ nest " + "{ child " * (levels - 1) + "{ leaf }" + " }" * (levels - 1) + " }"


def test_depth_ten_runs_and_eleven_is_refused():
    # depth counts from 0 at the top-level field: nest (0), 9 × child (1-9), leaf (10)
    assert run(deep(10)).errors is None
    refused = run(deep(11))
    assert [e.message for e in refused.errors] == ["'anonymous' exceeds maximum operation depth of 10"]
    assert refused.data is None


def test_fifteen_aliases_run_and_sixteen_are_refused():
    def aliased(n):
        return "{ " + " ".join(f"a{i}: nest {{ leaf }}" for i in range(n)) + " }"

    assert run(aliased(15)).errors is None
    assert [e.message for e in run(aliased(16)).errors] == ["16 aliases found. Allowed: 15"]


def test_two_thousand_tokens_run_and_more_are_refused():
    def sized(numbers):  # { total ( values : [ … ] ) } = 9 tokens + the numbers (commas do not count)
        return "{ total(values: [" + ", ".join(["1"] * numbers) + "]) }"

    accepted = run(sized(1991))
    assert accepted.errors is None and accepted.data == {"total": 1991}
    assert [e.message for e in run(sized(1992)).errors] == [
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    ]


# Masked errors


def test_errors_of_our_code_are_masked(caplog):
    with caplog.at_level(logging.ERROR, logger="apps.graphql"):
        results = [run("{ crash }"), run("{ keyError }")]
    assert [r.data for r in results] == [None, None]
    assert [(e.message, e.path) for r in results for e in r.errors] == [
        ("Unexpected error.", ["crash"]),
        ("Unexpected error.", ["keyError"]),
    ]
    formatted = json.dumps([e.formatted for r in results for e in r.errors])
    for secret in ("hunter2", "13800000000", "secret_key", "RuntimeError", "Traceback", "test_limits"):
        assert secret not in formatted
    # the server log names the exception and where it happened, without its message
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "builtins.RuntimeError" in logged and "builtins.KeyError" in logged
    assert "test_limits.py" in logged
    assert "hunter2" not in logged and "13800000000" not in logged


def test_an_error_escaping_the_extensions_is_masked_too():
    class Broken(SchemaExtension):
        def on_execute(self):
            raise RuntimeError("internal detail hunter2")

    broken = Schema(query=Query, extensions=[Broken, ClvMaskErrors])
    result = broken.execute_sync("{ nest { leaf } }")
    assert [e.message for e in result.errors] == ["Unexpected error."]
    assert "hunter2" not in json.dumps([e.formatted for e in result.errors])


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("invalid", "name: Too long.; Dates overlap."),
        ("invalidPlain", "Quantity must be positive."),
        ("denied", "This needs the Manager role in the brand."),
        ("missing", "Customer matching query does not exist."),
        ("deliberate", "Pick a date after 2020."),
    ],
)
def test_validation_permission_and_not_found_errors_stay_clear(field, message):
    result = run(f"{{ {field} }}")
    assert [(e.message, e.path) for e in result.errors] == [(message, [field])]


def test_graphql_validation_and_argument_errors_stay_clear():
    assert run("{ nope }").errors[0].message == "Cannot query field 'nope' on type 'Query'."
    bad_variable = run("query ($n: Int) { items(first: $n) { edges { cursor } } }", {"n": "many"})
    assert bad_variable.errors[0].message == (
        "Variable '$n' has invalid value: Int cannot represent non-integer value: 'many'"
    )
    negative = run("{ items(first: -1) { edges { cursor } } }")
    assert negative.errors[0].message == "Argument 'first' must be a non-negative integer."
    # strawberry's own lists (not ours, which name the argument) repeated the decoded cursor whole
    for cursor in ("bm90IGEgY3Vyc29y", to_base64("arrayconnection", "x" * 5000), "!", to_base64("Other", 1)):
        bad_cursor = run("query ($c: String) { items(after: $c) { edges { cursor } } }", {"c": cursor})
        assert [e.message for e in bad_cursor.errors] == [
            "after or before is not a cursor of this list; pass a cursor the list returned "
            "(pageInfo.endCursor, pageInfo.startCursor or an edge's cursor)."
        ]
    too_many = run("{ items(first: 101) { edges { cursor } } }")
    assert too_many.errors[0].message == "Argument 'first' cannot be higher than 100."


# Over HTTP, on the real schema


@pytest.mark.django_db
def test_endpoint_applies_the_limits(client, brand):
    _token, plaintext = api_token_create(brand=brand, role="viewer")
    aliases = "{ " + " ".join(f"b{i}: brands {{ slug }}" for i in range(16)) + " }"
    body = gql_token(client, plaintext, aliases).json()
    assert body == {"data": None, "errors": [{"message": "16 aliases found. Allowed: 15"}]}
    deep_query = "{ me " + "{ memberships " * 11 + "{ role }" + " }" * 11 + " }"
    messages = [e["message"] for e in gql_token(client, plaintext, deep_query).json()["errors"]]
    assert "'anonymous' exceeds maximum operation depth of 10" in messages
    many_tokens = "{ brands { " + " ".join(["slug"] * 2000) + " } }"
    assert gql_token(client, plaintext, many_tokens).json()["errors"][0]["message"] == (
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    )


@pytest.mark.django_db
def test_endpoint_masks_a_failing_resolver(client, brand, monkeypatch, caplog):
    from apps.api.graphql import schema as api_schema

    def broken(info, brand, minimum):
        raise ZeroDivisionError("customer 13800000000 divided by zero")

    monkeypatch.setattr(api_schema, "brand_for", broken)
    _token, plaintext = api_token_create(brand=brand, role="manager")
    query = "query ($b: ID!) { apiTokens(brand: $b) { totalCount } }"
    with caplog.at_level(logging.ERROR, logger="apps.graphql"):
        response = gql_token(client, plaintext, query, {"b": relay.to_base64("Brand", brand.pk)})
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {"message": "Unexpected error.", "locations": [{"line": 1, "column": 19}], "path": ["apiTokens"]}
        ],
    }
    assert any("builtins.ZeroDivisionError" in r.getMessage() for r in caplog.records)
    assert not any("13800000000" in r.getMessage() for r in caplog.records)


# Production settings


def test_production_settings_turn_off_introspection_graphiql_and_suggestions():
    script = textwrap.dedent(
        """
        import json, django
        django.setup()
        from django.urls import resolve
        from clvsite.schema import schema
        introspection = schema.execute_sync("{ __schema { queryType { name } } }")
        typo = schema.execute_sync("{ brandz { slug } }")
        view = resolve("/graphql/").func
        print(json.dumps({
            "introspection": [e.message for e in introspection.errors or []],
            "typo": [e.message for e in typo.errors or []],
            "graphql_ide": view.view_initkwargs["graphql_ide"],
        }))
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clvsite.settings.production",
        "SECRET_KEY": "test-only-production-check-" + "x7Qp2LmZ9vR4tW8yB3nK6cF1hJ5dS0gA",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["graphql_ide"] is None
    assert result["introspection"] and all(
        m.startswith("GraphQL introspection has been disabled") for m in result["introspection"]
    )
    assert result["typo"] == ["Cannot query field 'brandz' on type 'Query'."]  # no "Did you mean 'brands'?"


def test_test_settings_keep_introspection_on_for_tooling(brand):
    from apps.api.services import api_token_create

    _token, plaintext = api_token_create(brand=brand, role="viewer", name="codegen")
    assert Client().post(
        "/graphql/",
        {"query": "{ __schema { queryType { name } } }"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
    ).json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


def test_last_zero_is_an_empty_page_like_first_zero(client, brand):
    # strawberry read `last: 0` as no limit: the whole list in one answer, past the 100-node page
    from tests.factories import CustomerFactory

    CustomerFactory.create_batch(3, brand=brand)
    token = api_token_create(brand=brand, role="analyst", name="limits")[1]
    for argument in ("first: 0", "last: 0", "first: 2, last: 0"):
        body = gql_token(
            client, token, f"{{ customers({argument}) {{ totalCount edges {{ node {{ id }} }} }} }}"
        )
        assert body.json() == {"data": {"customers": {"totalCount": 3, "edges": []}}}, argument
    body = gql_token(client, token, "{ customers(last: 2) { edges { node { id } } } }").json()
    assert len(body["data"]["customers"]["edges"]) == 2


def test_nodes_takes_at_most_a_page_of_ids(client, brand):
    from tests.factories import CustomerFactory

    customers = CustomerFactory.create_batch(2, brand=brand)
    token = api_token_create(brand=brand, role="analyst", name="limits")[1]
    query = "query N($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    ids = [to_base64("Customer", c.pk) for c in customers]
    assert gql_token(client, token, query, {"ids": ids * 50}).json()["data"]["nodes"] == [
        {"id": i} for i in ids * 50
    ]
    body = gql_token(client, token, query, {"ids": ids * 50 + ids[:1]}).json()
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == ["ids: at most 100 ids at a time; got 101."]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ customers(first: 99999999999) { totalCount } }", {}),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": 1e30}),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": 99999999999}),
    ],
)
def test_an_int_out_of_range_is_an_int_error_not_a_node_limit(client, brand, query, variables):
    token = api_token_create(brand=brand, role="analyst", name="limits")[1]
    body = gql_token(client, token, query, variables).json()
    messages = [e["message"] for e in body["errors"]]
    assert body["data"] is None and messages, body
    assert not any("nodes" in m for m in messages), messages
    assert all("Int" in m for m in messages), messages
