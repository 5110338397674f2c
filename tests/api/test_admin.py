"""The admin: managers create (token shown once), rename and revoke their brand's tokens; nobody sees a hash."""

import re

import pytest
from django.urls import reverse, reverse_lazy

from apps.api.models import ApiToken
from apps.api.services import api_token_authenticate, api_token_create
from apps.brands.services import membership_set

pytestmark = pytest.mark.django_db

CHANGELIST = reverse_lazy("admin:api_apitoken_changelist")
ADD = reverse_lazy("admin:api_apitoken_add")


def change_url(token):
    return reverse("admin:api_apitoken_change", args=[token.pk])


def signed_in(client, user):
    client.force_login(user)
    return client


def test_manager_creates_a_token_and_sees_it_once(client, manager, brand):
    client = signed_in(client, manager)
    response = client.post(ADD, {"brand": brand.pk, "name": "mobile app", "role": "analyst"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert (token.brand, token.role, token.name, token.created_by) == (
        brand,
        "analyst",
        "mobile app",
        manager,
    )
    plaintext = re.search(r'<code id="api-token">([^<]+)</code>', response.content.decode()).group(1)
    assert api_token_authenticate(plaintext) == token
    assert token.key_hash not in response.content.decode()
    # never again: not on the list, not on the token's page
    for url in (CHANGELIST, change_url(token)):
        page = client.get(url).content.decode()
        assert token.key_prefix in page
        assert plaintext not in page and token.key_hash not in page


def test_changelist_shows_prefix_role_name_and_dates_but_no_hash(client, manager, acme_token):
    token, plaintext = acme_token
    page = signed_in(client, manager).get(CHANGELIST)
    content = page.content.decode()
    assert page.status_code == 200
    for column in (
        "column-key_prefix",
        "column-name",
        "column-role",
        "column-created_at",
        "column-last_used_at",
        "column-revoked_at",
    ):
        assert column in content
    assert token.key_prefix in content and "dashboard" in content
    assert token.key_hash not in content and plaintext not in content


def test_manager_may_rename_but_not_change_role_or_brand(client, manager, acme_token):
    token, _plaintext = acme_token
    client = signed_in(client, manager)
    response = client.post(change_url(token), {"name": "renamed", "role": "manager"})
    assert response.status_code == 302
    token.refresh_from_db()
    assert (token.name, token.role) == ("renamed", "viewer")


def test_revoke_action_revokes_through_the_service(client, manager, brand, acme_token):
    token, plaintext = acme_token
    other, _ = api_token_create(brand=brand, role="analyst")
    client = signed_in(client, manager)
    response = client.post(
        CHANGELIST, {"action": "revoke_tokens", "_selected_action": [token.pk]}, follow=True
    )
    assert "Revoked 1 API token." in response.content.decode()
    token.refresh_from_db()
    other.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == manager
    assert other.revoked_at is None
    assert api_token_authenticate(plaintext) is None


def test_tokens_cannot_be_deleted(client, manager, acme_token):
    token, _plaintext = acme_token
    client = signed_in(client, manager)
    assert client.get(reverse("admin:api_apitoken_delete", args=[token.pk])).status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_see_no_tokens(client, brand, acme_token, role, request):
    user = request.getfixturevalue(role)
    client = signed_in(client, user)
    token, _plaintext = acme_token
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(ADD).status_code == 403
    assert client.get(change_url(token)).status_code in (403, 404)
    assert client.post(ADD, {"brand": brand.pk, "name": "x", "role": "manager"}).status_code == 403
    assert ApiToken.objects.count() == 1


def test_another_brands_token_is_a_404(client, manager, rival_token):
    token, _plaintext = rival_token
    client = signed_in(client, manager)
    assert client.get(change_url(token)).status_code == 404
    assert token.key_prefix not in client.get(CHANGELIST).content.decode()
    client.post(CHANGELIST, {"action": "revoke_tokens", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is None


def test_manager_of_one_brand_and_viewer_of_another_sees_only_the_managed_tokens(
    client, manager, other_brand, acme_token, rival_token
):
    membership_set(user=manager, brand=other_brand, role="viewer")
    client = signed_in(client, manager)
    content = client.get(CHANGELIST).content.decode()
    assert acme_token[0].key_prefix in content
    assert rival_token[0].key_prefix not in content
    assert client.get(change_url(rival_token[0])).status_code == 404
    # and may not create one for the brand they only view
    response = client.post(ADD, {"brand": other_brand.pk, "name": "x", "role": "viewer"})
    assert response.status_code == 200
    assert (
        "Your role in Rival Apparel does not allow adding or changing API tokens."
        in response.content.decode()
    )
    assert not ApiToken.objects.filter(brand=other_brand, name="x").exists()
