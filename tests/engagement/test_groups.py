"""Posts in WeCom groups: one per group with a member the rule takes, at most as many messages in a group in
a month as the month has days (in the brand's time zone), checked at planning and again at send."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from apps.engagement import guards
from apps.engagement.models import GroupPost
from apps.engagement.planning import followups_plan, followups_preview
from apps.engagement.sending import touches_send_due
from tests.engagement.gateway import Gateway
from tests.factories import CommunityFactory, CommunityMembershipFactory, StreamFactory
from tests.scenarios import FOLLOWUP_ENDED as ENDED
from tests.scenarios import FOLLOWUP_PLANNED_AT as NOON_AFTER

SHANGHAI = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db
SEND_AT = ENDED + timedelta(hours=6, minutes=1)


def utc64(*args) -> np.datetime64:
    return guards.as_utc64(datetime(*args, tzinfo=UTC))


def posts_at(group: int, times) -> pd.DataFrame:
    return pd.DataFrame({"community_id": group, "scheduled_at": np.array(times, dtype="datetime64[ns]")})


def test_a_group_gets_at_most_as_many_messages_a_month_as_the_month_has_days():
    february = [utc64(2026, 2, 1, 4) + np.timedelta64(d, "D") for d in range(27)]
    new = np.array([utc64(2026, 2, 28, 4)] * 2)
    # 27 posts in February 2026 (28 days): a 28th fits, in the other group too
    assert guards.group_monthly_ok(np.array([1, 2]), new, posts_at(1, february), SHANGHAI).tolist() == [
        True,
        True,
    ]
    full = posts_at(1, [*february, utc64(2026, 2, 28, 1)])
    assert guards.group_monthly_ok(np.array([1, 2]), new, full, SHANGHAI).tolist() == [False, True]
    # March has 31 days: 28 posts there leave room
    march = posts_at(1, [utc64(2026, 3, 1, 4) + np.timedelta64(d, "D") for d in range(28)])
    assert guards.group_monthly_ok(np.array([1]), np.array([utc64(2026, 3, 30, 4)]), march, SHANGHAI)[0]


def test_the_month_of_a_group_post_is_the_brands_local_month():
    # 2026-02-28 17:00 UTC is already 1 March in Shanghai: February's full count does not apply
    february = posts_at(1, [utc64(2026, 2, 1, 4) + np.timedelta64(d, "D") for d in range(28)])
    assert guards.group_monthly_ok(np.array([1]), np.array([utc64(2026, 2, 28, 17)]), february, SHANGHAI)[0]
    assert not guards.group_monthly_ok(np.array([1]), np.array([utc64(2026, 2, 28, 15)]), february, SHANGHAI)[
        0
    ]
    assert guards.days_in_month(np.array([utc64(2026, 2, 28, 17)]), SHANGHAI).tolist() == [31]


@pytest.fixture
def groups(shop):
    shop.rule.post_to_groups = True
    shop.rule.save()
    fans = CommunityFactory(brand=shop.brand, external_id="G-FANS", kind="wecom")
    vip = CommunityFactory(brand=shop.brand, external_id="G-VIP", kind="wecom")
    wechat = CommunityFactory(brand=shop.brand, external_id="G-WX", kind="wechat_group")
    joined = ENDED - timedelta(days=30)
    for _ in range(3):
        CommunityMembershipFactory(brand=shop.brand, community=fans, customer=shop.viewer(), joined_at=joined)
    CommunityMembershipFactory(brand=shop.brand, community=vip, customer=shop.viewer(), joined_at=joined)
    # a member who left before the stream ended, and a member of a plain WeChat group: no post for them
    gone = CommunityFactory(brand=shop.brand, external_id="G-GONE", kind="wecom")
    CommunityMembershipFactory(
        brand=shop.brand,
        community=gone,
        customer=shop.viewer(),
        joined_at=joined,
        left_at=ENDED - timedelta(days=1),
    )
    CommunityMembershipFactory(brand=shop.brand, community=wechat, customer=shop.viewer(), joined_at=joined)
    return {"fans": fans, "vip": vip}


def test_a_rule_that_posts_to_groups_plans_one_post_per_wecom_group_of_its_customers(shop, groups):
    result = followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    posts = {p.community.external_id: p for p in GroupPost.objects.filter(brand=shop.brand)}
    assert set(posts) == {"G-FANS", "G-VIP"}
    assert (posts["G-FANS"].members_taken, posts["G-VIP"].members_taken) == (3, 1)
    assert {p.status for p in posts.values()} == {"planned"}
    assert posts["G-FANS"].scheduled_at == ENDED + timedelta(hours=6)
    assert posts["G-FANS"].occasion == f"stream:{shop.stream.pk}" and posts["G-FANS"].stream == shop.stream
    assert result.groups_planned == 2 and result.rules[0].group_reasons == {}
    # planning the stream again adds nothing
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert GroupPost.objects.filter(brand=shop.brand).count() == 2


def test_a_group_that_had_a_message_every_day_of_the_month_gets_no_post(shop, groups):
    fans = groups["fans"]
    # May 2026 has 31 days; the group already had 31 messages planned or sent in May (Shanghai time)
    for day in range(31):
        other = StreamFactory(brand=shop.brand, external_id=f"OLD{day}")
        GroupPost.objects.create(
            brand=shop.brand,
            community=fans,
            rule=shop.rule,
            occasion=f"stream:{other.pk}",
            scheduled_at=datetime(2026, 5, 1, 2, tzinfo=UTC) + timedelta(days=day),
            window_ends_at=datetime(2026, 5, 4, tzinfo=UTC) + timedelta(days=day),
            status="sent",
        )
    result = followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    post = GroupPost.objects.get(brand=shop.brand, occasion=f"stream:{shop.stream.pk}", community=fans)
    assert (post.status, post.reason) == ("suppressed", "group_monthly")
    assert result.rules[0].group_reasons == {"group_monthly": 1} and result.groups_planned == 1
    # the preview says the same without writing
    preview = followups_preview(brand=shop.brand, rule=shop.rule, stream=shop.stream)
    assert preview.rules[0].group_reasons == {"group_monthly": 1}


def test_group_posts_go_out_through_the_gateway_once_and_the_limit_is_checked_again(shop, groups):
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    # after planning, the VIP group filled its month through other occasions
    for day in range(31):
        other = StreamFactory(brand=shop.brand, external_id=f"LATE{day}")
        GroupPost.objects.create(
            brand=shop.brand,
            community=groups["vip"],
            rule=shop.rule,
            occasion=f"stream:{other.pk}",
            scheduled_at=datetime(2026, 5, 1, 2, tzinfo=UTC) + timedelta(days=day),
            window_ends_at=datetime(2026, 5, 1, 2, tzinfo=UTC) + timedelta(days=day),
            status="sent",
        )
    with Gateway("s3cret") as gateway:
        shop.policy.gateway, shop.policy.webhook_url, shop.policy.webhook_secret = (
            "webhook",
            gateway.url,
            "s3cret",
        )
        shop.policy.save()
        result = touches_send_due(brand=shop.brand, now=SEND_AT)
        again = touches_send_due(brand=shop.brand, now=SEND_AT + timedelta(minutes=5))
    assert result.group_posts_sent == 1 and again.group_posts_sent == 0
    group_payloads = [p for p in gateway.sent.values() if p["group_id"]]
    assert [(p["group_id"], p["customer_id"], p["channel"]) for p in group_payloads] == [
        ("G-FANS", "", "wecom")
    ]
    assert group_payloads[0]["body"].startswith(f"Thanks for watching {shop.stream.title}!")
    mine = {p.community.external_id: p for p in GroupPost.objects.filter(occasion=f"stream:{shop.stream.pk}")}
    assert (mine["G-FANS"].status, mine["G-FANS"].sent_at) == ("sent", SEND_AT)
    assert (mine["G-VIP"].status, mine["G-VIP"].reason) == ("suppressed", "group_monthly")
    # the customers' own touches went out beside the posts
    assert sum(1 for p in gateway.sent.values() if p["customer_id"]) == result.sent


def test_rules_that_do_not_post_to_groups_plan_no_posts(shop, groups):
    shop.rule.post_to_groups = False
    shop.rule.save()
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert not GroupPost.objects.filter(brand=shop.brand).exists()
