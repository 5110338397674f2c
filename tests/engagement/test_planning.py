"""Planning a stream's follow-ups: who is chosen, every guard with its recorded reason, the window and quiet
hours, caps across rules and earlier touches, WeCom's limits, the holdout, idempotence and query counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.engagement.models import ChannelOptOut, Touch
from apps.engagement.planning import PlanError, followups_plan
from apps.engagement.services import channel_opt_out
from tests.factories import (
    CustomerFactory,
    CustomerScoreFactory,
    FollowupRuleFactory,
    ModelRunFactory,
    OrderFactory,
    StreamFactory,
    StreamViewFactory,
)
from tests.scenarios import FOLLOWUP_ENDED as ENDED
from tests.scenarios import FOLLOWUP_PLANNED_AT as NOON_AFTER

pytestmark = pytest.mark.django_db


def outcome(customer, rule=None):
    touch = Touch.objects.get(customer=customer, **({"rule": rule} if rule else {}))
    return touch.status, touch.reason


def local(touch) -> str:
    from django.utils import timezone

    return timezone.localtime(touch.scheduled_at, touch.brand.tzinfo).strftime("%m-%d %H:%M")


def test_viewers_who_did_not_buy_get_a_touch_six_hours_after_the_end_and_buyers_do_not(shop):
    watcher = shop.viewer()
    buyer = shop.viewer()
    OrderFactory(
        brand=shop.brand, customer=buyer, stream=shop.stream, placed_at=ENDED - timedelta(minutes=30)
    )
    stranger = CustomerFactory(brand=shop.brand, marketing_consent=True)  # did not watch
    result = followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert (result.audience, result.written, result.planned) == (2, 1, 1)
    touch = Touch.objects.get(customer=watcher)
    assert (touch.status, touch.channel, touch.occasion, touch.stream_id) == (
        "planned",
        "sms",
        f"stream:{shop.stream.pk}",
        shop.stream.pk,
    )
    assert local(touch) == "05-01 18:00" and touch.send_hour == 18  # 12:00 + 6 h, brand time
    assert touch.window_ends_at == ENDED + timedelta(hours=72)
    assert not Touch.objects.filter(customer__in=[buyer, stranger]).exists()
    assert result.send_times == [touch.scheduled_at]


def test_every_eligible_customer_without_a_touch_has_the_guard_that_stopped_them(shop):
    ok = shop.viewer()
    no_consent = shop.viewer(consent=False)
    erased = shop.viewer(erased_at=ENDED)
    opted_sms = shop.viewer()
    channel_opt_out(brand=shop.brand, customer=opted_sms, channel="sms")
    no_phone = shop.viewer(phone="")
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert outcome(ok) == ("planned", "")
    assert outcome(no_consent) == ("suppressed", "no_consent")
    assert outcome(erased) == ("suppressed", "erased")
    assert outcome(opted_sms) == ("suppressed", "opted_out")
    assert outcome(no_phone) == ("suppressed", "no_channel")


def test_a_rule_that_targets_by_scores_skips_customers_who_opted_out_of_automated_decisions(shop):
    opted = shop.viewer(automated_decisions_opt_out=True)
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert outcome(opted) == ("planned", "")  # the plain viewer rule does not profile
    scored = FollowupRuleFactory(brand=shop.brand, stages=["prospect"], channels=["wecom"])
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert outcome(opted, scored) == ("suppressed", "profiling_opt_out")


def test_the_preferred_channel_goes_first_when_the_rule_uses_it(shop):
    shop.rule.channels = ["wecom", "sms"]
    shop.rule.save()
    likes_sms = shop.viewer(preferred_touch_channel="sms")
    other = shop.viewer(preferred_touch_channel="email")
    channel_opt_out(brand=shop.brand, customer=other, channel="wecom")
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert Touch.objects.get(customer=likes_sms).channel == "sms"
    assert Touch.objects.get(customer=other).channel == "sms"  # wecom opted out, email not in the rule


def test_a_stream_ending_late_at_night_is_followed_up_after_the_quiet_hours(shop):
    shop.stream.started_at, shop.stream.ended_at = ENDED + timedelta(hours=8), ENDED + timedelta(hours=10)
    shop.stream.save()  # ends 22:00 local; +6 h = 04:00, quiet until 08:00
    customer = shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=shop.stream.ended_at)
    touch = Touch.objects.get(customer=customer)
    assert (local(touch), touch.status) == ("05-02 08:00", "planned")


def test_a_touch_that_quiet_hours_push_past_the_window_is_dropped_and_a_late_plan_too(shop):
    shop.rule.window_hours = 8  # 12:00 + 8 h = 20:00; earliest 18:00
    shop.rule.save()
    shop.policy.quiet_start = shop.policy.quiet_start.replace(hour=17)  # quiet 17:00–08:00
    shop.policy.save()
    customer = shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert outcome(customer) == ("suppressed", "quiet_hours")
    late = StreamFactory(
        brand=shop.brand, external_id="S2", started_at=ENDED - timedelta(hours=3), ended_at=ENDED
    )
    StreamViewFactory(brand=shop.brand, stream=late, customer=customer)
    followups_plan(brand=shop.brand, stream=late, now=ENDED + timedelta(hours=9))
    assert Touch.objects.get(customer=customer, occasion=f"stream:{late.pk}").reason == "window_passed"


def test_the_cap_holds_across_rules_and_earlier_touches_on_every_channel(shop):
    shop.policy.cap_72h = 2
    shop.policy.save()
    FollowupRuleFactory(brand=shop.brand, name="second", priority=200, channels=["wecom"])
    FollowupRuleFactory(brand=shop.brand, name="third", priority=300, channels=["app_push"])
    customer = shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    statuses = dict(Touch.objects.filter(customer=customer).values_list("rule__name", "reason"))
    assert statuses == {"viewers": "", "second": "", "third": "cap_72h"}
    # a stream the next day: the two touches are still within 72 hours
    nextday = StreamFactory(
        brand=shop.brand,
        external_id="S2",
        started_at=ENDED + timedelta(hours=22),
        ended_at=ENDED + timedelta(days=1),
    )
    StreamViewFactory(brand=shop.brand, stream=nextday, customer=customer)
    followups_plan(brand=shop.brand, stream=nextday, now=ENDED + timedelta(days=1))
    reasons = set(
        Touch.objects.filter(customer=customer, occasion=f"stream:{nextday.pk}").values_list(
            "reason", flat=True
        )
    )
    assert reasons == {"cap_72h"}


def test_the_monthly_cap(shop):
    shop.policy.cap_month, shop.policy.cap_72h = 1, 5
    shop.policy.save()
    customer = shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    later = StreamFactory(
        brand=shop.brand,
        external_id="S2",
        started_at=ENDED + timedelta(days=9),
        ended_at=ENDED + timedelta(days=10),
    )
    StreamViewFactory(brand=shop.brand, stream=later, customer=customer)
    followups_plan(brand=shop.brand, stream=later, now=later.ended_at)
    assert Touch.objects.get(customer=customer, occasion=f"stream:{later.pk}").reason == "cap_month"


def test_wecom_limits_one_mass_message_per_sender_a_day_and_batches_mass_sends(shop):
    shop.policy.cap_72h, shop.policy.wecom_mass_max = 5, 2
    shop.policy.save()
    shop.rule.channels, shop.rule.wecom_sender = ["wecom"], "anna"
    shop.rule.save()
    same_sender = FollowupRuleFactory(
        brand=shop.brand, name="again", priority=200, channels=["wecom"], wecom_sender="anna"
    )
    other_sender = FollowupRuleFactory(
        brand=shop.brand, name="ben", priority=300, channels=["wecom"], wecom_sender="ben"
    )
    customers = [shop.viewer() for _ in range(3)]
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    first = Touch.objects.filter(rule=shop.rule).order_by("customer_id")
    assert [t.mass_send for t in first] == [1, 1, 2]  # at most 2 customers in one mass send
    assert set(Touch.objects.filter(rule=same_sender).values_list("reason", flat=True)) == {"wecom_daily"}
    assert set(Touch.objects.filter(rule=other_sender).values_list("status", flat=True)) == {"planned"}
    assert len(customers) == first.count()


def test_the_holdout_is_held_back_last_with_the_time_and_channel_it_would_have_had(shop):
    shop.policy.holdout_percent = Decimal("50")
    shop.policy.save()
    customers = [shop.viewer() for _ in range(40)]
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    held = Touch.objects.filter(holdout=True)
    assert 8 <= held.count() <= 32
    assert set(held.values_list("status", "reason", "channel")) == {("suppressed", "holdout", "sms")}
    assert all(local(t) == "05-01 18:00" for t in held)
    # an ineligible customer is never counted in the holdout (the consent guard comes first)
    refused = shop.viewer(consent=False)
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert outcome(refused) == ("suppressed", "no_consent")
    assert len(customers) == 40


def test_planning_again_adds_only_new_viewers_and_keeps_what_was_planned(shop):
    first = shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    key = Touch.objects.get(customer=first).key
    late = shop.viewer()
    again = followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert again.written == 1
    assert Touch.objects.get(customer=first).key == key
    assert Touch.objects.filter(customer=late).exists()


def test_conditions_on_stage_churn_watch_time_and_interactions(shop):
    run = ModelRunFactory(brand=shop.brand, status="published")
    loyal = shop.viewer(watch_seconds=3600)
    CustomerScoreFactory(run=run, customer=loyal, stage="decline", churn_probability=0.7)
    brief = shop.viewer(watch_seconds=30)
    rule = FollowupRuleFactory(
        brand=shop.brand,
        name="decliners",
        stages=["decline"],
        min_churn_probability=Decimal("0.5"),
        min_watch_minutes=10,
        channels=["wecom"],
    )
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    assert list(Touch.objects.filter(rule=rule).values_list("customer_id", "stage")) == [
        (loyal.pk, "decline")
    ]
    assert Touch.objects.get(rule=shop.rule, customer=brief).stage == "prospect"  # never bought, no score


def test_planning_takes_a_fixed_number_of_queries_whatever_the_number_of_viewers(shop):
    def count(n):
        for _ in range(n):
            shop.viewer()
        stream = StreamFactory(brand=shop.brand, started_at=ENDED - timedelta(hours=1), ended_at=ENDED)
        for view in shop.stream.views.all():
            StreamViewFactory(brand=shop.brand, stream=stream, customer=view.customer)
        with CaptureQueriesContext(connection) as ctx:
            followups_plan(brand=shop.brand, stream=stream, now=NOON_AFTER)
        return len(ctx.captured_queries)

    assert count(3) == count(30)


def test_a_stream_that_has_not_ended_cannot_be_planned(shop):
    shop.stream.ended_at = None
    shop.stream.save()
    with pytest.raises(PlanError, match="has not ended"):
        followups_plan(brand=shop.brand, stream=shop.stream)


def test_the_command_plans_and_reports_each_rule_with_its_reasons(shop, capsys):
    shop.viewer()
    shop.viewer(consent=False)
    call_command("plan_followups", brand="acme", stream="S1", now="2026-05-01T13:00")
    out = capsys.readouterr().out
    assert "S1: 2 customers watched or bought; 2 touch rows written." in out
    assert "viewers: 2 eligible, 1 planned" in out
    assert "No marketing consent: 1" in out
    with pytest.raises(CommandError, match="has no live stream NOPE"):
        call_command("plan_followups", brand="acme", stream="NOPE")
    with pytest.raises(CommandError, match="not an ISO 8601 date-time"):
        call_command("plan_followups", brand="acme", stream="S1", now="tomorrow")
    assert ChannelOptOut.objects.count() == 0


def test_planning_for_a_time_before_the_stream_ended_is_refused(shop):
    shop.viewer()
    before = shop.stream.ended_at - timedelta(days=400)
    with pytest.raises(
        PlanError, match=rf"The live stream {shop.stream.external_id} ended at .*, after the time"
    ):
        followups_plan(brand=shop.brand, stream=shop.stream, now=before)
    with pytest.raises(CommandError, match="after the time planned for"):
        call_command(
            "plan_followups", brand=shop.brand.slug, stream=shop.stream.external_id, now=before.isoformat()
        )
    assert not Touch.objects.exists()
    # at the end itself, planning runs
    followups_plan(brand=shop.brand, stream=shop.stream, now=shop.stream.ended_at)
