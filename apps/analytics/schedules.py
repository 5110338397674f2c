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
    GlobalSchedule(
        task="customers.cleanup_exports",
        name="delete expired customer exports",
        every_seconds=3600,
        description="Deletes the files of background customer exports past their expiry (7 days).",
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


# Days of the week as crontab numbers (0 = Sunday), in the order staff read them (Monday first).
WEEKDAYS = ["1", "2", "3", "4", "5", "6", "0"]


def _days_field(days) -> str:
    """The crontab day_of_week for these days ("*" for none or all of them)."""
    chosen = [d for d in WEEKDAYS if d in {str(x) for x in days or ()}]
    return "*" if not chosen or len(chosen) == len(WEEKDAYS) else ",".join(chosen)


def _daily_crontab(*, minute: str, hour: str, timezone, days=None) -> CrontabSchedule:
    """The crontab at this time of day (every day, or on these days of the week) and time zone, shared by
    every task that runs then."""
    values = {
        "minute": minute,
        "hour": hour,
        "day_of_week": _days_field(days),
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": timezone,
    }
    crontab = CrontabSchedule.objects.filter(**values).order_by("pk").first()
    return crontab or CrontabSchedule.objects.create(**values)


def daily_time_of(task: PeriodicTask) -> tuple[int, int] | None:
    """(hour, minute) when the task runs once a day at a fixed time; None for any other schedule."""
    when = time_and_days_of(task)
    return None if when is None or when[2] else when[:2]


def time_and_days_of(task: PeriodicTask) -> tuple[int, int, list[str]] | None:
    """(hour, minute, days) when the task runs at a fixed time of day on every day (days == []) or on some
    days of the week (crontab numbers, 0 = Sunday, Monday first); None for any other schedule."""
    crontab = task.crontab
    if crontab is None or (crontab.day_of_month, crontab.month_of_year) != ("*", "*"):
        return None
    if not (crontab.hour.isdigit() and crontab.minute.isdigit()):
        return None
    if crontab.day_of_week == "*":
        days = []
    else:
        days = crontab.day_of_week.split(",")
        if not days or any(d not in WEEKDAYS for d in days):
            return None
        days = [d for d in WEEKDAYS if d in days]
    hour, minute = int(crontab.hour), int(crontab.minute)
    return (hour, minute, days) if hour < 24 and minute < 60 else None


def is_default_task(task: PeriodicTask) -> bool:
    """Whether this is one of the tasks periodic_tasks_sync keeps for every brand (staff may switch it off or
    move it, not delete it: the next sync would bring it back)."""
    brand_id = brand_id_of_task(task)
    if brand_id is None:
        return False
    slug = Brand.objects.filter(pk=brand_id).values_list("slug", flat=True).first()
    return any(task.name == schedule.name.format(slug=slug) for schedule in BRAND_SCHEDULES)


# What a brand's manager may schedule: the task and how staff call it.
MANAGER_TASKS = {"analytics.refresh_scores": _("Refresh scores")}


def brand_task_name(*, brand, task: str, hour: int, minute: int, days=None) -> str:
    """The unique name of a task a manager adds: what, whose, when ("refresh scores: acme at 23:30 on days
    1,3")."""
    name = f"{task.split('.', 1)[-1].replace('_', ' ')}: {brand.slug} at {hour:02d}:{minute:02d}"
    days_field = _days_field(days)
    return name if days_field == "*" else f"{name} on days {days_field}"


@transaction.atomic
def brand_task_add(
    *, brand, task: str, hour: int, minute: int, days=None, enabled: bool = True
) -> PeriodicTask:
    """Another periodic task of the brand (e.g. a refresh after the evening stream): `task` one of
    MANAGER_TASKS, at hour:minute in the brand's time zone, every day or on `days` of the week. Its name says
    what, whose and when; ValidationError when the brand already has that task then."""
    if task not in MANAGER_TASKS:
        raise ValidationError({"task": _("Choose one of the tasks offered.")})
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValidationError({"run_at": _("Choose a time of day between 00:00 and 23:59.")})
    crontab = _daily_crontab(minute=str(minute), hour=str(hour), timezone=brand.timezone, days=days)
    name = brand_task_name(brand=brand, task=task, hour=hour, minute=minute, days=days)
    if PeriodicTask.objects.filter(name=name).exists():
        raise ValidationError({"run_at": _("The brand already has this task at this time.")})
    return PeriodicTask.objects.create(
        name=name,
        task=task,
        crontab=crontab,
        kwargs=brand_task_kwargs(brand.pk),
        enabled=enabled,
        description=str(MANAGER_TASKS[task]),
    )


@transaction.atomic
def brand_task_schedule_set(
    *, task: PeriodicTask, hour: int, minute: int, enabled: bool, days=None
) -> PeriodicTask:
    """Run a brand's task at hour:minute (in the time zone its schedule has, else the brand's) every day or on
    `days` of the week, or switch it off. periodic_tasks_sync keeps what is set here."""
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValidationError(_("Choose a time of day between 00:00 and 23:59."))
    brand_id = brand_id_of_task(task)
    if brand_id is None:
        raise ValueError("not a brand's periodic task")
    if task.crontab is not None:
        zone = task.crontab.timezone
    else:
        zone = Brand.objects.values_list("timezone", flat=True).get(pk=brand_id)
    task.crontab = _daily_crontab(minute=str(minute), hour=str(hour), timezone=zone, days=days)
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
