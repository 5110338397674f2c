"""Generated operations against the live schema (hypothesis-graphql, from the SDL that print_schema gives of
clvsite.schema): thousands of queries and mutations, valid and invalid, sent to /graphql/ with brand A's
manager token while the database also holds brand B's customers, orders, scores, streams, communities, tiers,
benefits, rules, templates, touches, runs and tokens.

Every answer must be JSON below HTTP 500 with no trace of our internals (no traceback, no Python or database
exception text) and nothing of brand B: none of the marker texts B's rows carry (but those the operation itself
sent, as a search or a new row's name), none of B's global ids (those the operation sent are only looked for in
`data`: an error may name what was sent).

Generated documents are sharpened before they are sent (Sharpen): ids of the right type, and every node's `id`
selected, so that a row of B shows whatever else was selected; lists are also generated from a copy of the
schema whose connections are `edges { node }` only (rows_only). A document with several root fields is sent
whole and one root field at a time. A leak made on purpose is caught (the last test), so the checks can fail.

Each operation runs in a transaction that is rolled back, so mutations change nothing for the next one. The
runs are derandomized (the same operations on every run, so CI is stable) and their number is checked.
"""

from __future__ import annotations

import base64
import json
import os
import time
import zlib
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from django.db import transaction
from django.test import Client
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLID,
    ListValueNode,
    NameNode,
    ObjectFieldNode,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    parse,
    print_ast,
    print_schema,
    visit,
)
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from apps.analytics.models import StageChange
from apps.api.services import api_token_create
from apps.engagement.planning import followups_plan
from clvsite.schema import schema
from tests.factories import (
    BenefitFactory,
    CustomerFactory,
    TierBenefitFactory,
    TierChangeFactory,
    TierRuleFactory,
)
from tests.graphql.conftest import GRAPHQL_URL
from tests.scenarios import FOLLOWUP_PLANNED_AT, RIVAL_MARKERS, build_world, gid, make_followup_shop

pytestmark = pytest.mark.django_db

SDL = print_schema(schema._schema)


def rows_only(sdl: str) -> str:
    """The schema with every connection reduced to `edges { node }`: hypothesis-graphql weighs fields by how
    many documents lie below them, so it almost never picks `edges` over `totalCount` (nor `node` over
    `cursor`), and lists were asked for counts only. Documents generated from this schema are documents of the
    real one (they select fewer fields), and each list they ask for returns rows."""

    def keep(definition):
        if not isinstance(definition, ObjectTypeDefinitionNode):
            return definition
        names = {field.name.value for field in definition.fields}
        only = "edges" if {"edges", "pageInfo"} <= names else "node" if {"cursor", "node"} <= names else None
        if only is None:
            return definition
        return replace(
            definition, fields=tuple(field for field in definition.fields if field.name.value == only)
        )

    document = parse(sdl)
    return print_ast(DocumentNode(definitions=tuple(keep(d) for d in document.definitions)))


ROWS_SDL = rows_only(SDL)

# Texts only brand B's rows hold: build_world's rival markers (but "VIP" and "5000", which generated
# queries also meet in brand A's own answers) and the rows made here
B_MARKERS = (
    *(marker for marker in RIVAL_MARKERS if marker not in ("VIP", "5000")),
    "Rival Apparel",
    "RVLX",
)
# What an answer never shows: tracebacks, Python's and the database's own exception texts
INTERNALS = (
    "Traceback",
    'File "/',
    '.py", line',
    "psycopg",
    "django.db",
    "IntegrityError",
    "DataError",
    "ProgrammingError",
    "OperationalError",
    "KeyError",
    "AttributeError",
    "TypeError",
    "ValueError",
    "RecursionError",
    "NoneType",
    "object has no attribute",
    "expected to contain only",
    "invalid literal for int()",
    "set_int_max_str_digits",
    "Incorrect padding",
    "<html",
)
# Root mutations left out: refreshScores scores the whole brand in this process when no broker is set (its own
# tests cover it); it would make each example take seconds.
SKIPPED_MUTATIONS = {"refreshScores"}
# Generated documents per run, and the operations that must have been sent (a document and each of its root
# fields): 2,000 at least in all, in about 2 minutes. For a longer hunt, CLV_FUZZ_SCALE=10 runs ten times as
# many and CLV_FUZZ_SEED=<n> other operations than CI's.
SCALE = int(os.environ.get("CLV_FUZZ_SCALE", "1"))
SEED = os.environ.get("CLV_FUZZ_SEED")
QUERY_DOCUMENTS, MUTATION_DOCUMENTS, INVALID = 320 * SCALE, 150 * SCALE, 300 * SCALE
QUERIES, MUTATIONS = 1200 * SCALE, 500 * SCALE


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def build_two_brands(brand, other_brand):
    """build_world (Acme: A, Rival: B) plus, on both sides, benefits, tier rules, tier and stage changes, an API
    token and a follow-up shop with planned touches; B's rows are marked RVLX where they have text."""
    world = build_world(brand, other_brand)
    world.r["tier"].name = "RVLX tier"
    world.r["tier"].save()
    sides = (
        (brand, "A", world.t["gold"], world.c["alice"], world.run),
        (other_brand, "RVLX", world.r["tier"], world.r["customer"], world.r["run"]),
    )
    for owner, prefix, tier, customer, run in sides:
        benefit = BenefitFactory(brand=owner, code=f"{prefix.lower()}-benefit", name=f"{prefix} benefit")
        TierBenefitFactory(brand=owner, tier=tier, benefit=benefit)
        TierRuleFactory(brand=owner, tier=tier)
        TierChangeFactory(brand=owner, customer=customer, to_tier=tier, reason=f"rule:{prefix}")
        StageChange.objects.create(
            brand=owner,
            customer=customer,
            run=run,
            from_stage="growth",
            to_stage="maturity",
            changed_on=date(2026, 3, 31),
            rule="maturity_orders",
        )
        api_token_create(brand=owner, role="viewer", name=f"{prefix} token")
        shop = make_followup_shop(owner)
        shop.rule.name = f"{prefix} rule"
        shop.rule.save()
        shop.rule.template.name = f"{prefix} template"
        shop.rule.template.save()
        shop.stream.title = f"{prefix} stream"
        shop.stream.external_id = f"{prefix}-S1"
        shop.stream.save()
        for n in range(3):
            shop.viewer(external_id=f"{prefix}-V{n}", display_name=f"{prefix} viewer {n}")
        followups_plan(brand=owner, stream=shop.stream, now=FOLLOWUP_PLANNED_AT)
    CustomerFactory(brand=other_brand, external_id="RVLX-C2", display_name="RVLX second")
    return world


def global_ids(brand) -> list[str]:
    """Global ids of up to three rows of the brand of every node type, the brand's own first."""
    from django.apps import apps

    node_models = {
        "ApiToken": "api.ApiToken",
        "Customer": "customers.Customer",
        "Order": "orders.Order",
        "Stream": "streams.Stream",
        "StreamView": "streams.StreamView",
        "Community": "communities.Community",
        "CommunityMembership": "communities.CommunityMembership",
        "Tier": "loyalty.Tier",
        "Benefit": "loyalty.Benefit",
        "TierBenefit": "loyalty.TierBenefit",
        "BenefitGrant": "loyalty.BenefitGrant",
        "TierRule": "loyalty.TierRule",
        "TierChange": "loyalty.TierChange",
        "ModelRun": "analytics.ModelRun",
        "StageChange": "analytics.StageChange",
        "FollowupRule": "engagement.FollowupRule",
        "MessageTemplate": "engagement.MessageTemplate",
        "Touch": "engagement.Touch",
        "GroupPost": "engagement.GroupPost",
    }
    ids = [gid("Brand", brand)]
    for type_name, label in node_models.items():
        pks = (
            apps.get_model(label).objects.filter(brand=brand).order_by("pk").values_list("pk", flat=True)[:3]
        )
        ids.extend(gid(type_name, pk) for pk in pks)
    return ids


def scalar_strategies(a_ids: list[str], b_ids: list[str]) -> dict:
    """Values for ID and the custom scalars: real ids of both brands and ids of no row, sensible dates, times
    and decimals, and some text that is none of them. Half the ids are A's, one in four A's brand (the argument
    every mutation and brand-level query needs), so that operations get past the id checks to the code behind."""
    junk = st.text(max_size=12)

    def mostly(valid):  # one value in eight is junk: one bad value refuses a whole operation
        return st.sampled_from([valid] * 7 + [junk]).flatmap(lambda kind: kind).map(nodes.String)

    made_up = st.sampled_from(
        [_b64("Customer:999999"), _b64("Customer:" + "9" * 25), _b64("Nope:1"), _b64("Customer:x"), "12345"]
    )
    a_brand, a_rows, b_rows = st.just(a_ids[0]), st.sampled_from(a_ids), st.sampled_from(b_ids)
    ids = st.sampled_from([a_brand, a_brand, a_rows, a_rows, b_rows, b_rows, made_up, junk]).flatmap(
        lambda kind: kind
    )
    # Strings: no cursor or search at all (""), cursors every list has, texts that match A's and B's rows, junk.
    # Ints: mostly page sizes and counts that are allowed, some of any size.
    cursors = st.integers(0, 5).map(lambda offset: _b64(f"arrayconnection:{offset}"))
    texts = st.sampled_from(["A", "Alice", "gold", "launch", "R", "Rita", "RVLX", "2026-03-31"])
    strings = st.sampled_from([st.just(""), st.just(""), cursors, texts, junk]).flatmap(lambda kind: kind)
    ints = st.one_of(st.integers(0, 30), st.integers(0, 30), st.integers(-(2**31), 2**31 - 1))
    return {
        "ID": ids.map(nodes.String),
        "String": strings.map(nodes.String),
        "Int": ints.map(nodes.Int),
        "Date": mostly(
            st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)).map(date.isoformat)
        ),
        "DateTime": mostly(
            st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
                lambda moment: moment.replace(tzinfo=UTC).isoformat()
            )
        ),
        "Decimal": mostly(st.decimals(min_value=0, max_value=10**5, places=2, allow_nan=False).map(str)),
        "JSON": st.just(nodes.Object([])),
    }


# The node type an ID argument or input field of this name stands for ("id" is the field's own type)
ID_TYPES = {
    "brand": "Brand",
    "tier": "Tier",
    "tiers": "Tier",
    "benefit": "Benefit",
    "customer": "Customer",
    "customers": "Customer",
    "stream": "Stream",
    "acquisitionStream": "Stream",
    "community": "Community",
    "template": "MessageTemplate",
}


class Sharpen(Visitor):
    """Two changes to a generated document, so that it goes further and shows more:
    - an ID argument gets a row of the type it expects when the generated one is a row of another type of the
      same brand, so that operations get past "No such tier." to the code behind (and B's rows of the right type
      are asked for too); other ids (made up, junk) stay as generated;
    - every selection of a node asks for its `id` too: a row of brand B that any list or field let through is
      then seen by its global id, whatever else was selected."""

    def __init__(self, type_info: TypeInfo, pools: dict[tuple[str, str], list[str]], owners: dict[str, str]):
        super().__init__()
        self.type_info, self.pools, self.owners = type_info, pools, owners

    def expected(self, name: str) -> str | None:
        if name in ID_TYPES:
            return ID_TYPES[name]
        field = self.type_info.get_field_def()
        if name in ("id", "ids") and field is not None:
            return get_named_type(field.type).name
        return None

    def retyped(self, value, type_name: str | None):
        if isinstance(value, ListValueNode):
            return ListValueNode(values=tuple(self.retyped(v, type_name) for v in value.values))
        if not isinstance(value, StringValueNode) or value.value not in self.owners:
            return value
        pool = self.pools.get((self.owners[value.value], type_name))
        if not pool or value.value in pool:
            return value
        return StringValueNode(value=pool[zlib.crc32(value.value.encode()) % len(pool)])

    def enter_argument(self, node, *_args):
        if get_named_type(self.type_info.get_input_type()) is GraphQLID:
            return ArgumentNode(
                name=node.name, value=self.retyped(node.value, self.expected(node.name.value))
            )
        return None

    def enter_selection_set(self, node, *_args):
        id_field = getattr(self.type_info.get_parent_type(), "fields", {}).get("id")
        if id_field is None or get_named_type(id_field.type) is not GraphQLID:
            return None
        keys = {(s.alias or s.name).value for s in node.selections if isinstance(s, FieldNode)}
        if "id" in keys:
            return None
        id_node = FieldNode(name=NameNode(value="id"), arguments=(), directives=())
        return SelectionSetNode(selections=(id_node, *node.selections))

    def enter_object_field(self, node, *_args):
        if get_named_type(self.type_info.get_input_type()) is GraphQLID:
            return ObjectFieldNode(
                name=node.name, value=self.retyped(node.value, self.expected(node.name.value))
            )
        return None


def sharpener(a_ids: list[str], b_ids: list[str]):
    """document -> the document Sharpen makes of it (deterministic: the same document, the same ids)."""
    pools: dict[tuple[str, str], list[str]] = {}
    owners = {}
    for brand_key, ids in (("A", a_ids), ("B", b_ids)):
        for global_id in ids:
            type_name = base64.b64decode(global_id).decode().split(":")[0]
            pools.setdefault((brand_key, type_name), []).append(global_id)
            owners[global_id] = brand_key
    schema_ast = build_schema(SDL)

    def sharpen(document: str) -> str:
        type_info = TypeInfo(schema_ast)
        visitor = TypeInfoVisitor(type_info, Sharpen(type_info, pools, owners))
        return print_ast(visit(parse(document), visitor))

    return sharpen


def operations_of(document: str) -> list[str]:
    """The document and, when it selects several root fields, one operation per root field."""
    parsed = parse(document)
    [operation] = parsed.definitions
    selections = operation.selection_set.selections
    if len(selections) < 2:
        return [document]
    return [document] + [
        print_ast(
            DocumentNode(
                definitions=(
                    OperationDefinitionNode(
                        operation=operation.operation,
                        variable_definitions=(),
                        directives=(),
                        selection_set=SelectionSetNode(selections=(selection,)),
                    ),
                )
            )
        )
        for selection in selections
    ]


class Fuzz:
    """Sends operations as A's manager and checks every answer (see the module docstring)."""

    def __init__(self, token: str, b_ids: list[str]):
        self.client = Client(raise_request_exception=False)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        self.b_ids = b_ids
        self.sent = 0
        self.with_data = 0
        self.masked: list[str] = []

    def send_each(self, document: str) -> list[dict]:
        """The generated document, then each of its root fields as an operation of its own (generating is what
        takes time: this sends several operations per document)."""
        return [self.send(query) for query in operations_of(document)]

    def send(self, query: str) -> dict:
        with transaction.atomic():
            response = self.client.post(
                GRAPHQL_URL, {"query": query}, content_type="application/json", **self.headers
            )
            transaction.set_rollback(True)
        self.sent += 1
        return self.check(query, response)

    def check(self, query: str, response) -> dict:
        text = response.content.decode()
        where = f"\n--- operation:\n{query[:3000]}\n--- answer ({response.status_code}):\n{text[:3000]}"
        assert response.status_code < 500, where
        assert response["Content-Type"] == "application/json", where
        body = json.loads(text)
        for internal in INTERNALS:
            assert internal not in text, f"{internal!r} in the answer{where}"
        for marker in B_MARKERS:
            if marker not in query:  # a text the operation sent comes back in errors, or as a new row's name
                assert marker not in text, f"brand B's {marker!r} in the answer{where}"
        data = json.dumps(body.get("data"))
        for b_id in self.b_ids:  # an id the operation sent may be named in an error, never in data
            assert b_id not in (data if b_id in query else text), f"brand B's id {b_id} in the answer{where}"
        if any(value is not None for value in (body.get("data") or {}).values()):
            self.with_data += 1
        if any(e["message"] == "Unexpected error." for e in body.get("errors") or ()):
            self.masked.append(where)
        return body


@pytest.fixture
def fuzz(brand, other_brand):
    build_two_brands(brand, other_brand)
    a_ids, b_ids = global_ids(brand), global_ids(other_brand)
    _row, token = api_token_create(brand=brand, role="manager", name="fuzz")
    return Fuzz(token, b_ids), scalar_strategies(a_ids, b_ids), sharpener(a_ids, b_ids)


def run_examples(strategy, examples: int, check) -> None:
    @settings(
        max_examples=examples,
        derandomize=SEED is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # the failing operation as generated: no shrinking
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def operation(query):
        check(query)

    if SEED is not None:
        operation = seed(int(SEED))(operation)
    operation()


def mutation_fields() -> list[str]:
    return [name for name in schema._schema.mutation_type.fields if name not in SKIPPED_MUTATIONS]


def test_generated_queries_never_fail_or_show_another_brand(fuzz):
    checker, scalars, sharpen = fuzz
    started = time.monotonic()
    strategy = st.one_of(queries(SDL, custom_scalars=scalars), queries(ROWS_SDL, custom_scalars=scalars))
    run_examples(strategy.map(sharpen), QUERY_DOCUMENTS, checker.send_each)
    print(f"{checker.sent} queries in {time.monotonic() - started:.0f} s, {checker.with_data} with data")
    assert checker.sent >= QUERIES
    assert checker.with_data >= checker.sent // 4  # not only refusals: many were answered with data
    assert checker.masked == [], "".join(checker.masked[:3])


def test_generated_mutations_never_fail_or_show_another_brand(fuzz):
    checker, scalars, sharpen = fuzz
    started = time.monotonic()
    strategy = mutations(SDL, fields=mutation_fields(), custom_scalars=scalars).map(sharpen)
    run_examples(strategy, MUTATION_DOCUMENTS, checker.send_each)
    print(f"{checker.sent} mutations in {time.monotonic() - started:.0f} s, {checker.with_data} with data")
    assert checker.sent >= MUTATIONS
    assert checker.with_data >= checker.sent // 5  # many got past the checks and changed something
    assert checker.masked == [], "".join(checker.masked[:3])


def test_invalid_generated_operations_are_refused_clearly(fuzz):
    """Operations with one mistake each (a value of the wrong type, a missing argument, an Int out of range,
    null where it may not be, an unknown enum value, an input object without a required field): refused with an
    error, never masked as "Unexpected error."."""
    checker, scalars, _sharpen = fuzz
    strategy = st.one_of(
        queries(SDL, custom_scalars=scalars, mode=Mode.NEGATIVE),
        mutations(SDL, fields=mutation_fields(), custom_scalars=scalars, mode=Mode.NEGATIVE),
    )

    def refused(query):
        body = checker.send(query)
        assert body.get("errors"), f"{query}\n{body}"

    started = time.monotonic()
    run_examples(strategy, INVALID, refused)
    print(f"{checker.sent} invalid operations in {time.monotonic() - started:.0f} s")
    assert checker.sent >= INVALID
    assert checker.masked == [], "".join(checker.masked[:3])


def test_the_checks_catch_another_brands_rows(fuzz, monkeypatch):
    """The checks can fail: with the token's scope widened to brand B on purpose (a leak made here), the same
    generated queries soon show one of B's rows, and the run stops on it."""
    from apps.api.auth import TokenPrincipal
    from apps.brands.models import Brand

    checker, scalars, sharpen = fuzz
    scoped = TokenPrincipal.__init__

    def leaky(self, token):
        scoped(self, token)
        self._clv_brand_ids = list(Brand.objects.values_list("pk", flat=True))

    monkeypatch.setattr(TokenPrincipal, "__init__", leaky)
    with pytest.raises(AssertionError, match="brand B's"):
        run_examples(queries(ROWS_SDL, custom_scalars=scalars).map(sharpen), 100, checker.send_each)
