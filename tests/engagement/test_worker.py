"""Follow-ups on a real Celery worker and Redis: a stream's plan is a task, the touches go out through the
brand's webhook from worker processes, and two send tasks racing for the same touches send each once."""

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.engagement.models import Touch
from tests.engagement.gateway import Gateway
from tests.factories import FollowupRuleFactory
from tests.scenarios import make_followup_shop
from tests.worker import QUEUE

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stream_is_planned_and_sent_by_the_workers_once_each(brand, redis_celery, live_worker):
    shop = make_followup_shop(brand)
    now = timezone.now()
    # quiet hours far from now (brand time), so the touches are due at once
    local = timezone.localtime(now, brand.tzinfo)
    shop.policy.quiet_start = (local + dt.timedelta(hours=12)).time().replace(second=0, microsecond=0)
    shop.policy.quiet_end = (
        (local + dt.timedelta(hours=12, minutes=1)).time().replace(second=0, microsecond=0)
    )
    shop.policy.cap_72h = 5
    shop.policy.holdout_percent = Decimal("0")
    shop.stream.started_at, shop.stream.ended_at = now - dt.timedelta(hours=2), now - dt.timedelta(minutes=5)
    shop.stream.save()
    shop.rule.delay_min_hours = shop.rule.delay_max_hours = Decimal("0")
    shop.rule.save()
    FollowupRuleFactory(
        brand=brand, name="second", priority=200, channels=["wecom"], delay_min_hours=0, delay_max_hours=0
    )
    customers = [shop.viewer() for _ in range(30)]
    with Gateway("s3cret") as gateway:
        shop.policy.gateway, shop.policy.webhook_url, shop.policy.webhook_secret = (
            "webhook",
            gateway.url,
            "s3cret",
        )
        shop.policy.save()
        planned = redis_celery.send_task("engagement.plan_followups", args=[shop.stream.pk], queue=QUEUE).get(
            timeout=120
        )
        assert (planned["written"], planned["planned"]) == (60, 60)
        racing = [
            redis_celery.send_task("engagement.send_touches", kwargs={"brand_id": brand.pk}, queue=QUEUE)
            for _ in range(3)
        ]
        results = [r.get(timeout=120) for r in racing]
        # the plan also queued a send task for the touches' minute: it races the three above
        deadline = time.monotonic() + 60
        while Touch.objects.filter(brand=brand, status="sent").count() < 60 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert sum(r["sent"] for r in results) <= 60
    assert Touch.objects.filter(brand=brand, status="sent").count() == 60
    keys = [r["key"] for r in gateway.requests]
    assert len(keys) == len(set(keys)) == 60  # each touch went out once, whichever worker took it
    assert {p["customer_id"] for p in gateway.sent.values()} == {c.external_id for c in customers}
