"""What the admin shows as an object's name (page titles, breadcrumbs, the audit trail's object names) reads as
words in the staff's language: "StageChange object (2763)", "4999: None → 3", "3/run:2/4781" did before.
Customers are named by their number only (no personal data in the audit trail)."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from apps.analytics.models import CustomerScore, ProspectScore, StageChange
from apps.communities.models import CommunityMembership
from apps.engagement.models import ExperimentAssignment, GroupPost, NextAction, Touch
from apps.loyalty.models import TierChange, TierGrace
from apps.streams.models import StreamView

OBJECTS = [
    (CustomerScore(customer_id=7, run_id=2), "Score of customer #7 in run #2", "客户 #7 在运行 #2 中的评分"),
    (
        ProspectScore(customer_id=7, run_id=2),
        "Propensity of customer #7 in run #2",
        "客户 #7 在运行 #2 中的首购倾向",
    ),
    (
        StageChange(customer_id=7, from_stage="", to_stage="growth", changed_on=date(2026, 6, 30)),
        "Customer #7: no stage → Growth (2026-06-30)",
        "客户 #7：无阶段 → 成长期（2026-06-30）",
    ),
    (
        TierChange(customer_id=7, from_tier_id=None, to_tier_id=3),
        "Customer #7: tier No tier → #3",
        "客户 #7：等级 无等级 → #3",
    ),
    (
        TierGrace(customer_id=7, tier_id=3, since=date(2026, 6, 1)),
        "Customer #7 keeps tier #3 since 2026-06-01",
        "客户 #7 自 2026-06-01 起保留等级 #3",
    ),
    (CommunityMembership(customer_id=7, community_id=4), "Customer #7 in community #4", "客户 #7 在社群 #4"),
    (Touch(customer_id=7, occasion="run:2"), "Touch of customer #7 (run:2)", "客户 #7 的触达（run:2）"),
    (GroupPost(community_id=4, occasion="stream:9"), "Group post to community #4 (stream:9)", None),
    (
        ExperimentAssignment(customer_id=7, experiment_id=2),
        "Customer #7 in experiment #2",
        "客户 #7 在实验 #2",
    ),
    (StreamView(customer_id=7, stream_id=9), "Customer #7 watching stream #9", "客户 #7 观看直播 #9"),
]


@pytest.mark.parametrize(("obj", "english", "chinese"), OBJECTS, ids=lambda v: type(v).__name__)
def test_object_names_read_as_words_in_each_language(obj, english, chinese):
    with translation.override("en"):
        assert str(obj) == english
    with translation.override("zh-hans"):
        text = str(obj)
        assert "None" not in text and "object (" not in text
        if chinese is not None:
            assert text == chinese


def test_a_next_action_names_its_action_in_words():
    code, label = NextAction._meta.get_field("action").choices[0]
    action = NextAction(customer_id=7, action=code)
    with translation.override("en"):
        assert str(action) == f"Next action for customer #7: {label}"
    with translation.override("zh-hans"):
        assert str(action) == f"客户 #7 的下一步行动：{translation.gettext(str(label))}"


@pytest.mark.parametrize(
    ("reason", "tier_name", "english", "chinese"),
    [
        ("rule:high", "High value", "met the rule of tier High value", "符合等级“High value”的规则"),
        ("rule:high", None, "met the rule of tier high", "符合等级“high”的规则"),
        ("no_rule_matched", None, "no tier rule matched", "没有符合的等级规则"),
        (
            "opted_out_kept",
            None,
            "kept: the customer opted out of automated decisions",
            "保持不变：客户已拒绝自动化决策",
        ),
        ("manual", None, "set by staff", "由员工设置"),
    ],
)
def test_a_tier_change_s_reason_reads_as_words(reason, tier_name, english, chinese):
    change = TierChange(customer_id=7, reason=reason)
    with translation.override("en"):
        assert change.reason_label(tier_name) == english
    with translation.override("zh-hans"):
        assert change.reason_label(tier_name) == chinese
