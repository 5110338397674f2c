"""`manage.py create_api_token` prints the new token once; unknown brands and roles are clear errors."""

import io

import pytest
from django.core.management import CommandError, call_command

from apps.api.models import ApiToken
from apps.api.services import api_token_authenticate

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def test_prints_a_working_token_once(brand):
    output = run("--brand", "acme", "--role", "analyst", "--name", "dashboard")
    token = ApiToken.objects.get()
    assert (token.brand, token.role, token.name, token.created_by) == (brand, "analyst", "dashboard", None)
    lines = output.splitlines()
    assert lines[0] == f"Created API token {token.key_prefix} with the Analyst role in acme."
    assert lines[1] == "Store it now; it is not shown again:"
    plaintext = lines[2]
    assert output.count(plaintext) == 1 and len(lines) == 3
    assert api_token_authenticate(plaintext) == token


def test_name_is_optional(brand):
    run("--brand", "acme", "--role", "viewer")
    assert ApiToken.objects.get().name == ""


def test_unknown_brand(db):
    with pytest.raises(CommandError, match=r"^No brand with slug nope\.$"):
        run("--brand", "nope", "--role", "viewer")
    assert not ApiToken.objects.exists()


def test_unknown_role(brand):
    with pytest.raises(CommandError, match=r"^Unknown role owner: use viewer, analyst or manager\.$"):
        run("--brand", "acme", "--role", "owner")
    assert not ApiToken.objects.exists()
