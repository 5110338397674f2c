"""Periodic schedules, declared once here and synced into django-celery-beat by `setup_periodic_tasks`."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

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


@transaction.atomic
def periodic_tasks_sync() -> dict[str, int]:
    """Create every brand's periodic tasks that are missing. Existing ones keep the time and the enabled flag
    staff may have changed in the admin; their task and arguments are brought up to date. Idempotent."""
    created = updated = 0
    for brand in Brand.objects.order_by("pk"):
        for schedule in BRAND_SCHEDULES:
            name = schedule.name.format(slug=brand.slug)
            kwargs = json.dumps({"brand_id": brand.pk})
            task = PeriodicTask.objects.filter(name=name).first()
            if task is None:
                crontab, _ = CrontabSchedule.objects.get_or_create(
                    minute=schedule.minute,
                    hour=schedule.hour,
                    day_of_week="*",
                    day_of_month="*",
                    month_of_year="*",
                    timezone=brand.timezone,
                )
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
    return {"created": created, "updated": updated}
