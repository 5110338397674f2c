"""Changes made in the admin (forms, inlines, actions, deletes) and over GraphQL (session or API token) are
recorded with the staff user or the token as the actor."""

import pytest
from django.urls import reverse
from django.utils import timezone
from strawberry.relay import to_base64

from apps.api.models import ApiToken
from apps.audit.models import AuditEvent
from apps.loyalty.models import BenefitGrant, Tier, TierBenefit, TierRule
from tests.admin.conftest import form_data
from tests.audit.conftest import events
from tests.factories import (
    BenefitFactory,
    BenefitGrantFactory,
    CustomerFactory,
    TierBenefitFactory,
    TierFactory,
    TierRuleFactory,
)
from tests.graphql.conftest import gql, gql_token

pytestmark = pytest.mark.django_db


def tier_url(tier):
    return reverse("admin:loyalty_tier_change", args=[tier.pk])


def by_user(user):
    return {"actor_kind": "user", "actor_user_id": user.pk, "actor_label": user.username}


# --- admin ----------------------------------------------------------------------------------------------


def test_tier_page_records_the_tier_the_rule_inline_and_the_benefit_inline(login, acme_manager, brand):
    tier = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    benefit = BenefitFactory(brand=brand, code="ship")
    client = login(acme_manager)
    data = form_data(client.get(tier_url(tier)))
    data.update(
        {
            "name": "Gold club",
            "rules-TOTAL_FORMS": "1",
            "rules-0-min_clv_percentile": "80",
            "rules-0-rfm_segments": ["champions"],
            "rules-0-is_active": "on",
            "rules-0-tier": tier.pk,
            "tier_benefits-TOTAL_FORMS": "1",
            "tier_benefits-0-benefit": benefit.pk,
            "tier_benefits-0-quota": "2",
            "tier_benefits-0-tier": tier.pk,
        }
    )
    response = client.post(tier_url(tier), data)
    assert response.status_code == 302, response.context["errors"]
    assert events(**by_user(acme_manager)) == [
        ("updated", "tier", "Gold club [gold]", "user", "acme-manager"),
        ("created", "tier_benefit", "gold ↔ ship", "user", "acme-manager"),
        ("created", "tier_rule", "gold", "user", "acme-manager"),
    ]
    rule = TierRule.objects.get(tier=tier)
    created_rule = AuditEvent.objects.get(object_type="tier_rule")
    assert created_rule.object_id == rule.pk
    assert created_rule.changes["min_clv_percentile"] == [None, 80]
    assert created_rule.changes["rfm_segments"] == [None, ["champions"]]
    assert AuditEvent.objects.get(object_type="tier").changes == {"name": ["Gold", "Gold club"]}


def test_inline_edits_and_deletes_are_recorded_with_the_old_values(login, acme_manager, brand):
    rule = TierRuleFactory(brand=brand, tier__code="gold", min_clv_percentile=80)
    link = TierBenefitFactory(brand=brand, tier=rule.tier, benefit__code="ship", quota=1)
    client = login(acme_manager)
    data = form_data(client.get(tier_url(rule.tier)))
    data["rules-0-min_clv_percentile"] = "90"
    data["tier_benefits-0-DELETE"] = "on"
    response = client.post(tier_url(rule.tier), data)
    assert response.status_code == 302, response.context["errors"]
    assert not TierBenefit.objects.filter(pk=link.pk).exists()
    deleted = AuditEvent.objects.get(action="deleted")
    assert (deleted.object_type, deleted.object_id, deleted.object_repr) == (
        "tier_benefit",
        link.pk,
        "gold ↔ ship",
    )
    assert deleted.changes["quota"] == [1, None]
    updated = AuditEvent.objects.get(action="updated")
    assert (updated.object_type, updated.changes) == ("tier_rule", {"min_clv_percentile": [80, 90]})
    assert AuditEvent.objects.count() == 2  # the unchanged tier itself is not recorded
    assert set(AuditEvent.objects.values_list("actor_label", flat=True)) == {"acme-manager"}


def test_admin_actions_and_deletes_are_recorded(login, acme_manager, brand):
    tier = TierFactory(brand=brand, code="gold")
    other_tier = TierFactory(brand=brand, code="old")
    grant = BenefitGrantFactory(brand=brand, benefit__code="c10", granted_at=timezone.now())
    client = login(acme_manager)
    client.post(
        reverse("admin:loyalty_tier_changelist"),
        {"action": "archive_selected", "_selected_action": [tier.pk]},
    )
    client.post(
        reverse("admin:loyalty_benefitgrant_changelist"),
        {"action": "revoke_selected", "_selected_action": [grant.pk]},
    )
    response = client.post(reverse("admin:loyalty_tier_delete", args=[other_tier.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Tier.objects.filter(pk=other_tier.pk).exists()
    assert [e[:3] for e in events(**by_user(acme_manager))] == [
        ("archived", "tier", f"{tier.name} [gold]"),
        ("revoked", "benefit_grant", f"c10 → #{grant.customer_id}"),
        ("deleted", "tier", f"{other_tier.name} [old]"),
    ]


def test_links_added_on_their_own_admin_page_are_recorded_and_grants_are_not_added_there(
    login, acme_manager, brand
):
    tier = TierFactory(brand=brand, code="gold")
    benefit = BenefitFactory(brand=brand, code="ship")
    customer = CustomerFactory(brand=brand)
    client = login(acme_manager)
    response = client.post(
        reverse("admin:loyalty_tierbenefit_add"),
        {"brand": brand.pk, "tier": tier.pk, "benefit": benefit.pk, "quota": "3"},
    )
    assert response.status_code == 302, response.context["errors"]
    # grants are not added on their own page (the rules live in services.benefit_grant): refused
    assert client.get(reverse("admin:loyalty_benefitgrant_add")).status_code == 403
    assert not BenefitGrant.objects.filter(customer=customer).exists()
    assert events(**by_user(acme_manager)) == [
        ("created", "tier_benefit", "gold ↔ ship", "user", "acme-manager"),
    ]
    assert AuditEvent.objects.get(object_type="tier_benefit").changes["quota"] == [None, 3]


# --- GraphQL ----------------------------------------------------------------------------------------------

CREATE_TIER = """mutation($brand: ID!) {
  createTier(brand: $brand, input: {code: "vip", name: "VIP", rank: 1}) { code } }"""
UPDATE_TIER = """mutation($id: ID!) { updateTier(id: $id, input: {name: "Gold club"}) { name } }"""
SET_LINK = """mutation($t: ID!, $b: ID!) { setTierBenefit(tier: $t, benefit: $b, quota: 2) { quota } }"""
UPDATE_RULE = (
    """mutation($id: ID!) { updateTierRule(id: $id, input: {minClvPercentile: 90}) { minClvPercentile } }"""
)
GRANT = """mutation($b: ID!, $c: [ID!]!) {
  grantBenefit(benefit: $b, customers: $c) { grants { id } skipped { code } } }"""
REVOKE = """mutation($id: ID!) { revokeBenefitGrant(id: $id) { revokedAt } }"""


def ok(response):
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_graphql_mutations_of_a_signed_in_manager_are_recorded_as_theirs(client, acme_manager, brand):
    client.force_login(acme_manager)
    client.get("/graphql/")  # the CSRF cookie a browser app would hold
    ok(gql(client, CREATE_TIER, {"brand": to_base64("Brand", brand.pk)}))
    tier = Tier.objects.get(brand=brand, code="vip")
    ok(gql(client, UPDATE_TIER, {"id": to_base64("Tier", tier.pk)}))
    assert events() == [
        ("created", "tier", "VIP [vip]", "user", "acme-manager"),
        ("updated", "tier", "Gold club [vip]", "user", "acme-manager"),
    ]
    assert AuditEvent.objects.filter(actor_user=acme_manager).count() == 2


def test_graphql_mutations_with_an_api_token_are_recorded_with_the_token(client, brand, api_token_for):
    plaintext = api_token_for(brand, "manager", name="shop app")
    token = ApiToken.objects.get(brand=brand)
    tier = TierFactory(brand=brand, code="gold", name="Gold")
    benefit = BenefitFactory(brand=brand, code="ship")
    rule = TierRuleFactory(brand=brand, tier=tier, min_clv_percentile=80)
    customer = CustomerFactory(brand=brand)

    ok(gql_token(client, plaintext, UPDATE_TIER, {"id": to_base64("Tier", tier.pk)}))
    ok(
        gql_token(
            client,
            plaintext,
            SET_LINK,
            {"t": to_base64("Tier", tier.pk), "b": to_base64("Benefit", benefit.pk)},
        )
    )
    ok(gql_token(client, plaintext, UPDATE_RULE, {"id": to_base64("TierRule", rule.pk)}))
    data = ok(
        gql_token(
            client,
            plaintext,
            GRANT,
            {"b": to_base64("Benefit", benefit.pk), "c": [to_base64("Customer", customer.pk)]},
        )
    )
    grant_id = data["grantBenefit"]["grants"][0]["id"]
    ok(gql_token(client, plaintext, REVOKE, {"id": grant_id}))

    label = f"shop app ({token.key_prefix}…)"
    assert events() == [
        ("updated", "tier", "Gold club [gold]", "api_token", label),
        ("created", "tier_benefit", "gold ↔ ship", "api_token", label),
        ("updated", "tier_rule", "gold", "api_token", label),
        ("granted", "benefit_grant", f"ship → #{customer.pk}", "api_token", label),
        ("revoked", "benefit_grant", f"ship → #{customer.pk}", "api_token", label),
    ]
    assert set(AuditEvent.objects.values_list("actor_token_id", "actor_user_id")) == {(token.pk, None)}
    assert AuditEvent.objects.get(object_type="tier_rule").changes == {"min_clv_percentile": [80, 90]}
    assert plaintext not in str(list(AuditEvent.objects.values_list("actor_label", "changes")))


def test_a_refused_graphql_mutation_records_nothing(client, brand, other_brand, api_token_for):
    tier = TierFactory(brand=brand, code="gold")
    plaintext = api_token_for(other_brand, "manager")
    body = gql_token(client, plaintext, UPDATE_TIER, {"id": to_base64("Tier", tier.pk)}).json()
    assert body["errors"]
    viewer = api_token_for(brand, "viewer")
    assert gql_token(client, viewer, UPDATE_TIER, {"id": to_base64("Tier", tier.pk)}).json()["errors"]
    assert not AuditEvent.objects.exists()
