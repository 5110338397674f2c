"""Every GraphQL example of the README and docs/api.md runs against the demo brand, as the docs say.

The examples are the fenced ```graphql blocks and the `curl … -d '{"query": …}'` commands. Each one is sent to
/graphql/ with a manager's API token of a seeded, scored demo brand and must answer without an error. A block
preceded by `<!-- example: error: <message> -->` shows a mistake: it must fail, with that message. One preceded
by `<!-- example: staff session -->` runs as a signed-in manager (e.g. createApiToken, which a token may not
call). A `json` block right after a curl command is the documented answer: the real one has the same keys.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from graphql import OperationDefinitionNode, parse

from apps.api.services import api_token_create
from apps.brands.models import Brand
from apps.brands.services import membership_set
from apps.customers.models import Customer
from tests.factories import UserFactory
from tests.scenarios import gid

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/api.md")
DEMO_END = date(2026, 6, 30)

FENCE = re.compile(r"^[ \t]*```(\w*)[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*example:\s*((?:(?!-->).)*?)\s*-->\Z", re.S)


@dataclass
class Example:
    source: str  # file:line
    kind: str  # graphql or curl
    query: str
    variables: dict = field(default_factory=dict)
    error: str | None = None  # the documented message of an example that must fail
    session: bool = False
    answer: object = None  # the documented JSON answer of a curl example


def _dedent(block: str) -> str:
    lines = block.splitlines()
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return "\n".join(x[indent:] for x in lines)


def _curl_body(command: str) -> dict | None:
    """The JSON body of a `curl … -d '…'` command (None for other commands)."""
    command = command.replace("\\\n", " ")
    if not command.lstrip().startswith("curl"):
        return None
    words = shlex.split(command, posix=True)
    for flag in ("-d", "--data", "--data-raw"):
        if flag in words:
            return json.loads(words[words.index(flag) + 1])
    return None


def examples_of(path: str) -> list[Example]:
    text = (ROOT / path).read_text(encoding="utf-8")
    found: list[Example] = []
    for match in FENCE.finditer(text):
        language, body = match.group(1), _dedent(match.group(2))
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip()
        marker = MARKER.search(before)  # the comment right before the fence
        options = marker.group(1) if marker else ""
        if language == "graphql":
            error = options.split("error:", 1)[1].strip() if options.startswith("error:") else None
            found.append(
                Example(f"{path}:{line}", "graphql", body, error=error, session="staff session" in options)
            )
        elif language in ("bash", "sh"):
            for command in re.split(r"\n(?=\S)", body):
                request = _curl_body(command)
                if request is not None:
                    found.append(
                        Example(f"{path}:{line}", "curl", request["query"], request.get("variables") or {})
                    )
        elif (
            language == "json"
            and found
            and found[-1].kind == "curl"
            and found[-1].answer is None
            and before.endswith("```")  # right after the curl block
        ):
            found[-1].answer = json.loads(body)
    return found


def all_examples() -> list[Example]:
    return [example for path in DOCS for example in examples_of(path)]


def declared_variables(query: str) -> list[str]:
    names = []
    for definition in parse(query).definitions:
        if isinstance(definition, OperationDefinitionNode):
            names.extend(v.variable.name.value for v in definition.variable_definitions or ())
    return names


def same_keys(documented, actual, where: str = "") -> list[str]:
    """Where the real answer's keys differ from the documented one's (values may differ)."""
    if isinstance(documented, dict):
        if not isinstance(actual, dict) or set(documented) != set(actual):
            return [f"{where or 'answer'}: documented keys {sorted(documented)}, got {actual!r:.200}"]
        return [p for k in documented for p in same_keys(documented[k], actual[k], f"{where}.{k}")]
    if isinstance(documented, list) and documented:
        if not isinstance(actual, list) or not actual:
            return [f"{where}: documented a non-empty list, got {actual!r:.200}"]
        return same_keys(documented[0], actual[0], f"{where}[0]")
    return []


# -- the extraction itself ------------------------------------------------------------------------------------


def test_the_docs_examples_are_all_found():
    examples = all_examples()
    readme = [e for e in examples if e.source.startswith("README.md")]
    api = [e for e in examples if e.source.startswith("docs/api.md")]
    # the README's curl command and its five queries (tests/demo/probe_reports.py calls them by name)
    assert [e.kind for e in readme] == ["curl", *["graphql"] * 5]
    assert [re.match(r"query (\w+)", e.query).group(1) for e in readme[1:]] == [
        "AtRiskHighValue",
        "Customer360",
        "BrandAnalytics",
        "FollowupResults",
        "ExperimentsAndFunnel",
    ]
    # docs/api.md: createApiToken (staff), the curl command with its answer, the enum mistake, both node-count
    # examples, the bad id and the bad cursor
    assert [(e.kind, e.session, e.error is not None) for e in api] == [
        ("graphql", True, False),
        ("curl", False, False),
        ("graphql", False, True),
        ("graphql", False, False),
        ("graphql", False, True),
        ("graphql", False, True),
        ("graphql", False, True),
    ]
    assert api[1].answer == {"data": {"brands": [{"slug": "acme", "name": "Acme Beauty", "currency": "CNY"}]}}
    every_query = "\n".join(e.query for e in examples)
    for removed in ("items(first:", 'role: "analyst"'):
        assert removed not in every_query


def test_markers_and_curl_bodies_are_read():
    assert _curl_body("""curl http://x/graphql/ -H "A: b" \\\n  -d '{"query": "{ me { username } }"}'""") == {
        "query": "{ me { username } }"
    }
    assert _curl_body("echo curl") is None
    assert same_keys({"a": [{"b": 1}]}, {"a": [{"b": 2}]}) == []
    assert same_keys({"a": [{"b": 1}]}, {"a": [{"c": 2}]}) != []


# -- running them ---------------------------------------------------------------------------------------------


@pytest.fixture
def demo(db):
    """A small demo brand, seeded and scored (two published runs, the demo experiments), with a manager."""
    call_command("seed_demo", brand="docs", customers=600, seed=42, end=DEMO_END, score=True, verbosity=0)
    brand = Brand.objects.get(slug="docs")
    _token, plaintext = api_token_create(brand=brand, role="manager", name="docs examples")
    manager = UserFactory(username="docs-manager")
    membership_set(user=manager, brand=brand, role="manager")
    return brand, plaintext, manager


def variables_for(brand) -> dict:
    scored = Customer.objects.filter(brand=brand, scores__run__status="published").order_by("pk").first()
    return {
        "brand": gid("Brand", brand),
        "id": gid("Customer", scored),
        "from": str(DEMO_END - timedelta(days=90)),
        "to": str(DEMO_END - timedelta(days=1)),
    }


def test_every_docs_example_runs_against_the_demo_brand(client, demo):
    brand, token, manager = demo
    staff = Client()
    staff.force_login(manager)
    staff.get("/admin/")  # the CSRF cookie
    known = variables_for(brand)
    failures = []
    examples = all_examples()
    for example in examples:
        declared = declared_variables(example.query)
        missing = [n for n in declared if n not in known and n not in example.variables]
        if missing:
            failures.append(f"{example.source}: add a value for ${', $'.join(missing)} to variables_for()")
            continue
        variables = {**{n: known[n] for n in declared if n in known}, **example.variables}
        body = {"query": example.query, "variables": variables}
        if example.session:
            response = staff.post(
                "/graphql/",
                body,
                content_type="application/json",
                HTTP_X_CSRFTOKEN=staff.cookies["csrftoken"].value,
                HTTP_ACCEPT_LANGUAGE="en",
            )
        else:
            response = client.post(
                "/graphql/",
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
                HTTP_ACCEPT_LANGUAGE="en",
            )
        answer = response.json()
        errors = [e["message"] for e in answer.get("errors") or ()]
        if example.error is not None:
            if not any(example.error in message for message in errors):
                failures.append(f"{example.source}: documented {example.error!r}, got {errors or answer}")
            continue
        if response.status_code != 200 or errors or not answer.get("data"):
            failures.append(f"{example.source}: {response.status_code} {errors or answer}")
            continue
        if example.answer is not None:
            failures.extend(f"{example.source}: {p}" for p in same_keys(example.answer, answer))
    assert not failures, "\n".join(failures)
    assert len(examples) == 13
