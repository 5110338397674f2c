"""Loyalty over GraphQL: tiers, benefits, tier rules and grants; who may read and change them, and brand isolation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from strawberry.relay import to_base64

from apps.brands.services import membership_set
from apps.loyalty.models import Benefit, BenefitGrant, Tier, TierBenefit, TierRule
from tests.factories import (
    BenefitFactory,
    BenefitGrantFactory,
    CustomerFactory,
    TierBenefitFactory,
    TierChangeFactory,
    TierFactory,
    TierRuleFactory,
    UserFactory,
)
from tests.graphql.conftest import gql

pytestmark = pytest.mark.django_db

NEEDS_MANAGER = "This needs the Manager role in the brand."


def gid(type_name, obj_or_pk):
    return to_base64(type_name, getattr(obj_or_pk, "pk", obj_or_pk))


@pytest.fixture
def as_role(client, brand):
    """Sign in a fresh staff member with this role in Acme (or a given brand)."""

    def sign_in(role, in_brand=None):
        user = UserFactory(username=f"{role}-{(in_brand or brand).slug}")
        membership_set(user=user, brand=in_brand or brand, role=role)
        client.force_login(user)
        return client

    return sign_in


def run(client, query, **variables):
    body = gql(client, query, variables).json()
    return body


def error_of(body):
    assert body.get("errors"), body
    return body["errors"][0]["message"]


@pytest.fixture
def ladder(brand, other_brand):
    """Acme: gold (rank 1, coupon ×1), silver (rank 2), an archived bronze; Rival: its own gold."""
    gold = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    silver = TierFactory(brand=brand, code="silver", name="Silver", rank=2)
    bronze = TierFactory(brand=brand, code="bronze", name="Bronze", rank=3, is_active=False)
    coupon = BenefitFactory(brand=brand, code="coupon", name="Coupon", validity_days=30)
    shipping = BenefitFactory(brand=brand, code="shipping", name="Shipping", kind="free_shipping")
    TierBenefitFactory(brand=brand, tier=gold, benefit=coupon, quota=1)
    rival_gold = TierFactory(brand=other_brand, code="gold", name="Rival gold", rank=1)
    rival_coupon = BenefitFactory(brand=other_brand, code="coupon", name="Rival coupon")
    TierBenefitFactory(brand=other_brand, tier=rival_gold, benefit=rival_coupon, quota=5)
    return {
        "gold": gold,
        "silver": silver,
        "bronze": bronze,
        "coupon": coupon,
        "shipping": shipping,
        "rival_gold": rival_gold,
        "rival_coupon": rival_coupon,
    }


# --- Reads ------------------------------------------------------------------------------------------------

TIERS = """query($archived: Boolean) { tiers(includeArchived: $archived) { totalCount edges { node {
    id code name rank isActive tierBenefits { quota benefit { code } } } } } }"""


def test_viewer_reads_the_brands_tiers_by_rank_with_their_benefits(as_role, ladder):
    body = run(as_role("viewer"), TIERS)
    assert "errors" not in body
    nodes = [e["node"] for e in body["data"]["tiers"]["edges"]]
    assert body["data"]["tiers"]["totalCount"] == 2
    assert [(n["code"], n["rank"], n["isActive"]) for n in nodes] == [("gold", 1, True), ("silver", 2, True)]
    assert nodes[0]["id"] == gid("Tier", ladder["gold"])
    assert nodes[0]["tierBenefits"] == [{"quota": 1, "benefit": {"code": "coupon"}}]
    archived = run(as_role("analyst"), TIERS, archived=True)["data"]["tiers"]
    assert [e["node"]["code"] for e in archived["edges"]] == ["gold", "silver", "bronze"]


def test_another_brands_member_sees_only_their_tiers_and_benefits(as_role, ladder, other_brand):
    client = as_role("manager", other_brand)
    tiers = run(client, TIERS, archived=True)["data"]["tiers"]
    assert [(e["node"]["name"], e["node"]["tierBenefits"]) for e in tiers["edges"]] == [
        ("Rival gold", [{"quota": 5, "benefit": {"code": "coupon"}}])
    ]
    benefits = run(client, "{ benefits { totalCount edges { node { name } } } }")["data"]["benefits"]
    assert benefits == {"totalCount": 1, "edges": [{"node": {"name": "Rival coupon"}}]}
    # asking for Acme by id finds nothing rather than Acme's rows
    body = run(
        client, "query($b: ID) { tiers(brand: $b) { totalCount } }", b=gid("Brand", ladder["gold"].brand_id)
    )
    assert body["data"]["tiers"]["totalCount"] == 0


def test_signed_out_callers_see_no_tiers(client, ladder):
    assert run(client, TIERS)["data"] is None  # a 401 before any field runs


def test_benefits_filter_by_kind_and_show_the_kind(as_role, ladder):
    body = run(
        as_role("viewer"),
        "{ benefits(kind: FREE_SHIPPING) { edges { node { code kind kindLabel validityDays value amount { amount } } } } }",
    )
    assert body["data"]["benefits"]["edges"] == [
        {
            "node": {
                "code": "shipping",
                "kind": "FREE_SHIPPING",
                "kindLabel": "Free shipping",
                "validityDays": 30,
                "value": "10.00",
                "amount": None,  # free shipping: its value is not money
            }
        }
    ]


GRANTS = """query($customer: ID, $benefit: ID, $status: GrantStatus) {
  benefitGrants(customer: $customer, benefit: $benefit, status: $status) {
    totalCount edges { node { id status source note benefit { code } } } } }"""


def test_grants_filter_by_customer_benefit_and_status(as_role, brand, other_brand, ladder):
    now = timezone.now()
    ann, bob = CustomerFactory(brand=brand), CustomerFactory(brand=brand)
    coupon, shipping = ladder["coupon"], ladder["shipping"]
    open_ = BenefitGrantFactory(brand=brand, customer=ann, benefit=coupon, granted_at=now, note="open")
    BenefitGrantFactory(
        brand=brand,
        customer=ann,
        benefit=coupon,
        granted_at=now - timedelta(days=2),
        redeemed_at=now,
        note="used",
    )
    BenefitGrantFactory(
        brand=brand,
        customer=ann,
        benefit=shipping,
        granted_at=now - timedelta(days=3),
        revoked_at=now,
        note="rev",
    )
    BenefitGrantFactory(
        brand=brand, customer=bob, benefit=coupon, granted_at=now - timedelta(days=60), note="old"
    )
    BenefitGrantFactory(brand=other_brand, benefit=ladder["rival_coupon"], granted_at=now, note="rival")
    client = as_role("viewer")

    def notes(**variables):
        data = run(client, GRANTS, **variables)["data"]["benefitGrants"]
        return [e["node"]["note"] for e in data["edges"]]

    assert notes() == ["open", "used", "rev", "old"]
    assert notes(customer=gid("Customer", ann)) == ["open", "used", "rev"]
    assert notes(customer=gid("Customer", ann), benefit=gid("Benefit", coupon)) == ["open", "used"]
    assert notes(status="OPEN") == ["open"]
    assert notes(status="REDEEMED") == ["used"]
    assert notes(status="REVOKED") == ["rev"]
    assert notes(status="EXPIRED") == ["old"]
    node = run(client, GRANTS, status="OPEN")["data"]["benefitGrants"]["edges"][0]["node"]
    assert node == {
        "id": gid("BenefitGrant", open_),
        "status": "OPEN",
        "source": "MANUAL",
        "note": "open",
        "benefit": {"code": "coupon"},
    }


def test_a_filter_id_of_the_wrong_type_is_a_clear_error(as_role, ladder):
    body = run(as_role("viewer"), GRANTS, customer=gid("Tier", ladder["gold"]))
    assert error_of(body) == "customer must be the id of a Customer."


def test_tier_rules_list_with_their_tier(as_role, brand, other_brand, ladder):
    TierRuleFactory(brand=brand, tier=ladder["silver"], min_clv_percentile=50)
    TierRuleFactory(brand=brand, tier=ladder["gold"], min_clv_percentile=80, rfm_segments=["champions"])
    TierRuleFactory(brand=brand, tier=ladder["bronze"], is_active=False)
    TierRuleFactory(brand=other_brand, tier=ladder["rival_gold"], min_rfm_score=12)
    body = run(
        as_role("viewer"),
        "{ tierRules { edges { node { minClvPercentile rfmSegments isActive tier { code } } } } }",
    )
    assert [e["node"] for e in body["data"]["tierRules"]["edges"]] == [
        {"minClvPercentile": 80, "rfmSegments": ["CHAMPIONS"], "isActive": True, "tier": {"code": "gold"}},
        {"minClvPercentile": 50, "rfmSegments": [], "isActive": True, "tier": {"code": "silver"}},
    ]


def test_page_size_above_100_is_refused(as_role, ladder):
    body = run(as_role("viewer"), "{ tiers(first: 101) { totalCount } }")
    assert error_of(body) == "Page size must be between 0 and 100."


# --- Tier mutations ---------------------------------------------------------------------------------------

CREATE_TIER = """mutation($brand: ID!, $input: TierInput!) {
  createTier(brand: $brand, input: $input) { id code name rank description isActive } }"""


def test_manager_creates_a_tier(as_role, brand):
    body = run(
        as_role("manager"),
        CREATE_TIER,
        brand=gid("Brand", brand),
        input={"code": "vip", "name": "VIP", "rank": 1, "description": "Top spenders"},
    )
    assert "errors" not in body, body
    tier = Tier.objects.get(brand=brand, code="vip")
    assert body["data"]["createTier"] == {
        "id": gid("Tier", tier),
        "code": "vip",
        "name": "VIP",
        "rank": 1,
        "description": "Top spenders",
        "isActive": True,
    }


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_viewers_and_analysts_may_not_create_tiers(as_role, brand, role):
    body = run(
        as_role(role), CREATE_TIER, brand=gid("Brand", brand), input={"code": "x", "name": "X", "rank": 1}
    )
    assert error_of(body) == NEEDS_MANAGER
    assert body["data"] is None
    assert not Tier.objects.filter(code="x").exists()


def test_another_brands_manager_cannot_create_tiers_in_acme(as_role, brand, other_brand):
    body = run(
        as_role("manager", other_brand),
        CREATE_TIER,
        brand=gid("Brand", brand),
        input={"code": "x", "name": "X", "rank": 1},
    )
    assert error_of(body) == "No such brand."
    assert not Tier.objects.filter(code="x").exists()


def test_signed_out_caller_cannot_create_tiers(client, brand):
    body = run(client, CREATE_TIER, brand=gid("Brand", brand), input={"code": "x", "name": "X", "rank": 1})
    assert error_of(body) == "Sign in to the admin, or send an API token: Authorization: Bearer <token>."


def test_tier_validation_errors_name_the_field(as_role, brand, ladder):
    client = as_role("manager")
    body = run(client, CREATE_TIER, brand=gid("Brand", brand), input={"code": "gold", "name": "G", "rank": 4})
    assert error_of(body) == "code: A tier with the code gold already exists in this brand."
    body = run(client, CREATE_TIER, brand=gid("Brand", brand), input={"code": "new", "name": "N", "rank": 0})
    assert error_of(body) == "rank: Rank 1 is the most valuable tier; use 1 or more."
    body = run(
        client, CREATE_TIER, brand=gid("Brand", brand), input={"code": "bad code", "name": "N", "rank": 2}
    )
    assert error_of(body).startswith("code: Enter a valid “slug”")
    assert Tier.objects.filter(brand=brand).count() == 3


UPDATE_TIER = (
    """mutation($id: ID!, $input: TierPatch!) { updateTier(id: $id, input: $input) { name rank isActive } }"""
)
ARCHIVE_TIER = """mutation($id: ID!) { archiveTier(id: $id) { code isActive } }"""


def test_manager_updates_and_archives_a_tier(as_role, ladder):
    client = as_role("manager")
    body = run(client, UPDATE_TIER, id=gid("Tier", ladder["silver"]), input={"name": "Silver+", "rank": 5})
    assert body["data"]["updateTier"] == {"name": "Silver+", "rank": 5, "isActive": True}
    body = run(client, ARCHIVE_TIER, id=gid("Tier", ladder["silver"]))
    assert body["data"]["archiveTier"] == {"code": "silver", "isActive": False}
    ladder["silver"].refresh_from_db()
    assert (ladder["silver"].name, ladder["silver"].rank, ladder["silver"].is_active) == ("Silver+", 5, False)
    codes = [e["node"]["code"] for e in run(client, TIERS)["data"]["tiers"]["edges"]]
    assert codes == ["gold"]


def test_another_brands_tier_is_not_found_for_update_or_archive(as_role, ladder, other_brand):
    client = as_role("manager", other_brand)
    body = run(client, UPDATE_TIER, id=gid("Tier", ladder["gold"]), input={"name": "Hacked"})
    assert error_of(body) == "No such tier."
    assert error_of(run(client, ARCHIVE_TIER, id=gid("Tier", ladder["gold"]))) == "No such tier."
    ladder["gold"].refresh_from_db()
    assert (ladder["gold"].name, ladder["gold"].is_active) == ("Gold", True)


def test_analyst_cannot_archive_a_tier(as_role, ladder):
    assert error_of(run(as_role("analyst"), ARCHIVE_TIER, id=gid("Tier", ladder["gold"]))) == NEEDS_MANAGER


# --- Benefits and their links to tiers ---------------------------------------------------------------------

CREATE_BENEFIT = """mutation($brand: ID!, $input: BenefitInput!) {
  createBenefit(brand: $brand, input: $input) { code kind value amount { amount currency } validityDays isActive } }"""


def test_manager_creates_updates_and_archives_a_benefit(as_role, brand):
    client = as_role("manager")
    body = run(
        client,
        CREATE_BENEFIT,
        brand=gid("Brand", brand),
        input={"code": "gift", "name": "Gift", "kind": "GIFT", "value": "30", "validityDays": 365},
    )
    assert body["data"]["createBenefit"] == {
        "code": "gift",
        "kind": "GIFT",
        "value": "30.00",
        "amount": {"amount": "30.00", "currency": "CNY"},
        "validityDays": 365,
        "isActive": True,
    }
    benefit = Benefit.objects.get(brand=brand, code="gift")
    body = run(
        client,
        'mutation($id: ID!) { updateBenefit(id: $id, input: {value: "45.50", kind: COUPON}) { kind value } }',
        id=gid("Benefit", benefit),
    )
    assert body["data"]["updateBenefit"] == {"kind": "COUPON", "value": "45.50"}
    body = run(
        client, "mutation($id: ID!) { archiveBenefit(id: $id) { isActive } }", id=gid("Benefit", benefit)
    )
    assert body["data"]["archiveBenefit"] == {"isActive": False}
    benefit.refresh_from_db()
    assert (benefit.kind, benefit.value, benefit.is_active) == ("coupon", Decimal("45.50"), False)


def test_benefit_validation_errors_name_the_field(as_role, brand, ladder):
    client = as_role("manager")
    base = {"code": "b", "name": "B", "kind": "COUPON"}
    body = run(client, CREATE_BENEFIT, brand=gid("Brand", brand), input={**base, "validityDays": 0})
    assert error_of(body) == "validityDays: A benefit is valid for at least 1 day."
    body = run(client, CREATE_BENEFIT, brand=gid("Brand", brand), input={**base, "value": "-1"})
    assert error_of(body) == "value: The value cannot be negative."
    body = run(client, CREATE_BENEFIT, brand=gid("Brand", brand), input={**base, "code": "coupon"})
    assert error_of(body) == "code: A benefit with the code coupon already exists in this brand."


def test_set_and_remove_a_tier_benefit(as_role, ladder):
    client = as_role("manager")
    set_link = """mutation($t: ID!, $b: ID!, $q: Int!) {
      setTierBenefit(tier: $t, benefit: $b, quota: $q) { quota tier { code } benefit { code } } }"""
    variables = {"t": gid("Tier", ladder["silver"]), "b": gid("Benefit", ladder["shipping"])}
    body = run(client, set_link, q=2, **variables)
    assert body["data"]["setTierBenefit"] == {
        "quota": 2,
        "tier": {"code": "silver"},
        "benefit": {"code": "shipping"},
    }
    run(client, set_link, q=0, **variables)
    assert TierBenefit.objects.get(tier=ladder["silver"], benefit=ladder["shipping"]).quota == 0
    assert error_of(run(client, set_link, q=-1, **variables)) == "quota: The quota is 0 (unlimited) or more."
    remove = "mutation($t: ID!, $b: ID!) { removeTierBenefit(tier: $t, benefit: $b) }"
    assert run(client, remove, **variables)["data"] == {"removeTierBenefit": True}
    assert run(client, remove, **variables)["data"] == {"removeTierBenefit": False}


def test_a_benefit_of_another_brand_cannot_be_linked(as_role, ladder):
    body = run(
        as_role("manager"),
        "mutation($t: ID!, $b: ID!) { setTierBenefit(tier: $t, benefit: $b) { quota } }",
        t=gid("Tier", ladder["gold"]),
        b=gid("Benefit", ladder["rival_coupon"]),
    )
    assert error_of(body) == "No such benefit."
    assert not TierBenefit.objects.filter(tier=ladder["gold"], benefit=ladder["rival_coupon"]).exists()


# --- Tier rules --------------------------------------------------------------------------------------------

CREATE_RULE = """mutation($tier: ID!, $input: TierRuleInput!) {
  createTierRule(tier: $tier, input: $input) {
    id minClv { amount currency } minClvPercentile maxChurnProbability rfmSegments isActive } }"""


def test_manager_creates_updates_and_archives_a_tier_rule(as_role, ladder):
    client = as_role("manager")
    body = run(
        client,
        CREATE_RULE,
        tier=gid("Tier", ladder["gold"]),
        input={"minClvPercentile": 80, "maxChurnProbability": "0.6", "rfmSegments": ["CHAMPIONS", "LOYAL"]},
    )
    rule = TierRule.objects.get(tier=ladder["gold"])
    assert body["data"]["createTierRule"] == {
        "id": gid("TierRule", rule),
        "minClv": None,
        "minClvPercentile": 80,
        "maxChurnProbability": "0.600",
        "rfmSegments": ["CHAMPIONS", "LOYAL"],
        "isActive": True,
    }
    update = """mutation($id: ID!, $input: TierRulePatch!) {
      updateTierRule(id: $id, input: $input) { minClv { amount currency } minClvPercentile maxChurnProbability } }"""
    body = run(client, update, id=gid("TierRule", rule), input={"minClv": "500", "minClvPercentile": None})
    assert body["data"]["updateTierRule"] == {
        "minClv": {"amount": "500.00", "currency": "CNY"},
        "minClvPercentile": None,
        "maxChurnProbability": "0.600",
    }
    body = run(
        client, "mutation($id: ID!) { archiveTierRule(id: $id) { isActive } }", id=gid("TierRule", rule)
    )
    assert body["data"]["archiveTierRule"] == {"isActive": False}
    rule.refresh_from_db()
    assert (rule.min_clv, rule.min_clv_percentile, rule.is_active) == (Decimal("500"), None, False)


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"minClvPercentile": 100}, "minClvPercentile: The CLV percentile is between 1 and 99."),
        ({"maxChurnProbability": "1.5"}, "maxChurnProbability: The churn probability is between 0 and 1."),
        ({"minRfmScore": 2}, "minRfmScore: The RFM score is between 3 and 15."),
        ({"minClv": "-5"}, "minClv: The minimum CLV cannot be negative."),
        (
            {"rfmSegments": ["WHALES"]},
            '$input.rfmSegments[0]: "WHALES" is not a value of RfmSegment; use one of CHAMPIONS, LOYAL, '
            "POTENTIAL_LOYALIST, NEW, PROMISING, NEED_ATTENTION, CANT_LOSE, AT_RISK, ABOUT_TO_SLEEP, HIBERNATING, "
            "LOST.",
        ),
    ],
)
def test_tier_rule_validation_errors_name_the_field(as_role, ladder, conditions, message):
    body = run(as_role("manager"), CREATE_RULE, tier=gid("Tier", ladder["gold"]), input=conditions)
    assert error_of(body) == message
    assert not TierRule.objects.filter(tier=ladder["gold"]).exists()


def test_a_tier_has_one_rule(as_role, brand, ladder):
    TierRuleFactory(brand=brand, tier=ladder["gold"])
    body = run(as_role("manager"), CREATE_RULE, tier=gid("Tier", ladder["gold"]), input={})
    assert error_of(body) == "tier: This tier already has a rule; change that one."


def test_rules_of_another_brand_cannot_be_touched(as_role, other_brand, ladder):
    rule = TierRuleFactory(brand=other_brand, tier=ladder["rival_gold"], min_rfm_score=12)
    client = as_role("manager")
    body = run(
        client, "mutation($id: ID!) { archiveTierRule(id: $id) { isActive } }", id=gid("TierRule", rule)
    )
    assert error_of(body) == "No such tier rule."
    body = run(client, CREATE_RULE, tier=gid("Tier", ladder["rival_gold"]), input={})
    assert error_of(body) == "No such tier."
    rule.refresh_from_db()
    assert rule.is_active


# --- Grants --------------------------------------------------------------------------------------------------

GRANT = """mutation($benefit: ID!, $customers: [ID!]!, $source: GrantSource, $note: String) {
  grantBenefit(benefit: $benefit, customers: $customers, source: $source, note: $note) {
    grants { status source note expiresAt grantedAt benefit { code } }
    skipped { index customer code message } } }"""


@pytest.fixture
def members(brand, ladder):
    """ann: gold, already holds her one coupon; bob: gold, none yet; cy: no tier, opted out of automated decisions."""
    ann, bob = CustomerFactory(brand=brand), CustomerFactory(brand=brand)
    cy = CustomerFactory(brand=brand, automated_decisions_opt_out=True)
    for customer in (ann, bob):
        TierChangeFactory(brand=brand, customer=customer, to_tier=ladder["gold"])
    BenefitGrantFactory(brand=brand, customer=ann, benefit=ladder["coupon"], granted_at=timezone.now())
    return ann, bob, cy


def test_manual_grant_respects_tier_quota_and_reaches_opted_out_customers(as_role, ladder, members):
    ann, bob, cy = members
    before = timezone.now()
    body = run(
        as_role("manager"),
        GRANT,
        benefit=gid("Benefit", ladder["coupon"]),
        customers=[gid("Customer", c) for c in (ann, bob, cy)],
        note="apology",
    )
    assert "errors" not in body, body
    data = body["data"]["grantBenefit"]
    assert data["skipped"] == [
        {
            "index": 0,
            "customer": gid("Customer", ann),
            "code": "QUOTA_REACHED",
            "message": "The customer already holds 1 open grant(s) of this benefit, their tier's quota.",
        }
    ]
    assert [(g["status"], g["source"], g["note"], g["benefit"]["code"]) for g in data["grants"]] == [
        ("OPEN", "MANUAL", "apology", "coupon")
    ] * 2
    grants = BenefitGrant.objects.filter(note="apology").order_by("customer_id")
    assert [g.customer_id for g in grants] == [bob.pk, cy.pk]
    for grant in grants:
        assert grant.granted_at >= before
        assert grant.expires_at - grant.granted_at == timedelta(days=30)


def test_campaign_grant_skips_customers_who_opted_out_of_automated_decisions(as_role, ladder, members):
    _ann, bob, cy = members
    body = run(
        as_role("manager"),
        GRANT,
        benefit=gid("Benefit", ladder["shipping"]),
        customers=[gid("Customer", bob), gid("Customer", cy)],
        source="CAMPAIGN",
    )
    data = body["data"]["grantBenefit"]
    assert [(s["index"], s["code"], s["message"]) for s in data["skipped"]] == [
        (1, "OPTED_OUT", "The customer opted out of automated decisions.")
    ]
    assert [g["source"] for g in data["grants"]] == ["CAMPAIGN"]
    assert list(
        BenefitGrant.objects.filter(benefit=ladder["shipping"]).values_list("customer_id", flat=True)
    ) == [bob.pk]


def test_grants_are_refused_for_archived_benefits_foreign_customers_and_bad_ids(
    as_role, other_brand, ladder, members
):
    client = as_role("manager")
    ann = members[0]
    ladder["shipping"].is_active = False
    ladder["shipping"].save()
    body = run(client, GRANT, benefit=gid("Benefit", ladder["shipping"]), customers=[gid("Customer", ann)])
    assert error_of(body) == "benefit: This benefit is archived; it cannot be granted."
    stranger = CustomerFactory(brand=other_brand)
    body = run(client, GRANT, benefit=gid("Benefit", ladder["coupon"]), customers=[gid("Customer", stranger)])
    assert error_of(body) == "customers: Some customers do not belong to this brand."
    body = run(
        client,
        GRANT,
        benefit=gid("Benefit", ladder["coupon"]),
        customers=[gid("Customer", ann), gid("Tier", 1)],
    )
    assert error_of(body) == "customers[1]: No such customer."
    body = run(
        client,
        GRANT,
        benefit=gid("Benefit", ladder["coupon"]),
        customers=[gid("Customer", ann)],
        source="TIER",
    )
    assert error_of(body) == "source: Grants are made by hand (manual) or by a campaign (campaign)."
    assert BenefitGrant.objects.count() == 1  # ann's original grant only


def test_grant_roles_and_brands(as_role, other_brand, ladder, members):
    variables = {"benefit": gid("Benefit", ladder["coupon"]), "customers": [gid("Customer", members[1])]}
    assert error_of(run(as_role("analyst"), GRANT, **variables)) == NEEDS_MANAGER
    assert error_of(run(as_role("manager", other_brand), GRANT, **variables)) == "No such benefit."
    assert BenefitGrant.objects.count() == 1


REVOKE = "mutation($id: ID!) { revokeBenefitGrant(id: $id) { status revokedAt } }"


def test_manager_revokes_an_open_grant_once(as_role, brand, ladder):
    grant = BenefitGrantFactory(brand=brand, benefit=ladder["coupon"], granted_at=timezone.now())
    client = as_role("manager")
    body = run(client, REVOKE, id=gid("BenefitGrant", grant))
    assert body["data"]["revokeBenefitGrant"]["status"] == "REVOKED"
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert error_of(run(client, REVOKE, id=gid("BenefitGrant", grant))) == "This grant is already revoked."


def test_redeemed_grants_and_other_brands_grants_cannot_be_revoked(as_role, brand, other_brand, ladder):
    now = timezone.now()
    used = BenefitGrantFactory(brand=brand, benefit=ladder["coupon"], granted_at=now, redeemed_at=now)
    rival = BenefitGrantFactory(brand=other_brand, benefit=ladder["rival_coupon"], granted_at=now)
    client = as_role("manager")
    assert (
        error_of(run(client, REVOKE, id=gid("BenefitGrant", used)))
        == "This grant was redeemed; it cannot be revoked."
    )
    assert error_of(run(client, REVOKE, id=gid("BenefitGrant", rival))) == "No such grant."
    assert error_of(run(as_role("viewer"), REVOKE, id=gid("BenefitGrant", used))) == NEEDS_MANAGER
    rival.refresh_from_db()
    assert rival.revoked_at is None


def test_nested_customers_of_grants_are_the_brands_and_lists_take_a_flat_number_of_queries(
    as_role, brand, ladder
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    query = """{ benefitGrants(first: 100) { totalCount edges { node { customer { externalId } benefit { code } } } }
      tiers(includeArchived: true) { edges { node { code tierBenefits { quota benefit { code } } } } } }"""
    client = as_role("viewer")

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            body = run(client, query)
        assert "errors" not in body, body
        return len(ctx.captured_queries), body["data"]

    BenefitGrantFactory(brand=brand, benefit=ladder["coupon"], customer__external_id="C-1")
    few, data = count_queries()
    assert [e["node"]["customer"]["externalId"] for e in data["benefitGrants"]["edges"]] == ["C-1"]
    for _ in range(10):
        BenefitGrantFactory(brand=brand, benefit=ladder["shipping"])
        tier = TierFactory(brand=brand)
        TierBenefitFactory(brand=brand, tier=tier, benefit=ladder["coupon"])
    many, data = count_queries()
    assert data["benefitGrants"]["totalCount"] == 11
    assert len(data["tiers"]["edges"]) == 13
    assert many == few


def test_superuser_reads_every_brand_and_manages_any_brands_tiers(
    client, superuser, brand, other_brand, ladder
):
    client.force_login(superuser)
    names = [e["node"]["name"] for e in run(client, TIERS)["data"]["tiers"]["edges"]]
    assert sorted(names) == ["Gold", "Rival gold", "Silver"]
    body = run(
        client, CREATE_TIER, brand=gid("Brand", other_brand), input={"code": "vip", "name": "VIP", "rank": 2}
    )
    assert body["data"]["createTier"]["code"] == "vip"
    assert Tier.objects.get(code="vip").brand_id == other_brand.pk
    body = run(client, CREATE_TIER, brand=gid("Brand", 999999), input={"code": "x", "name": "X", "rank": 2})
    assert error_of(body) == "No such brand."
