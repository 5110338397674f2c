"""Celery tasks of the action layer, thin: load by id, call the service. And the requests that queue them on
commit (with a broker) or run them here (the demo, eagerly)."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.brands.models import Brand
from apps.engagement import attribution, planning, selectors, sending
from apps.engagement.models import FollowupRule, Trigger

logger = logging.getLogger(__name__)

# views of a stream arrive in batches after it ends: plan once they have settled, then again for late ones
PLAN_DELAY_SECONDS = 300
WIN_BACK_MAX_AGE_DAYS = 2


@shared_task(name="engagement.plan_followups", acks_late=True)
def plan_followups_task(stream_id: int) -> dict:
    from apps.streams.models import Stream

    stream = Stream.objects.select_related("brand").get(pk=stream_id)
    cache.delete(_plan_key(stream_id))
    result = planning.followups_plan(brand=stream.brand, stream=stream)
    sends_schedule(brand=stream.brand, times=result.send_times)
    return {"occasion": result.occasion, "written": result.written, "planned": result.planned}


@shared_task(name="engagement.plan_win_back", acks_late=True)
def plan_win_back_task(run_id: int, previous_id: int | None = None) -> dict:
    from apps.analytics.models import ModelRun

    run = ModelRun.objects.select_related("brand").defer("engine").get(pk=run_id)
    previous = ModelRun.objects.defer("engine").filter(pk=previous_id).first() if previous_id else None
    ids = selectors.win_back_entrants(run=run, previous=previous)
    result = planning.win_back_plan(brand=run.brand, run=run, customer_ids=ids)
    sends_schedule(brand=run.brand, times=result.send_times)
    return {"occasion": result.occasion, "written": result.written, "planned": result.planned}


@shared_task(name="engagement.send_touches", acks_late=True)
def send_touches_task(brand_id: int | None = None) -> dict:
    brand = Brand.objects.get(pk=brand_id) if brand_id else None
    result = sending.touches_send_due(brand=brand)
    return {
        "claimed": result.claimed,
        "sent": result.sent,
        "failed": result.failed,
        "suppressed": result.suppressed,
    }


@shared_task(name="engagement.attribute_conversions", acks_late=True)
def attribute_conversions_task() -> dict:
    converted = {}
    for brand in Brand.objects.order_by("pk"):
        converted[brand.slug] = attribution.touches_attribute(brand=brand)
    return converted


def _plan_key(stream_id: int) -> str:
    return f"engagement:plan:{stream_id}"


def sends_schedule(*, brand, times: list[dt.datetime]) -> None:
    """With a broker, one send task per minute that has planned touches, at that minute (the every-minute
    schedule is the safety net). Without one (the demo) nothing is queued: `send_touches` sends what is due."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    for when in times:
        transaction.on_commit(
            lambda when=when: send_touches_task.apply_async(kwargs={"brand_id": brand.pk}, eta=when)
        )


def followups_plan_request(*, brand, stream_ids: list[int], now: dt.datetime | None = None) -> list[int]:
    """Plan the follow-ups of these streams if their window is still open (ended within the longest window
    of the brand's active stream-end rules). With a broker, planned PLAN_DELAY_SECONDS later and once per
    stream meanwhile, so views arriving in batches are planned together; eagerly, planned now. Returns the
    ids of the streams planned or queued."""
    from apps.streams.models import Stream

    now = now or timezone.now()
    windows = FollowupRule.objects.filter(
        brand=brand, is_active=True, trigger=Trigger.STREAM_END
    ).values_list("window_hours", flat=True)
    if not windows:
        return []
    open_since = now - dt.timedelta(hours=max(windows))
    streams = list(
        Stream.objects.filter(brand=brand, pk__in=stream_ids, ended_at__gte=open_since, ended_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for stream_id in streams:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            transaction.on_commit(lambda s=stream_id: plan_followups_task.apply(args=[s]))
        elif cache.add(_plan_key(stream_id), 1, timeout=PLAN_DELAY_SECONDS * 2):
            transaction.on_commit(
                lambda s=stream_id: plan_followups_task.apply_async(args=[s], countdown=PLAN_DELAY_SECONDS)
            )
    return streams


def win_back_plan_request(*, run, previous=None) -> None:
    """Plan win-back for a run just published (after its transaction commits), if the brand has an active
    win-back rule and the run scores the present (as of at most WIN_BACK_MAX_AGE_DAYS ago in the brand's
    time zone): a run published for a past date says nothing about whom to contact now."""
    today = timezone.localtime(timezone.now(), run.brand.tzinfo).date()
    if (today - run.as_of).days > WIN_BACK_MAX_AGE_DAYS:
        return
    if not FollowupRule.objects.filter(
        brand_id=run.brand_id, is_active=True, trigger=Trigger.WIN_BACK
    ).exists():
        return
    args = [run.pk, previous.pk if previous else None]
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: plan_win_back_task.apply(args=args))
    else:
        transaction.on_commit(lambda: plan_win_back_task.apply_async(args=args))
