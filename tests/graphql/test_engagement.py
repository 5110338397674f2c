"""The action layer through GraphQL as a frontend developer calls it, mistakes included: rules, templates and
the contact policy (manager writes, clear errors), planning a stream, touches with filters at a pinned query
count, results against the holdout, and another brand's rows as not found."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.engagement.models import ChannelOptOut, FollowupRule, Touch
from apps.engagement.planning import followups_plan
from apps.engagement.sending import touches_send_due
from tests.factories import FollowupRuleFactory, MessageTemplateFactory, TierFactory
from tests.graphql.conftest import error_of, run_query
from tests.scenarios import FOLLOWUP_ENDED, FOLLOWUP_PLANNED_AT, gid, make_followup_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(brand):
    return make_followup_shop(brand)


CREATE = """mutation($b: ID!, $input: FollowupRuleInput!) { createFollowupRule(brand: $b, input: $input) {
  id name trigger audience channels stages tiers { code } minWatchMinutes delayMinHours windowHours
  template { code } benefit { code } } }"""


def test_a_manager_creates_a_rule_and_mistakes_get_clear_errors(as_role, shop, other_brand):
    gold = TierFactory(brand=shop.brand, code="gold")
    client = as_role("manager")
    base = {
        "name": "Decliners who watched",
        "template": gid("MessageTemplate", shop.rule.template),
        "channels": ["WECOM", "SMS"],
    }
    body = run_query(
        client,
        CREATE,
        b=gid("Brand", shop.brand),
        input={**base, "stages": ["DECLINE"], "tiers": [gid("Tier", gold)], "minWatchMinutes": 10},
    )
    rule = body["data"]["createFollowupRule"]
    assert (rule["trigger"], rule["audience"], rule["channels"], rule["stages"], rule["tiers"]) == (
        "STREAM_END",
        "VIEWERS",
        ["WECOM", "SMS"],
        ["DECLINE"],
        [{"code": "gold"}],
    )
    assert (rule["delayMinHours"], rule["windowHours"]) == ("6.00", 72)
    mistakes = {
        "stages": (
            ["SLEEPING"],
            '$input.stages[0]: "SLEEPING" is not a value of Stage; use one of PROSPECT, INTRODUCTION',
        ),
        "channels": ([], "channels: Choose at least one channel."),
        "delayMaxHours": ("2", "delayMaxHours: The latest preferred send is not before the earliest."),
        "maxChurnProbability": ("1.5", "maxChurnProbability: A probability is between 0 and 1."),
    }
    for field, (value, message) in mistakes.items():
        assert error_of(
            run_query(client, CREATE, b=gid("Brand", shop.brand), input={**base, field: value})
        ).startswith(message)
    rival_template = MessageTemplateFactory(brand=other_brand)
    body = run_query(
        client,
        CREATE,
        b=gid("Brand", shop.brand),
        input={**base, "template": gid("MessageTemplate", rival_template)},
    )
    assert error_of(body) == "No such message template."
    assert FollowupRule.objects.filter(brand=shop.brand).count() == 2


def test_a_viewer_reads_but_cannot_write(as_role, shop):
    client = as_role("viewer")
    body = run_query(
        client,
        "query($b: ID!) { followupRules(brand: $b) { totalCount edges { node { name } } } }",
        b=gid("Brand", shop.brand),
    )
    assert body["data"]["followupRules"]["totalCount"] == 1
    body = run_query(
        client,
        'mutation($id: ID!) { updateFollowupRule(id: $id, input: {name: "x"}) { name } }',
        id=gid("FollowupRule", shop.rule),
    )
    assert "Manager role" in error_of(body) or "manager" in error_of(body).lower()


POLICY = """mutation($b: ID!, $input: ContactPolicyPatch!) { updateContactPolicy(brand: $b, input: $input) {
  quietStart quietEnd cap72h holdoutPercent gateway webhookUrl webhookSecretSet } }"""


def test_the_contact_policy_takes_times_and_keeps_the_secret_write_only(as_role, shop):
    client = as_role("manager")
    body = run_query(
        client,
        POLICY,
        b=gid("Brand", shop.brand),
        input={
            "quietStart": "23:00",
            "cap72h": 3,
            "gateway": "WEBHOOK",
            "webhookUrl": "https://gw.example.com",
            "webhookSecret": "s",
        },
    )
    assert body["data"]["updateContactPolicy"] == {
        "quietStart": "23:00",
        "quietEnd": "08:00",
        "cap72h": 3,
        "holdoutPercent": 0.0,
        "gateway": "WEBHOOK",
        "webhookUrl": "https://gw.example.com",
        "webhookSecretSet": True,
    }
    assert (
        error_of(run_query(client, POLICY, b=gid("Brand", shop.brand), input={"quietEnd": "8pm"}))
        == "quiet_end: use HH:MM."
    )
    assert error_of(
        run_query(client, POLICY, b=gid("Brand", shop.brand), input={"holdoutPercent": "80"})
    ) == ("holdoutPercent: The holdout is 0 to 50 percent of customers.")


PLAN = """mutation($s: ID!) { planFollowups(stream: $s) { occasion audience written planned
  rules { name eligible planned suppressed { reason count } } } }"""


def test_planning_a_stream_reports_each_rule_and_an_open_stream_is_refused(as_role, shop):
    shop.viewer()
    shop.viewer(consent=False)
    client = as_role("manager")
    shop.stream.ended_at = None
    shop.stream.save()
    assert "has not ended" in error_of(run_query(client, PLAN, s=gid("Stream", shop.stream)))
    shop.stream.ended_at = FOLLOWUP_ENDED
    shop.stream.save()
    plan = run_query(client, PLAN, s=gid("Stream", shop.stream))["data"]["planFollowups"]
    # the stream ended long ago: its window has passed, and it says so
    assert plan["rules"] == [
        {
            "name": "viewers",
            "eligible": 2,
            "planned": 0,
            "suppressed": [{"reason": "NO_CONSENT", "count": 1}, {"reason": "WINDOW_PASSED", "count": 1}],
        }
    ]


TOUCHES = """query($b: ID!, $status: TouchStatus, $holdout: Boolean) {
  touches(brand: $b, status: $status, holdout: $holdout, first: 50) { totalCount edges { node {
    status reason channel holdout scheduledAt customer { externalId } rule { name } stream { externalId } } } } }"""


def test_touches_are_filtered_and_listed_at_a_flat_number_of_queries(as_role, shop):
    client = as_role("viewer")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            body = run_query(client, TOUCHES, b=gid("Brand", shop.brand))
        assert "errors" not in body, body
        return len(ctx.captured_queries), body["data"]["touches"]

    shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=FOLLOWUP_PLANNED_AT)
    few, _ = count()
    for _ in range(15):
        shop.viewer(consent=False)
    followups_plan(brand=shop.brand, stream=shop.stream, now=FOLLOWUP_PLANNED_AT)
    many, touches = count()
    assert touches["totalCount"] == 16 and many == few
    suppressed = run_query(client, TOUCHES, b=gid("Brand", shop.brand), status="SUPPRESSED")["data"][
        "touches"
    ]
    assert suppressed["totalCount"] == 15
    assert {e["node"]["reason"] for e in suppressed["edges"]} == {"NO_CONSENT"}


RESULTS = """query($b: ID!) { followupResults(brand: $b, by: CHANNEL) {
  total { treated control treatedRate controlRate uplift upliftLow upliftHigh reason
          treatedRevenue { amount currency } revenueUplift { amount currency } }
  groups { key label treated control } } }"""


def test_results_compare_with_the_holdout_and_say_why_a_figure_is_missing(as_role, shop):
    client = as_role("viewer")
    empty = run_query(client, RESULTS, b=gid("Brand", shop.brand))["data"]["followupResults"]
    assert empty["total"]["uplift"] is None and empty["total"]["reason"] == "NO_TREATED"
    assert empty["total"]["treatedRevenue"] is None
    shop.policy.holdout_percent = Decimal("50")
    shop.policy.save()
    for _ in range(20):
        shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=FOLLOWUP_PLANNED_AT)
    touches_send_due(brand=shop.brand, now=FOLLOWUP_ENDED + timedelta(hours=7))
    data = run_query(client, RESULTS, b=gid("Brand", shop.brand))["data"]["followupResults"]
    assert data["total"]["treated"] + data["total"]["control"] == 20
    assert data["groups"][0]["key"] == "sms" and data["groups"][0]["label"] == "SMS"
    assert data["total"]["uplift"] == 0.0  # nobody bought in either group
    assert data["total"]["treatedRevenue"] == {"amount": "0.00", "currency": "CNY"}
    assert data["total"]["revenueUplift"] == {"amount": "0.00", "currency": "CNY"}


def test_another_brands_rules_and_touches_stay_hidden(as_role, shop, other_brand):
    rival = make_followup_shop(other_brand)
    rival.viewer()
    followups_plan(brand=other_brand, stream=rival.stream, now=FOLLOWUP_PLANNED_AT)
    client = as_role("manager")
    body = run_query(client, "{ touches(first: 10) { totalCount } followupRules { totalCount } }")
    assert body["data"] == {"touches": {"totalCount": 0}, "followupRules": {"totalCount": 1}}
    body = run_query(
        client,
        "mutation($id: ID!) { archiveFollowupRule(id: $id) { isActive } }",
        id=gid("FollowupRule", rival.rule),
    )
    assert error_of(body) == "No such follow-up rule."
    body = run_query(client, PLAN, s=gid("Stream", rival.stream))
    assert error_of(body) == "No such live stream."
    assert Touch.objects.filter(brand=other_brand).count() == 1


def test_an_opt_out_is_recorded_for_one_channel_or_every_channel(as_role, shop):
    customer = shop.viewer()
    client = as_role("manager")
    query = "mutation($c: ID!, $ch: TouchChannel) { recordChannelOptOut(customer: $c, channel: $ch) }"
    assert run_query(client, query, c=gid("Customer", customer), ch="SMS")["data"] == {
        "recordChannelOptOut": True
    }
    assert run_query(client, query, c=gid("Customer", customer))["data"] == {"recordChannelOptOut": True}
    assert sorted(ChannelOptOut.objects.values_list("channel", flat=True)) == ["", "sms"]
    assert FollowupRuleFactory._meta.model is FollowupRule


GROUP_POSTS = """query($b: ID!, $status: TouchStatus) { groupPosts(brand: $b, status: $status, first: 10) {
  totalCount edges { node { community { externalId } rule { name postToGroups } membersTaken status reason
  scheduledAt } } } }"""


def test_a_manager_turns_on_group_posts_and_the_posts_are_listed_at_a_flat_number_of_queries(
    as_role, shop, other_brand
):
    from tests.factories import CommunityFactory, CommunityMembershipFactory

    manager = as_role("manager")
    body = run_query(
        manager,
        "mutation($id: ID!) { updateFollowupRule(id: $id, input: { postToGroups: true }) { postToGroups } }",
        id=gid("FollowupRule", shop.rule),
    )
    assert body["data"]["updateFollowupRule"] == {"postToGroups": True}, body

    viewer = as_role("viewer")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            body = run_query(viewer, GROUP_POSTS, b=gid("Brand", shop.brand))
        assert "errors" not in body, body
        return len(ctx.captured_queries), body["data"]["groupPosts"]

    joined = FOLLOWUP_ENDED - timedelta(days=10)
    group = CommunityFactory(brand=shop.brand, external_id="G-A", kind="wecom")
    CommunityMembershipFactory(brand=shop.brand, community=group, customer=shop.viewer(), joined_at=joined)
    followups_plan(brand=shop.brand, stream=shop.stream, now=FOLLOWUP_PLANNED_AT)
    few, posts = count()
    assert posts["totalCount"] == 1
    node = posts["edges"][0]["node"]
    assert (node["community"], node["membersTaken"], node["status"], node["reason"]) == (
        {"externalId": "G-A"},
        1,
        "PLANNED",
        None,
    )
    for n in range(4):
        more = CommunityFactory(brand=shop.brand, external_id=f"G-B{n}", kind="wecom")
        CommunityMembershipFactory(brand=shop.brand, community=more, customer=shop.viewer(), joined_at=joined)
    followups_plan(brand=shop.brand, stream=shop.stream, now=FOLLOWUP_PLANNED_AT)
    many, posts = count()
    assert posts["totalCount"] == 5 and many == few
    # another brand's posts stay hidden; a wrong status is a clear error
    rival = make_followup_shop(other_brand)
    assert (
        run_query(manager, GROUP_POSTS, b=gid("Brand", other_brand))["data"]["groupPosts"]["totalCount"] == 0
    )
    assert rival.rule.group_posts.count() == 0
    body = run_query(manager, GROUP_POSTS, b=gid("Brand", shop.brand), status="POSTED")
    assert "POSTED" in error_of(body)
