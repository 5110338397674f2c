"""Periodic schedules, declared once here and synced into django-celery-beat by `setup_periodic_tasks`.

Every brand's tasks carry kwargs {"brand_id": N} (written by periodic_tasks_sync in exactly that JSON form):
that is how the admin knows which brand a task belongs to and shows it to that brand's managers only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.brands.models import Brand


@dataclass(frozen=True)
class BrandSchedule:
    task: str
    name: str  # with {slug}
    minute: str
    hour: str
    description: str


BRAND_SCHEDULES = [
    BrandSchedule(
        task="analytics.refresh_scores",
        name="refresh scores: {slug}",
        minute="30",
        hour="2",
        description="Nightly refresh of churn, CLV, stages and tiers, 02:30 in the brand's time zone.",
    ),
]


@dataclass(frozen=True)
class GlobalSchedule:
    """A task for every brand at once, every `every_seconds` (the action layer's safety nets)."""

    task: str
    name: str
    every_seconds: int
    description: str


GLOBAL_SCHEDULES = [
    GlobalSchedule(
        task="engagement.send_touches",
        name="send due follow-up touches",
        every_seconds=60,
        description="Sends every follow-up touch that is due (each is also queued for its own time).",
    ),
    GlobalSchedule(
        task="engagement.attribute_conversions",
        name="attribute orders to follow-up touches",
        every_seconds=900,
        description="Marks touches converted by a paid order within the attribution window.",
    ),
]


def brand_task_kwargs(brand_id: int) -> str:
    """The kwargs of a brand's periodic tasks, as stored."""
    return json.dumps({"brand_id": brand_id})


def brand_id_of_task(task: PeriodicTask) -> int | None:
    """The brand a periodic task works for (None: not a brand's task)."""
    try:
        kwargs = json.loads(task.kwargs or "{}")
    except ValueError:
        return None
    brand_id = kwargs.get("brand_id") if isinstance(kwargs, dict) else None
    return brand_id if isinstance(brand_id, int) and not isinstance(brand_id, bool) else None


def brand_periodic_tasks(brand_ids):
    """The periodic tasks of these brands (as periodic_tasks_sync writes their kwargs)."""
    return PeriodicTask.objects.filter(kwargs__in=[brand_task_kwargs(pk) for pk in brand_ids])


def _daily_crontab(*, minute: str, hour: str, timezone) -> CrontabSchedule:
    """The every-day crontab at this time and time zone, shared by every task that runs then."""
    values = {
        "minute": minute,
        "hour": hour,
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": timezone,
    }
    crontab = CrontabSchedule.objects.filter(**values).order_by("pk").first()
    return crontab or CrontabSchedule.objects.create(**values)


def daily_time_of(task: PeriodicTask) -> tuple[int, int] | None:
    """(hour, minute) when the task runs once a day at a fixed time; None for any other schedule."""
    crontab = task.crontab
    if crontab is None or (crontab.day_of_week, crontab.day_of_month, crontab.month_of_year) != (
        "*",
        "*",
        "*",
    ):
        return None
    if not (crontab.hour.isdigit() and crontab.minute.isdigit()):
        return None
    hour, minute = int(crontab.hour), int(crontab.minute)
    return (hour, minute) if hour < 24 and minute < 60 else None


@transaction.atomic
def brand_task_schedule_set(*, task: PeriodicTask, hour: int, minute: int, enabled: bool) -> PeriodicTask:
    """Run a brand's task every day at hour:minute (in the time zone its schedule has, else the brand's), or
    switch it off. periodic_tasks_sync keeps what is set here."""
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValidationError(_("Choose a time of day between 00:00 and 23:59."))
    brand_id = brand_id_of_task(task)
    if brand_id is None:
        raise ValueError("not a brand's periodic task")
    if task.crontab is not None:
        zone = task.crontab.timezone
    else:
        zone = Brand.objects.values_list("timezone", flat=True).get(pk=brand_id)
    task.crontab = _daily_crontab(minute=str(minute), hour=str(hour), timezone=zone)
    task.interval = task.solar = task.clocked = None
    task.enabled = enabled
    task.save()
    return task


@transaction.atomic
def periodic_tasks_sync() -> dict[str, int]:
    """Create every brand's periodic tasks that are missing. Existing ones keep the time and the enabled flag
    staff may have changed in the admin; their task and arguments are brought up to date. Idempotent."""
    created = updated = 0
    for brand in Brand.objects.order_by("pk"):
        for schedule in BRAND_SCHEDULES:
            name = schedule.name.format(slug=brand.slug)
            kwargs = brand_task_kwargs(brand.pk)
            task = PeriodicTask.objects.filter(name=name).first()
            if task is None:
                crontab = _daily_crontab(minute=schedule.minute, hour=schedule.hour, timezone=brand.timezone)
                PeriodicTask.objects.create(
                    name=name,
                    task=schedule.task,
                    crontab=crontab,
                    kwargs=kwargs,
                    description=schedule.description,
                )
                created += 1
            elif task.task != schedule.task or task.kwargs != kwargs:
                task.task, task.kwargs = schedule.task, kwargs
                task.save(update_fields=["task", "kwargs"])
                updated += 1
    for schedule in GLOBAL_SCHEDULES:
        interval = (
            IntervalSchedule.objects.filter(every=schedule.every_seconds, period=IntervalSchedule.SECONDS)
            .order_by("pk")
            .first()
        ) or IntervalSchedule.objects.create(every=schedule.every_seconds, period=IntervalSchedule.SECONDS)
        task = PeriodicTask.objects.filter(name=schedule.name).first()
        if task is None:
            PeriodicTask.objects.create(
                name=schedule.name, task=schedule.task, interval=interval, description=schedule.description
            )
            created += 1
        elif task.task != schedule.task:
            task.task = schedule.task
            task.save(update_fields=["task"])
            updated += 1
    return {"created": created, "updated": updated}
