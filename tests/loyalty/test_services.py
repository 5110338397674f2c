"""The tier layer the engine calls: rules from the database, changes applied in bulk with benefits."""

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.loyalty.models import BenefitGrant, Tier, TierChange, TierChangeSource, TierGrace, TierRule
from apps.loyalty.selectors import customer_current_tiers
from apps.loyalty.services import loyalty_defaults_ensure
from apps.loyalty.tier_refresh import tier_changes_apply, tier_rules_for, tier_rules_preview, tiers_refresh
from apps.loyalty.tiering import TierRuleSpec
from tests.factories import (
    BenefitFactory,
    BenefitGrantFactory,
    CustomerFactory,
    TierBenefitFactory,
    TierChangeFactory,
    TierFactory,
    TierRuleFactory,
)
from tests.loyalty.conftest import WHEN, score_frame

pytestmark = pytest.mark.django_db


def changes(*rows):
    """(customer, from tier, to tier[, reason]) → the frame tier_changes_apply takes."""
    return pd.DataFrame(
        {
            "customer_id": [r[0].pk for r in rows],
            "from_tier_id": pd.array([r[1].pk if r[1] else None for r in rows], dtype="Int64"),
            "to_tier_id": pd.array([r[2].pk if r[2] else None for r in rows], dtype="Int64"),
            "reason": [r[3] if len(r) > 3 else "rule:test" for r in rows],
        }
    )


@pytest.fixture
def ladder(brand):
    """gold (rank 1): coupon ×2, shipping unlimited; silver (rank 2): shipping ×2, points ×1."""
    gold = TierFactory(brand=brand, code="gold", rank=1)
    silver = TierFactory(brand=brand, code="silver", rank=2)
    coupon = BenefitFactory(brand=brand, code="coupon", validity_days=30)
    shipping = BenefitFactory(brand=brand, code="shipping", kind="free_shipping", validity_days=90)
    points = BenefitFactory(brand=brand, code="points", kind="points_multiplier", validity_days=7)
    TierBenefitFactory(brand=brand, tier=gold, benefit=coupon, quota=2)
    TierBenefitFactory(brand=brand, tier=gold, benefit=shipping, quota=0)
    TierBenefitFactory(brand=brand, tier=silver, benefit=shipping, quota=2)
    TierBenefitFactory(brand=brand, tier=silver, benefit=points, quota=1)
    return {"gold": gold, "silver": silver, "coupon": coupon, "shipping": shipping, "points": points}


def unrevoked_grants(customer):
    return sorted(
        BenefitGrant.objects.filter(customer=customer, revoked_at__isnull=True).values_list(
            "benefit__code", flat=True
        )
    )


# --- rules -----------------------------------------------------------------------------------------


def test_tier_rules_for_lists_active_tiers_by_rank_with_their_rules(brand, other_brand):
    basic = TierFactory(brand=brand, code="basic", rank=3)
    high = TierFactory(brand=brand, code="high", rank=1)
    TierFactory(brand=brand, code="retired", rank=2, is_active=False)
    TierRuleFactory(brand=brand, tier=high, min_clv_percentile=80, max_churn_probability=Decimal("0.6"))
    TierRuleFactory(brand=other_brand, min_clv=1)
    specs = tier_rules_for(brand=brand)
    assert specs == [
        TierRuleSpec(
            tier_id=high.pk, tier_code="high", rank=1, min_clv_percentile=80, max_churn_probability=0.6
        ),
        TierRuleSpec(tier_id=basic.pk, tier_code="basic", rank=3, active=False),
    ]


def test_inactive_rule_comes_back_inactive(brand):
    rule = TierRuleFactory(brand=brand, min_clv=Decimal("10"), rfm_segments=["loyal"], is_active=False)
    [spec] = tier_rules_for(brand=brand)
    assert (spec.active, spec.min_clv, spec.rfm_segments) == (False, 10.0, ("loyal",))
    assert spec.tier_id == rule.tier_id


def test_defaults_add_relative_rules_once_and_keep_staff_edits(brand):
    loyalty_defaults_ensure(brand=brand)
    rules = {r.tier.code: r for r in TierRule.objects.filter(brand=brand).select_related("tier")}
    assert (rules["high"].min_clv_percentile, rules["high"].max_churn_probability) == (80, Decimal("0.600"))
    assert (rules["potential"].min_clv_percentile, rules["potential"].max_churn_probability) == (
        50,
        Decimal("0.800"),
    )
    assert rules["basic"].min_clv is None and rules["basic"].min_clv_percentile is None
    rules["high"].min_clv_percentile = 90
    rules["high"].save()
    loyalty_defaults_ensure(brand=brand)
    assert TierRule.objects.filter(brand=brand).count() == 3
    assert TierRule.objects.get(brand=brand, tier__code="high").min_clv_percentile == 90
    for rule in rules.values():
        rule.full_clean()


# --- applying changes --------------------------------------------------------------------------------


def test_entering_a_tier_writes_history_and_grants_per_quota_with_expiry(brand, ladder):
    customer = CustomerFactory(brand=brand)
    counts = tier_changes_apply(
        brand=brand, changes=changes((customer, None, ladder["gold"], "rule:gold")), when=WHEN, run_id=42
    )
    assert counts == {"changes": 1, "grants_created": 3, "grants_revoked": 0}
    change = TierChange.objects.get(customer=customer)
    assert (change.from_tier_id, change.to_tier_id, change.changed_at, change.run_id) == (
        None,
        ladder["gold"].pk,
        WHEN,
        42,
    )
    assert (change.source, change.reason, change.brand_id) == ("refresh", "rule:gold", brand.pk)
    grants = BenefitGrant.objects.filter(customer=customer).order_by("benefit__code")
    assert [(g.benefit.code, g.source, g.granted_at, g.expires_at) for g in grants] == [
        ("coupon", "tier", WHEN, WHEN + timedelta(days=30)),
        ("coupon", "tier", WHEN, WHEN + timedelta(days=30)),
        ("shipping", "tier", WHEN, WHEN + timedelta(days=90)),
    ]


def test_moving_down_withdraws_only_open_tier_grants_the_new_tier_lacks(brand, ladder):
    # given a gold customer holding tier grants, one redeemed coupon, one expired, and a manual coupon
    customer = CustomerFactory(brand=brand)
    tier_changes_apply(brand=brand, changes=changes((customer, None, ladder["gold"])), when=WHEN)
    redeemed = BenefitGrant.objects.filter(customer=customer, benefit=ladder["coupon"]).first()
    redeemed.redeemed_at = WHEN + timedelta(days=1)
    redeemed.save()
    expired = BenefitGrantFactory(
        brand=brand,
        customer=customer,
        benefit=ladder["coupon"],
        source="tier",
        granted_at=WHEN - timedelta(days=60),
        expires_at=WHEN - timedelta(days=30),
    )
    manual = BenefitGrantFactory(brand=brand, customer=customer, benefit=ladder["coupon"], source="manual")
    later = WHEN + timedelta(days=5)
    # when they move to silver
    counts = tier_changes_apply(
        brand=brand, changes=changes((customer, ladder["gold"], ladder["silver"])), when=later
    )
    # then the one open tier coupon is revoked; shipping is kept and topped up to 2; points granted
    assert counts == {"changes": 1, "grants_created": 2, "grants_revoked": 1}
    revoked = BenefitGrant.objects.get(customer=customer, revoked_at__isnull=False)
    assert (revoked.benefit_id, revoked.revoked_at, revoked.source) == (ladder["coupon"].pk, later, "tier")
    redeemed.refresh_from_db(), expired.refresh_from_db(), manual.refresh_from_db()
    assert redeemed.revoked_at is None and expired.revoked_at is None and manual.revoked_at is None
    # (the redeemed, expired and manual coupons stay as they were)
    assert unrevoked_grants(customer) == ["coupon", "coupon", "coupon", "points", "shipping", "shipping"]
    points = BenefitGrant.objects.get(customer=customer, benefit=ladder["points"])
    assert points.expires_at == later + timedelta(days=7)


def test_leaving_every_tier_withdraws_all_open_tier_grants(brand, ladder):
    customer = CustomerFactory(brand=brand)
    tier_changes_apply(brand=brand, changes=changes((customer, None, ladder["silver"])), when=WHEN)
    counts = tier_changes_apply(
        brand=brand, changes=changes((customer, ladder["silver"], None)), when=WHEN + timedelta(days=1)
    )
    assert counts == {"changes": 1, "grants_created": 0, "grants_revoked": 3}
    assert unrevoked_grants(customer) == []


def test_inactive_benefits_are_not_granted(brand, ladder):
    ladder["coupon"].is_active = False
    ladder["coupon"].save()
    customer = CustomerFactory(brand=brand)
    counts = tier_changes_apply(brand=brand, changes=changes((customer, None, ladder["gold"])), when=WHEN)
    assert counts["grants_created"] == 1
    assert unrevoked_grants(customer) == ["shipping"]


def test_opted_out_customers_get_history_but_no_grant_or_withdrawal_on_refresh(brand, ladder):
    customer = CustomerFactory(brand=brand, automated_decisions_opt_out=True)
    held = BenefitGrantFactory(brand=brand, customer=customer, benefit=ladder["coupon"], source="tier")
    counts = tier_changes_apply(
        brand=brand,
        changes=changes((customer, ladder["gold"], ladder["silver"])),
        when=WHEN + timedelta(days=1),
    )
    assert counts == {"changes": 1, "grants_created": 0, "grants_revoked": 0}
    held.refresh_from_db()
    assert held.revoked_at is None
    assert BenefitGrant.objects.filter(customer=customer).count() == 1


def test_a_manual_change_is_a_staff_decision_and_moves_benefits_of_opted_out_customers(brand, ladder):
    customer = CustomerFactory(brand=brand, automated_decisions_opt_out=True)
    manual = changes((customer, None, ladder["silver"], "manual"))
    counts = tier_changes_apply(brand=brand, changes=manual, when=WHEN, source=TierChangeSource.MANUAL)
    assert counts == {"changes": 1, "grants_created": 3, "grants_revoked": 0}
    change = TierChange.objects.get(customer=customer)
    assert (change.source, change.reason, change.run_id) == ("manual", "manual", None)


def test_other_customers_and_brands_are_untouched(brand, other_brand, ladder):
    mover, bystander = CustomerFactory(brand=brand), CustomerFactory(brand=brand)
    theirs = BenefitGrantFactory(brand=other_brand, source="tier")
    bystanders = BenefitGrantFactory(brand=brand, customer=bystander, benefit=ladder["coupon"], source="tier")
    tier_changes_apply(brand=brand, changes=changes((mover, ladder["gold"], None)), when=WHEN + timedelta(1))
    theirs.refresh_from_db(), bystanders.refresh_from_db()
    assert theirs.revoked_at is None and bystanders.revoked_at is None


def test_empty_and_no_op_change_sets_do_nothing(brand, ladder):
    customer = CustomerFactory(brand=brand)
    empty = pd.DataFrame(columns=["customer_id", "from_tier_id", "to_tier_id", "reason"])
    with CaptureQueriesContext(connection) as queries:
        counts = tier_changes_apply(brand=brand, changes=empty, when=WHEN)
    assert counts == {"changes": 0, "grants_created": 0, "grants_revoked": 0}
    assert len(queries) == 0
    same = changes((customer, ladder["gold"], ladder["gold"]))
    assert tier_changes_apply(brand=brand, changes=same, when=WHEN)["changes"] == 0
    assert not TierChange.objects.exists() and not BenefitGrant.objects.exists()


def test_customers_or_tiers_of_another_brand_are_refused_and_nothing_is_written(brand, other_brand, ladder):
    stranger = CustomerFactory(brand=other_brand)
    with pytest.raises(ValueError, match="customers"):
        tier_changes_apply(brand=brand, changes=changes((stranger, None, ladder["gold"])), when=WHEN)
    customer = CustomerFactory(brand=brand)
    with pytest.raises(ValueError, match="tiers"):
        tier_changes_apply(
            brand=brand, changes=changes((customer, None, TierFactory(brand=other_brand))), when=WHEN
        )
    assert not TierChange.objects.exists() and not BenefitGrant.objects.exists()


def test_a_customer_twice_in_one_change_set_is_refused(brand, ladder):
    customer = CustomerFactory(brand=brand)
    with pytest.raises(ValueError, match="more than once"):
        tier_changes_apply(
            brand=brand,
            changes=changes((customer, None, ladder["gold"]), (customer, None, ladder["silver"])),
            when=WHEN,
        )


def test_apply_runs_a_fixed_number_of_queries_whatever_the_number_of_customers(brand, ladder):
    def run(n, when):
        customers = CustomerFactory.create_batch(n, brand=brand)
        frame = changes(*[(c, None, ladder["gold"]) for c in customers])
        with CaptureQueriesContext(connection) as queries:
            counts = tier_changes_apply(brand=brand, changes=frame, when=when)
        assert counts == {"changes": n, "grants_created": 3 * n, "grants_revoked": 0}
        return len(queries)

    assert run(2, WHEN) == run(40, WHEN + timedelta(days=1))


# --- history as the current tier, refresh and preview ------------------------------------------------


def test_current_tier_is_the_latest_change(brand):
    customer = CustomerFactory(brand=brand)
    first = TierChangeFactory(brand=brand, customer=customer, changed_at=WHEN)
    latest = TierChangeFactory(brand=brand, customer=customer, changed_at=WHEN + timedelta(days=1))
    TierChangeFactory(brand=brand, customer=customer, to_tier=first.to_tier, changed_at=WHEN - timedelta(1))
    current = customer_current_tiers(brand=brand)
    assert current.to_dict("list") == {"customer_id": [customer.pk], "tier_id": [latest.to_tier_id]}


def defaults_scores(brand, n=10, opted_out=()):
    """n customers with CLV 100..1000 and low churn; customers at the given positions opted out."""
    customers = [CustomerFactory(brand=brand, automated_decisions_opt_out=i in opted_out) for i in range(n)]
    frame = score_frame(
        [
            {"customer_id": c.pk, "clv": 100.0 * (i + 1), "churn_probability": 0.1}
            for i, c in enumerate(customers)
        ]
    )
    return customers, frame.drop(columns=["previous_tier_id", "automated_decisions_opt_out"])


def test_refresh_assigns_by_the_default_rules_and_a_second_run_changes_nothing(brand):
    loyalty_defaults_ensure(brand=brand)
    tiers = {t.code: t.pk for t in Tier.objects.filter(brand=brand)}
    customers, scores = defaults_scores(brand, opted_out=(9,))
    result = tiers_refresh(brand=brand, scores=scores, when=WHEN, run_id=7)
    # the top 2 by CLV are high (but the opted-out one keeps no tier), the next 3 potential, 5 basic
    expected = [tiers["basic"]] * 5 + [tiers["potential"]] * 3 + [tiers["high"], -1]
    assert result.assignment["tier_id"].fillna(-1).tolist() == expected
    assert list(result.assignment["reason"])[-2:] == ["rule:high", "opted_out_kept"]
    assert result.changes == 9
    assert TierChange.objects.filter(brand=brand, run_id=7).count() == 9
    assert result.grants_created == BenefitGrant.objects.filter(brand=brand).count() > 0
    assert not BenefitGrant.objects.filter(customer=customers[9]).exists()
    again = tiers_refresh(brand=brand, scores=scores, when=WHEN + timedelta(days=1), run_id=8)
    assert (again.changes, again.grants_created, again.grants_revoked) == (0, 0, 0)
    assert list(again.assignment["previous_tier_id"].fillna(-1)) == list(
        result.assignment["tier_id"].fillna(-1)
    )


def test_preview_counts_transitions_without_writing(brand):
    loyalty_defaults_ensure(brand=brand)
    tiers = {t.code: t for t in Tier.objects.filter(brand=brand)}
    customers, scores = defaults_scores(brand)
    tiers_refresh(brand=brand, scores=scores, when=WHEN)
    stricter = [
        TierRuleSpec(tier_id=tiers["high"].pk, tier_code="high", rank=1, min_clv_percentile=90),
        TierRuleSpec(tier_id=tiers["potential"].pk, tier_code="potential", rank=2, min_clv=Decimal("800")),
        TierRuleSpec(tier_id=tiers["basic"].pk, tier_code="basic", rank=3),
    ]
    before = (TierChange.objects.count(), BenefitGrant.objects.count())
    preview = tier_rules_preview(brand=brand, rules=stricter, scores=scores)
    assert (TierChange.objects.count(), BenefitGrant.objects.count()) == before
    got = {(r.from_tier, r.to_tier): r.customers for r in preview.itertuples()}
    assert got == {
        ("High value", "High value"): 1,
        ("High value", "Potential value"): 1,
        ("Potential value", "Potential value"): 1,
        ("Potential value", "Basic value"): 2,
        ("Basic value", "Basic value"): 5,
    }
    assert list(preview.columns) == ["from_tier_id", "to_tier_id", "from_tier", "to_tier", "customers"]


def test_preview_of_a_brand_without_history_starts_from_no_tier(brand):
    loyalty_defaults_ensure(brand=brand)
    _customers, scores = defaults_scores(brand, n=4)
    preview = tier_rules_preview(brand=brand, rules=tier_rules_for(brand=brand), scores=scores)
    assert set(preview["from_tier"]) == {""}
    assert preview["customers"].sum() == 4
    assert np.all(preview["from_tier_id"].isna())


@pytest.mark.django_db
def test_brands_from_before_tier_rules_get_the_default_rules_by_migration():
    import importlib

    from django.apps import apps as django_apps

    from apps.loyalty.models import TierRule
    from tests.factories import BrandFactory

    migration = importlib.import_module("apps.loyalty.migrations.0005_default_tier_rules_for_existing_brands")
    # given a brand whose default tiers have no rules (as before the rules existed), and a custom tier
    brand = BrandFactory(slug="old")
    from apps.loyalty.services import loyalty_defaults_ensure

    loyalty_defaults_ensure(brand=brand)
    TierRule.objects.filter(brand=brand).delete()
    # when the data migration runs
    migration.add_default_rules(django_apps, None)
    # then each default tier has its default rule, once
    rules = {r.tier.code: r for r in TierRule.objects.filter(brand=brand).select_related("tier")}
    assert set(rules) == {"high", "potential", "basic"}
    assert (rules["high"].min_clv_percentile, str(rules["high"].max_churn_probability)) == (80, "0.600")
    migration.add_default_rules(django_apps, None)
    assert TierRule.objects.filter(brand=brand).count() == 3


def test_default_rules_keep_a_valuable_customer_at_risk_in_their_tier_through_the_grace_period(brand):
    # given the default tiers (high keeps a customer 90 days after they stop qualifying) and a refresh that
    # put the top customers in high value with their benefits
    loyalty_defaults_ensure(brand=brand)
    tiers = {t.code: t.pk for t in Tier.objects.filter(brand=brand)}
    customers, scores = defaults_scores(brand)
    tiers_refresh(brand=brand, scores=scores, when=WHEN)
    top = customers[-1]
    held = unrevoked_grants(top)
    assert held and TierChange.objects.filter(customer=top).latest("changed_at").to_tier_id == tiers["high"]

    # when their churn probability rises past the high tier's ceiling (top 20% by CLV, churn 81%)
    at_risk = scores.assign(churn_probability=np.where(scores["customer_id"] == top.pk, 0.81, 0.1))
    later = tiers_refresh(brand=brand, scores=at_risk, when=WHEN + timedelta(days=30))

    # then they keep the tier and every benefit, and a grace period starts
    row = later.assignment.set_index("customer_id").loc[top.pk]
    assert (row["tier_id"], row["reason"]) == (tiers["high"], "grace_period")
    assert (later.changes, later.grants_revoked, later.in_grace) == (0, 0, 1)
    assert unrevoked_grants(top) == held
    grace = TierGrace.objects.get(customer=top)
    assert (grace.tier_id, grace.since, grace.ends_at) == (
        tiers["high"],
        WHEN + timedelta(days=30),
        WHEN + timedelta(days=120),
    )

    # a refresh inside the grace keeps its start; the one after it ends moves them down and withdraws
    tiers_refresh(brand=brand, scores=at_risk, when=WHEN + timedelta(days=100))
    assert TierGrace.objects.get(customer=top).since == WHEN + timedelta(days=30)
    moved = tiers_refresh(brand=brand, scores=at_risk, when=WHEN + timedelta(days=120))
    # (81% churn is past potential value's ceiling too: they land in basic value)
    assert moved.assignment.set_index("customer_id").loc[top.pk, "tier_id"] == tiers["basic"]
    assert moved.changes == 1 and moved.grants_revoked > 0
    assert not TierGrace.objects.filter(customer=top).exists()


def test_a_customer_who_qualifies_again_leaves_the_grace_period(brand):
    loyalty_defaults_ensure(brand=brand)
    customers, scores = defaults_scores(brand)
    tiers_refresh(brand=brand, scores=scores, when=WHEN)
    top = customers[-1]
    at_risk = scores.assign(churn_probability=np.where(scores["customer_id"] == top.pk, 0.81, 0.1))
    tiers_refresh(brand=brand, scores=at_risk, when=WHEN + timedelta(days=1))
    assert TierGrace.objects.filter(customer=top).exists()
    back = tiers_refresh(brand=brand, scores=scores, when=WHEN + timedelta(days=2))
    assert back.in_grace == 0 and not TierGrace.objects.filter(brand=brand).exists()
    assert back.changes == 0
