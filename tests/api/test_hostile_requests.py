"""Hostile and broken requests to /graphql/ (the endpoint itself, before any GraphQL runs): each one gets a clear
JSON error in the GraphQL shape, in the caller's language, that repeats at most 64 characters of what was sent;
never a 500, a traceback or Django's debug page, with DEBUG on too."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from django.test import Client
from django.utils import translation

from apps.api import views
from apps.api.services import api_token_create
from apps.brands.services import membership_set
from apps.loyalty.models import Tier
from tests.factories import UserFactory
from tests.scenarios import gid

pytestmark = pytest.mark.django_db

URL = "/graphql/"
BRANDS = "{ brands { slug } }"
NOT_A_CURSOR = (
    "is not a cursor of this list; pass a cursor the list returned (pageInfo.endCursor, "
    "pageInfo.startCursor or an edge's cursor)."
)


@pytest.fixture
def token(brand):
    return api_token_create(brand=brand, role="manager", name="hostile")[1]


def client() -> Client:
    return Client(raise_request_exception=False)


def post(token: str | None, body, content_type: str | None = "application/json", **headers):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if isinstance(body, str):
        body = body.encode()
    if content_type is None:  # the test client always sends one: a raw request without it
        return client().generic("POST", URL, body, content_type="", **headers)
    return client().generic("POST", URL, body, content_type=content_type, **headers)


def post_json(token: str, payload, **headers):
    return post(token, json.dumps(payload), **headers)


def refusal(response, status: int) -> str:
    """The message of an endpoint refusal: that status, JSON, the GraphQL shape with one error, no internals."""
    text = response.content.decode()
    assert response.status_code == status, text[:500]
    assert response["Content-Type"] == "application/json", text[:500]
    assert "Traceback" not in text and "<html" not in text.lower()
    body = json.loads(text)
    assert body["data"] is None and len(body["errors"]) == 1 and set(body["errors"][0]) == {"message"}
    return body["errors"][0]["message"]


# Bodies that are not one GraphQL request


@pytest.mark.parametrize(
    ("body", "kind"), [("123", "a number"), ("null", "null"), ('"x"', "a string"), ("true", "true or false")]
)
def test_a_body_that_is_not_a_json_object_is_a_400(token, body, kind):
    assert refusal(post(token, body), 400) == (
        f'The request body must be a JSON object such as {{"query": "…", "variables": {{…}}}}, not {kind}.'
    )


@pytest.mark.parametrize("body", ["[]", json.dumps([{"query": BRANDS}, {"query": BRANDS}])])
def test_a_batch_is_refused_clearly(token, body):
    assert refusal(post(token, body), 400) == (
        "Batches (a JSON array of operations) are not supported: send one operation per request, "
        'as a JSON object {"query": "…"}.'
    )


def test_json_nested_100000_deep_is_a_400_and_32_levels_still_run(token):
    too_deep = "The request's JSON nests objects and arrays more than 32 levels deep."
    assert refusal(post(token, "[" * 100_000 + "]" * 100_000), 400) == too_deep
    deep_variables = '{{"query": "{}", "variables": {{"v": {}}}}}'.format(
        BRANDS, "[" * 100_000 + "]" * 100_000
    )
    assert refusal(post(token, deep_variables), 400) == too_deep
    # the body is level 1 and its variables level 2: 30 more arrays make 32 levels, 31 make 33
    fits = {"query": BRANDS, "variables": {"unused": json.loads("[" * 30 + "]" * 30)}}
    assert post_json(token, fits).json() == {"data": {"brands": [{"slug": "acme"}]}}
    over = {"query": BRANDS, "variables": {"unused": json.loads("[" * 31 + "]" * 31)}}
    assert refusal(post_json(token, over), 400) == too_deep


def test_broken_json_bad_utf8_and_huge_numbers_are_400s(token):
    assert refusal(post(token, '{"query": '), 400) == (
        "The request body is not valid JSON (line 1, column 11)."
    )
    assert refusal(post(token, b'{"query": "\xff"}'), 400) == "The request body is not UTF-8 text."
    huge = '{{"query": "{}", "variables": {{"n": 1{}}}}}'.format(BRANDS, "0" * 5000)
    assert refusal(post(token, huge), 400) == "The request's JSON holds a number too large to read."


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, 'No GraphQL query in the request: send {"query": "…"}.'),
        ({"query": ""}, 'No GraphQL query in the request: send {"query": "…"}.'),
        ({"query": 5}, "query must be a string: the GraphQL document."),
        ({"query": BRANDS, "variables": [1]}, "variables must be a JSON object (or null), not an array."),
        ({"query": BRANDS, "extensions": "x"}, "extensions must be a JSON object (or null), not a string."),
        ({"query": BRANDS, "operationName": 5}, "operationName must be a string (or null), not a number."),
    ],
)
def test_the_keys_of_the_request_are_checked(token, payload, message):
    assert refusal(post_json(token, payload), 400) == message


def test_an_empty_body_is_a_400(token):
    assert refusal(post(token, b"", content_type=None), 400) == (
        'No GraphQL query in the request: send {"query": "…"}.'
    )


# Sizes


def test_a_body_over_2_mib_is_a_413_without_being_read(token):
    size = 2 * 1024 * 1024 + 1
    response = post(token, b"x" * size)
    assert refusal(response, 413) == (
        "The request body is 2,097,153 bytes; at most 2,097,152 bytes are accepted. "
        "Send large batches in several requests."
    )
    # the caller is known before anything is read: without a token the same body is a 401
    assert post(None, b"x" * size).status_code == 401


def test_the_body_limit_is_a_setting_capped_by_djangos(token, settings):
    settings.GRAPHQL_MAX_BODY_BYTES = 1000
    payload = json.dumps({"query": BRANDS})
    fits = payload + " " * (1000 - len(payload))
    assert post(token, fits).json() == {"data": {"brands": [{"slug": "acme"}]}}
    assert refusal(post(token, fits + " "), 413).startswith("The request body is 1,001 bytes; at most 1,000")
    settings.GRAPHQL_MAX_BODY_BYTES = 10**9
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 500
    assert refusal(post(token, fits), 413).startswith("The request body is 1,000 bytes; at most 500")


def test_a_query_of_a_megabyte_of_comments_is_a_413_and_100000_characters_run(token):
    megabyte = "#" + "x" * 1_000_000 + "\n" + BRANDS
    assert refusal(post_json(token, {"query": megabyte}), 413) == (
        "The query is 1,000,021 characters long; at most 100,000 are accepted. "
        "Pass values as variables and leave comments out."
    )
    comment = "#" + "x" * (100_000 - len(BRANDS) - 2) + "\n"
    assert len(comment + BRANDS) == 100_000
    assert post_json(token, {"query": comment + BRANDS}).json() == {"data": {"brands": [{"slug": "acme"}]}}
    assert refusal(post_json(token, {"query": comment + " " + BRANDS}), 413).startswith(
        "The query is 100,001 characters long"
    )


# Echo of what was sent


def test_a_long_field_name_is_repeated_at_most_64_characters(token):
    name = "a" * 90_000  # under the document limit
    response = post_json(token, {"query": f"{{ {name} }}"})
    assert response.status_code == 200 and len(response.content) < 400
    [error] = response.json()["errors"]
    assert error["message"] == f"Cannot query field '{'a' * 63}…' on type 'Query'."


def test_a_megabyte_cursor_is_not_echoed_and_garbage_cursors_are_invalid_cursors(token):
    megabyte = base64.b64encode(b"x" * 750_000).decode()  # 1,000,000 characters
    query = "query ($c: String) { customers(first: 1, after: $c) { totalCount } }"
    response = post_json(token, {"query": query, "variables": {"c": megabyte}})
    assert response.status_code == 200 and len(response.content) < 400
    [error] = response.json()["errors"]
    assert error["message"] == f'after: "{megabyte[:63]}…" {NOT_A_CURSOR}'
    for garbage in (
        "garbage",
        "",
        "=",
        base64.b64encode(b"arrayconnection:" + b"9" * 5000).decode(),  # Python refuses to read the number
        base64.b64encode(b"arrayconnection:" + b"9" * 20).decode(),  # no bigint
        base64.b64encode(b"arrayconnection:-1").decode(),
        base64.b64encode(b"Customer:1").decode(),
        base64.b64encode(b"\xff\xfe").decode(),
    ):
        body = post_json(
            token, {"query": query.replace("after", "before"), "variables": {"c": garbage}}
        ).json()
        messages = [e["message"] for e in body.get("errors", [])]
        if garbage == "":  # no cursor at all: the first page
            assert messages == [] and body["data"] == {"customers": {"totalCount": 0}}
            continue
        assert len(messages) == 1 and messages[0].startswith("before: ") and NOT_A_CURSOR in messages[0]
        assert "expected to contain" not in messages[0] and "digits" not in messages[0]


def test_an_unknown_operation_name_is_repeated_at_most_64_characters(token):
    name = "B" * 100_000
    message = refusal(post_json(token, {"query": "query A { brands { slug } }", "operationName": name}), 400)
    assert message == f'The document has no operation named "{"B" * 63}…".'
    assert refusal(post_json(token, {"query": "fragment F on Brand { slug }"}), 400) == (
        "Cannot tell which operation to run: send a document with one operation, or name the one to run in "
        "operationName."
    )
    two = "query A { brands { slug } } query B { brands { name } }"
    assert post_json(token, {"query": two, "operationName": "B"}).json() == {
        "data": {"brands": [{"name": "Acme Beauty"}]}
    }


def test_several_operations_without_a_name_run_none_of_them(token, brand):
    # strawberry ran the first one, even a mutation the caller never meant to send
    tier = Tier.objects.create(brand=brand, code="vip", name="VIP", rank=1)
    cannot_tell = (
        "Cannot tell which operation to run: send a document with one operation, or name the one to run in "
        "operationName."
    )
    mutation_first = (
        f'mutation M {{ archiveTier(id: "{gid("Tier", tier.pk)}") {{ id }} }} query Q {{ brands {{ slug }} }}'
    )
    assert refusal(post_json(token, {"query": mutation_first}), 400) == cannot_tell
    tier.refresh_from_db()
    assert tier.is_active
    assert refusal(post_json(token, {"query": "{ brands { slug } } { brands { name } }"}), 400) == cannot_tell
    # named, each runs; one operation needs no name
    assert post_json(token, {"query": mutation_first, "operationName": "Q"}).json() == {
        "data": {"brands": [{"slug": brand.slug}]}
    }
    assert post_json(token, {"query": "query Q { brands { ...F } } fragment F on Brand { slug }"}).json() == {
        "data": {"brands": [{"slug": brand.slug}]}
    }


# Methods and content types


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("multipart/form-data; boundary=xyz", "multipart/form-data"),
        ("application/graphql", "application/graphql"),
        ("application/jsonp", "application/jsonp"),
        ("x/" + "y" * 500, "x/" + "y" * 61 + "…"),
    ],
)
def test_another_content_type_is_a_415(token, content_type, shown):
    response = post(token, json.dumps({"query": BRANDS}), content_type=content_type)
    assert refusal(response, 415) == (
        f'Send the request as JSON with Content-Type: application/json, not "{shown}", e.g. {{"query": "…"}}.'
    )


def test_a_body_without_a_content_type_is_a_415_and_a_charset_is_fine(token):
    assert refusal(post(token, json.dumps({"query": BRANDS}), content_type=None), 415) == (
        'Send the request as JSON with Content-Type: application/json, e.g. {"query": "…"}.'
    )
    response = post(token, json.dumps({"query": BRANDS}), content_type="Application/JSON; charset=utf-8")
    assert response.json() == {"data": {"brands": [{"slug": "acme"}]}}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_are_a_405_naming_the_allowed_ones(token, method):
    response = client().generic(
        method, URL, json.dumps({"query": BRANDS}), "application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert refusal(response, 405) == (
        f"Send GraphQL requests with POST (or GET for queries); {method} is not accepted."
    )
    assert response["Allow"] == "GET, POST"


def test_queries_run_over_get_and_mutations_never_do(token, brand):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    got = client().get(URL, {"query": "query ($n: Int) { customers(first: $n) { totalCount } }"}, **auth)
    assert got.json() == {"data": {"customers": {"totalCount": 0}}}
    got = client().get(URL, {"query": BRANDS, "variables": "", "extensions": ""}, **auth)
    assert got.json() == {"data": {"brands": [{"slug": "acme"}]}}
    create = (
        'mutation ($b: ID!) { createTier(brand: $b, input: {code: "gold", name: "Gold", rank: 1}) { id } }'
    )
    variables = json.dumps({"b": gid("Brand", brand)})
    refused = client().get(URL, {"query": create, "variables": variables}, **auth)
    assert refusal(refused, 405) == "Send mutations with POST; GET is for queries only."
    assert refused["Allow"] == "POST"
    assert not Tier.objects.filter(brand=brand).exists()
    # the same mutation over POST does create the tier
    posted = post_json(token, {"query": create, "variables": json.loads(variables)})
    assert "errors" not in posted.json() and Tier.objects.filter(brand=brand, code="gold").exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, 'No GraphQL query in the request: send {"query": "…"}.'),
        (
            {"query": BRANDS, "variables": "{"},
            "The variables parameter is not valid JSON (line 1, column 2).",
        ),
        ({"query": BRANDS, "variables": "123"}, "variables must be a JSON object (or null), not a number."),
        (
            {"query": BRANDS, "variables": "[" * 5000 + "]" * 5000},
            "The request's JSON nests objects and arrays more than 32 levels deep.",
        ),
        ({"query": "#" + "x" * 100_000 + "\n" + BRANDS}, None),
    ],
)
def test_get_parameters_are_checked_like_a_body(token, params, message):
    response = client().get(URL, params, HTTP_AUTHORIZATION=f"Bearer {token}")
    if message is None:
        assert refusal(response, 413).startswith("The query is 100,021 characters long; at most 100,000")
    else:
        assert refusal(response, 400) == message


def test_too_many_url_parameters_are_a_400_not_djangos_page(token, settings):
    settings.DEBUG = True
    params = "&".join(f"p{i}=1" for i in range(1500))
    response = client().get(f"{URL}?query={BRANDS}&{params}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert refusal(response, 400) == "The request is malformed."


# Sessions get the same checks (before the CSRF check, which would read a form body)


def test_a_session_request_gets_the_same_refusals(brand):
    user = UserFactory(username="mona")
    membership_set(user=user, brand=brand, role="manager")
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(user)
    browser.get("/admin/")
    csrf = browser.cookies["csrftoken"].value
    form = browser.post(URL, {"query": BRANDS})  # a form post, as a cross-site page could send
    assert refusal(form, 415).startswith("Send the request as JSON with Content-Type: application/json")
    number = browser.post(URL, "123", content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert refusal(number, 400).endswith("not a number.")
    ok = browser.post(URL, {"query": BRANDS}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert ok.json() == {"data": {"brands": [{"slug": "acme"}]}}


# Debug pages, faults of ours and languages


HOSTILE_BODIES = [
    b"123",
    b"null",
    b'"x"',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"query": "\xff"}',
    b'{"query": ',
    json.dumps({"query": "#" + "x" * 200_000 + "\n{ brands { slug } }"}).encode(),
    b"x" * (3 * 1024 * 1024),  # over Django's own DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) too
]


def test_with_debug_on_no_hostile_body_gets_a_debug_page(token, settings):
    settings.DEBUG = True
    statuses = []
    for body in HOSTILE_BODIES:
        response = post(token, body)
        refusal(response, response.status_code)
        statuses.append(response.status_code)
    assert statuses == [400, 400, 400, 400, 400, 400, 413, 413]


@pytest.mark.parametrize("debug", [False, True])
def test_a_fault_of_ours_is_a_json_500_without_its_details(token, settings, monkeypatch, caplog, debug):
    settings.DEBUG = debug

    def broken(credentials):
        raise RuntimeError("database password hunter2 for 13800000000")

    monkeypatch.setattr(views, "api_token_authenticate", broken)
    with caplog.at_level(logging.ERROR, logger="apps.graphql"):
        response = post_json(token, {"query": BRANDS})
        chinese = post_json(token, {"query": BRANDS}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert refusal(response, 500) == "Unexpected error."
    assert refusal(chinese, 500) == "发生意外错误。"
    for secret in ("hunter2", "13800000000", "RuntimeError"):
        assert secret not in response.content.decode()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "apps.graphql")
    assert "GraphQL POST request failed" in logged
    if not debug:  # the exception's message may hold personal data: only with DEBUG on is it logged
        assert "builtins.RuntimeError" in logged and "test_hostile_requests.py" in logged
        assert "hunter2" not in logged and "13800000000" not in logged


def test_refusals_are_in_the_callers_language(token, monkeypatch):
    """Every refusal goes through gettext in the language of Accept-Language (the catalog is filled centrally;
    a marker stands in for it here)."""
    monkeypatch.setattr(views, "gettext", lambda message: f"[{translation.get_language()}] {message}")
    cases = [
        (post(token, "123", HTTP_ACCEPT_LANGUAGE="zh-hans"), 400),
        (post(token, "[]", HTTP_ACCEPT_LANGUAGE="zh-hans"), 400),
        (post(token, "[" * 5000 + "]" * 5000, HTTP_ACCEPT_LANGUAGE="zh-hans"), 400),
        (post(token, b"x" * (2 * 1024 * 1024 + 1), HTTP_ACCEPT_LANGUAGE="zh-hans"), 413),
        (post(token, "{}", content_type="text/plain", HTTP_ACCEPT_LANGUAGE="zh-hans"), 415),
        (post_json(token, {"query": "#" * 100_001}, HTTP_ACCEPT_LANGUAGE="zh-hans"), 413),
    ]
    for response, status in cases:
        assert refusal(response, status).startswith("[zh-hans] ")
    assert refusal(post(token, "123", HTTP_ACCEPT_LANGUAGE="en"), 400).startswith("[en] The request body")


def test_refusals_read_in_chinese_with_the_catalog(token):
    body = refusal(post(token, "123", HTTP_ACCEPT_LANGUAGE="zh-hans"), 400)
    assert body == '请求体必须是 JSON 对象，例如 {"query": "…", "variables": {…}}，而不是数字。'
    mutation = client().get(
        URL,
        {"query": "mutation { __typename }"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert refusal(mutation, 405) == "请用 POST 发送变更操作；GET 仅用于查询。"
