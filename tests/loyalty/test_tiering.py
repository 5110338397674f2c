"""assign_tiers by hand on small frames: each condition, order by rank, fallback, percentiles, opt-outs."""

import numpy as np
import pandas as pd

from apps.analytics.survival.rfm import SEGMENTS
from apps.loyalty.models import RFM_SEGMENT_LABELS
from apps.loyalty.tiering import (
    TierRuleSpec,
    apply_grace,
    assign_tiers,
    clv_percentile,
    tier_changes_from,
    transition_counts,
)
from tests.loyalty.conftest import score_frame

HIGH, POTENTIAL, BASIC = 10, 20, 30


def specs(high=None, potential=None, basic=None):
    """Three tiers; each takes the rule's conditions (None: no rule, active=False)."""
    out = []
    for tier_id, code, rank, conditions in (
        (HIGH, "high", 1, high),
        (POTENTIAL, "potential", 2, potential),
        (BASIC, "basic", 3, basic),
    ):
        if conditions is None:
            out.append(TierRuleSpec(tier_id=tier_id, tier_code=code, rank=rank, active=False))
        else:
            out.append(TierRuleSpec(tier_id=tier_id, tier_code=code, rank=rank, **conditions))
    return out


def test_min_clv_is_a_floor_inclusive():
    frame = score_frame([{"clv": 499.99}, {"clv": 500.0}, {"clv": 9000.0}])
    tier, reason = assign_tiers(frame, specs(high={"min_clv": 500}))
    assert list(tier) == [BASIC, HIGH, HIGH]
    assert list(reason) == ["no_rule_matched", "rule:high", "rule:high"]


def test_max_churn_probability_is_a_ceiling_inclusive():
    frame = score_frame([{"churn_probability": 0.3}, {"churn_probability": 0.31}])
    tier, _ = assign_tiers(frame, specs(high={"max_churn_probability": 0.3}))
    assert list(tier) == [HIGH, BASIC]


def test_min_rfm_score_sums_r_f_m():
    frame = score_frame(
        [
            {"rfm_recency": 5, "rfm_frequency": 3, "rfm_monetary": 1},  # 9
            {"rfm_recency": 2, "rfm_frequency": 3, "rfm_monetary": 3},  # 8
        ]
    )
    tier, _ = assign_tiers(frame, specs(potential={"min_rfm_score": 9}))
    assert list(tier) == [POTENTIAL, BASIC]


def test_rfm_segments_list_the_segments_that_match_and_empty_means_any():
    frame = score_frame([{"rfm_segment": "champions"}, {"rfm_segment": "at_risk"}, {"rfm_segment": "lost"}])
    tier, _ = assign_tiers(frame, specs(high={"rfm_segments": ("champions", "loyal")}, potential={}))
    assert list(tier) == [HIGH, POTENTIAL, POTENTIAL]


def test_every_set_condition_must_hold():
    rule = {"min_clv": 100, "max_churn_probability": 0.5, "min_rfm_score": 12, "rfm_segments": ("champions",)}
    good = {"clv": 100.0, "churn_probability": 0.5, "rfm_recency": 4, "rfm_frequency": 4, "rfm_monetary": 4}
    good["rfm_segment"] = "champions"
    frame = score_frame(
        [
            good,
            {**good, "clv": 99.0},
            {**good, "churn_probability": 0.51},
            {**good, "rfm_monetary": 3},
            {**good, "rfm_segment": "loyal"},
        ]
    )
    tier, _ = assign_tiers(frame, specs(high=rule))
    assert list(tier) == [HIGH, BASIC, BASIC, BASIC, BASIC]


def test_missing_values_never_match_a_condition_on_them():
    frame = score_frame([{"clv": np.nan}, {"churn_probability": np.nan}, {"rfm_segment": None}])
    tier, _ = assign_tiers(
        frame,
        specs(
            high={"min_clv": 0}, potential={"max_churn_probability": 1, "rfm_segments": ("need_attention",)}
        ),
    )
    assert list(tier) == [POTENTIAL, HIGH, HIGH]


def test_rules_are_checked_by_rank_whatever_their_order_in_the_list():
    # given a customer both the high and the potential rule match, rules listed lowest rank first
    frame = score_frame([{"clv": 1000.0}])
    rules = list(reversed(specs(high={"min_clv": 500}, potential={"min_clv": 100}, basic={})))
    tier, reason = assign_tiers(frame, rules)
    assert list(tier) == [HIGH] and list(reason) == ["rule:high"]


def test_a_rule_without_conditions_matches_everyone():
    frame = score_frame([{"clv": 0.0}, {"clv": 5.0}])
    tier, reason = assign_tiers(frame, specs(high={"min_clv": 500}, basic={}))
    assert list(tier) == [BASIC, BASIC] and list(reason) == ["rule:basic", "rule:basic"]


def test_no_match_falls_back_to_the_lowest_ranked_active_tier_even_without_a_rule():
    frame = score_frame([{"clv": 1.0}])
    tier, reason = assign_tiers(frame, specs(high={"min_clv": 500}, potential={"min_clv": 100}))
    assert list(tier) == [BASIC] and list(reason) == ["no_rule_matched"]


def test_inactive_rule_never_matches_and_without_tiers_nobody_gets_one():
    frame = score_frame([{"clv": 1e6}])
    rules = specs(basic={})
    rules[0] = TierRuleSpec(tier_id=HIGH, tier_code="high", rank=1, min_clv=1, active=False)
    assert list(assign_tiers(frame, rules)[0]) == [BASIC]
    tier, reason = assign_tiers(frame, [])
    assert list(tier) == [None] and list(reason) == ["no_active_tier"]


def test_clv_percentile_is_the_share_strictly_below_and_ties_share_it():
    assert list(clv_percentile([10.0, 20.0, 30.0, 40.0, 40.0])) == [0.0, 20.0, 40.0, 60.0, 60.0]
    assert np.isnan(clv_percentile([1.0, np.nan])[1])


def test_percentile_threshold_takes_the_top_share_of_the_frame():
    # given ten customers with CLV 1..10
    frame = score_frame([{"clv": float(v)} for v in range(1, 11)])
    # when high is the top 20% and potential the top 50%
    tier, _ = assign_tiers(
        frame, specs(high={"min_clv_percentile": 80}, potential={"min_clv_percentile": 50})
    )
    # then CLV 9 and 10 are high, 6 to 8 potential, the rest basic
    assert list(tier) == [BASIC] * 5 + [POTENTIAL] * 3 + [HIGH] * 2


def test_percentile_ties_at_zero_do_not_inflate_the_top_share():
    frame = score_frame([{"clv": 0.0}] * 8 + [{"clv": 5.0}, {"clv": 9.0}])
    tier, _ = assign_tiers(frame, specs(potential={"min_clv_percentile": 50}))
    assert list(tier) == [BASIC] * 8 + [POTENTIAL] * 2


def test_opted_out_customers_keep_their_previous_tier_or_none():
    frame = score_frame(
        [
            {"clv": 1e6, "automated_decisions_opt_out": True, "previous_tier_id": BASIC},
            {"clv": 1e6, "automated_decisions_opt_out": True, "previous_tier_id": None},
            {"clv": 1e6, "automated_decisions_opt_out": False, "previous_tier_id": BASIC},
        ]
    )
    tier, reason = assign_tiers(frame, specs(high={"min_clv": 1}))
    assert list(tier) == [BASIC, None, HIGH]
    assert list(reason) == ["opted_out_kept", "opted_out_kept", "rule:high"]


def test_changes_are_the_rows_whose_tier_moved():
    frame = score_frame(
        [
            {"customer_id": 1, "clv": 1e6, "previous_tier_id": HIGH},  # stays
            {"customer_id": 2, "clv": 1e6, "previous_tier_id": BASIC},  # up
            {"customer_id": 3, "clv": 1.0, "previous_tier_id": None},  # first tier
            {"customer_id": 4, "automated_decisions_opt_out": True},  # none → none
        ]
    )
    tier, reason = assign_tiers(frame, specs(high={"min_clv": 100}))
    changes = tier_changes_from(frame, tier, reason)
    assert changes.to_dict("list") == {
        "customer_id": [2, 3],
        "from_tier_id": [BASIC, None],
        "to_tier_id": [HIGH, BASIC],
        "reason": ["rule:high", "no_rule_matched"],
    }


def test_transition_counts_group_previous_and_proposed_tiers():
    frame = score_frame(
        [
            {"clv": 1e6, "previous_tier_id": BASIC},
            {"clv": 1e6, "previous_tier_id": BASIC},
            {"clv": 1.0, "previous_tier_id": HIGH},
            {"clv": 1.0},
        ]
    )
    tier, _ = assign_tiers(frame, specs(high={"min_clv": 100}))
    counts = transition_counts(frame, tier)
    assert counts.to_dict("list") == {
        "from_tier_id": [HIGH, BASIC, None],
        "to_tier_id": [BASIC, HIGH, BASIC],
        "customers": [1, 2, 1],
    }


def test_assignment_is_vectorised_over_a_large_frame():
    rng = np.random.default_rng(0)
    n = 200_000
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "clv": rng.gamma(2.0, 300.0, n),
            "churn_probability": rng.uniform(0, 1, n),
            "rfm_recency": rng.integers(1, 6, n),
            "rfm_frequency": rng.integers(1, 6, n),
            "rfm_monetary": rng.integers(1, 6, n),
            "rfm_segment": rng.choice(list(SEGMENTS), n),
            "automated_decisions_opt_out": rng.uniform(0, 1, n) < 0.01,
            "previous_tier_id": pd.array(rng.choice([HIGH, BASIC], n), dtype="Int64"),
        }
    )
    rules = specs(
        high={"min_clv_percentile": 80, "max_churn_probability": 0.6},
        potential={"min_clv_percentile": 50, "max_churn_probability": 0.8},
        basic={},
    )
    tier, _ = assign_tiers(frame, rules)
    high_share = (tier == HIGH).mean()
    assert 0.10 < high_share < 0.13  # ≈ 20% × 60%, plus the opted-out who kept high


def test_segment_labels_cover_the_engine_segments():
    assert tuple(RFM_SEGMENT_LABELS) == SEGMENTS


# --- grace periods (apply_grace) ---------------------------------------------------------------------

WHEN = pd.Timestamp("2026-03-01 08:00", tz="UTC")


def graced(rows, rules, when=WHEN):
    frame = score_frame(rows)
    frame["grace_since"] = pd.to_datetime([r.get("grace_since") for r in rows], utc=True)
    tier, reason = assign_tiers(frame, rules)
    return apply_grace(frame, tier, reason, rules, when)


def with_grace(rules, **days):
    return [TierRuleSpec(**{**vars(r), "grace_days": days.get(r.tier_code, 0)}) for r in rules]


def test_a_customer_moving_down_keeps_the_tier_while_its_grace_lasts():
    rules = with_grace(specs(high={"max_churn_probability": 0.6}, basic={}), high=90)
    got = graced(
        [
            {
                "churn_probability": 0.81,
                "previous_tier_id": HIGH,
            },  # first refresh out of the rule: grace starts
            {
                "churn_probability": 0.81,
                "previous_tier_id": HIGH,
                "grace_since": WHEN - pd.Timedelta(days=89),
            },
            {
                "churn_probability": 0.81,
                "previous_tier_id": HIGH,
                "grace_since": WHEN - pd.Timedelta(days=90),
            },
            {
                "churn_probability": 0.30,
                "previous_tier_id": HIGH,
                "grace_since": WHEN - pd.Timedelta(days=10),
            },
            {"churn_probability": 0.81, "previous_tier_id": None},
        ],
        rules,
    )
    assert list(got.tier_id) == [HIGH, HIGH, BASIC, HIGH, BASIC]
    assert list(got.reason) == ["grace_period", "grace_period", "rule:basic", "rule:high", "rule:basic"]
    assert list(got.held) == [True, True, False, False, False]
    # a grace keeps the time it started; a new one starts now
    assert got.since[0] == WHEN.tz_localize(None).to_datetime64()
    assert got.since[1] == (WHEN - pd.Timedelta(days=89)).tz_localize(None).to_datetime64()


def test_no_grace_without_days_moving_up_or_sideways_or_from_an_archived_tier():
    rules = with_grace(specs(high={"min_clv": 500}, potential={"min_clv": 200}, basic={}), potential=60)
    got = graced(
        [
            {"clv": 100, "previous_tier_id": HIGH},  # high has no grace: down at once
            {"clv": 600, "previous_tier_id": POTENTIAL},  # up
            {"clv": 300, "previous_tier_id": POTENTIAL},  # stays
            {"clv": 100, "previous_tier_id": 99},  # an archived tier: not among the active ones
            {"clv": 100, "previous_tier_id": POTENTIAL},  # down from potential: grace
        ],
        rules,
    )
    assert list(got.tier_id) == [BASIC, HIGH, POTENTIAL, BASIC, POTENTIAL]
    assert list(got.held) == [False, False, False, False, True]


def test_opted_out_customers_keep_their_tier_without_a_grace_period():
    rules = with_grace(specs(high={"max_churn_probability": 0.6}, basic={}), high=90)
    got = graced(
        [{"churn_probability": 0.9, "previous_tier_id": HIGH, "automated_decisions_opt_out": True}], rules
    )
    assert list(got.tier_id) == [HIGH]
    assert list(got.reason) == ["opted_out_kept"]
    assert not got.held.any()
