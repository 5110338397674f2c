"""Tokens are stored hashed, authenticate until revoked, and note their last use once a minute."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.api.auth import TokenPrincipal
from apps.api.models import ApiToken
from apps.api.services import api_token_authenticate, api_token_create, api_token_revoke
from apps.core.scoping import brand_ids_for_user, role_for, user_may

pytestmark = pytest.mark.django_db


def test_create_returns_the_token_once_and_stores_only_its_hash(brand, manager):
    token, plaintext = api_token_create(brand=brand, role="analyst", name=" mobile app ", created_by=manager)
    assert re.fullmatch(r"clv_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", plaintext)
    assert plaintext.startswith(f"clv_{token.key_prefix}_")
    row = ApiToken.objects.get(pk=token.pk)
    assert (row.brand_id, row.role, row.name, row.created_by_id) == (
        brand.pk,
        "analyst",
        "mobile app",
        manager.pk,
    )
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert row.revoked_at is None and row.last_used_at is None
    # the secret part appears in no column of the row
    secret = plaintext.rsplit("_", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_apitoken WHERE id = %s", [token.pk])
        values = [str(v) for v in cursor.fetchone()]
    assert not any(secret in v or plaintext in v for v in values)


def test_two_tokens_never_share_a_secret(brand):
    plaintexts = {api_token_create(brand=brand, role="viewer")[1] for _ in range(5)}
    assert len(plaintexts) == 5


def test_unknown_role_is_refused_with_a_clear_message(brand):
    with pytest.raises(ValidationError) as excinfo:
        api_token_create(brand=brand, role="owner")
    assert excinfo.value.message_dict == {"role": ["Unknown role owner: use viewer, analyst or manager."]}
    assert not ApiToken.objects.exists()


def test_the_hash_is_unique_in_postgresql(brand, acme_token):
    token, _plaintext = acme_token
    duplicate = ApiToken(brand=brand, role="viewer", key_prefix="00000000", key_hash=token.key_hash)
    with pytest.raises(IntegrityError, match="apitoken_unique_key_hash"), transaction.atomic():
        duplicate.save()


def test_listing_index_leads_with_brand_id(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'api_apitoken'")
        indexes = dict(cursor.fetchall())
    assert "(brand_id, created_at)" in indexes["apitoken_brand_created"]
    # the only index not led by brand_id: the hash lookup, made before the brand is known
    others = {name for name, d in indexes.items() if "(brand_id" not in d and not name.endswith("_pkey")}
    assert others == {"apitoken_unique_key_hash"}


def test_authenticate_finds_the_active_token(acme_token):
    token, plaintext = acme_token
    assert api_token_authenticate(plaintext) == token


@pytest.mark.parametrize(
    "presented",
    ["", None, "clv_", "Bearer x", "clv_00000000_" + "a" * 43, "clv_0000000_" + "a" * 43, "x" * 500],
)
def test_authenticate_refuses_unknown_and_malformed_tokens(acme_token, presented):
    assert api_token_authenticate(presented) is None


def test_authenticate_refuses_a_right_prefix_with_a_wrong_secret(acme_token):
    token, plaintext = acme_token
    tampered = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert tampered.startswith(f"clv_{token.key_prefix}_")
    assert api_token_authenticate(tampered) is None


def test_revoked_token_no_longer_authenticates(acme_token, manager):
    token, plaintext = acme_token
    api_token_revoke(token=token, by=manager)
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == manager
    assert api_token_authenticate(plaintext) is None


def test_revoking_twice_keeps_the_first_revocation(acme_token, manager, analyst):
    token, _plaintext = acme_token
    first = api_token_revoke(token=token, by=manager).revoked_at
    again = api_token_revoke(token=ApiToken.objects.get(pk=token.pk), by=analyst)
    assert again.revoked_at == first and again.revoked_by == manager


def test_last_used_is_written_at_most_once_a_minute(acme_token):
    token, plaintext = acme_token
    api_token_authenticate(plaintext)
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first_use is not None and timezone.now() - first_use < timedelta(seconds=5)
    # 30 seconds later: unchanged
    recent = first_use - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recent)
    api_token_authenticate(plaintext)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == recent
    # two minutes later: written again
    stale = first_use - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    api_token_authenticate(plaintext)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first_use - timedelta(seconds=1)


def test_principal_is_a_user_of_exactly_the_tokens_brand_with_its_role(
    brand, other_brand, django_assert_num_queries
):
    token, _plaintext = api_token_create(brand=brand, role="analyst", name="bi")
    principal = TokenPrincipal(token)
    assert (principal.is_authenticated, principal.is_active, principal.is_anonymous) == (True, True, False)
    assert (principal.is_staff, principal.is_superuser, principal.pk, principal.id) == (
        False,
        False,
        None,
        None,
    )
    assert principal.username == f"api-token:{token.key_prefix}" == str(principal)
    with django_assert_num_queries(0):
        assert brand_ids_for_user(principal) == [brand.pk]
        assert role_for(principal, brand.pk) == "analyst"
        assert role_for(principal, other_brand.pk) is None
        assert user_may(principal, brand.pk, "loyalty.view_tier")
        assert not user_may(principal, brand.pk, "loyalty.change_tier")
        assert not user_may(principal, other_brand.pk, "loyalty.view_tier")
        assert principal.has_perm("customers.view_customer")
        assert not principal.has_perm("customers.view_customer_pii")
        assert not principal.has_perm("api.view_apitoken")
        assert principal.has_module_perms("customers") and not principal.has_module_perms("api")
        assert list(principal.groups.all()) == [] and list(principal.user_permissions.all()) == []
    assert principal == TokenPrincipal(token) and hash(principal) == hash(TokenPrincipal(token))
    with pytest.raises(NotImplementedError):
        principal.save()


def test_only_manager_tokens_may_manage_tokens(brand):
    manager_token, _ = api_token_create(brand=brand, role="manager")
    principal = TokenPrincipal(manager_token)
    assert principal.has_perm("api.add_apitoken") and principal.has_perm("customers.view_customer_pii")
    assert user_may(principal, brand.pk, "api.change_apitoken")
