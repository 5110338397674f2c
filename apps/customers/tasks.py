"""Celery tasks of the customers app, thin: a background export of the customer list, and the periodic
deletion of expired export files (apps.analytics.schedules.GLOBAL_SCHEDULES)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="customers.export_customers", acks_late=True)
def export_customers_task(job_id: int) -> dict:
    from apps.customers.admin.exports import job_run

    return job_run(job_id)


@shared_task(name="customers.cleanup_exports", acks_late=True)
def cleanup_exports_task() -> dict:
    from apps.customers.admin.exports import jobs_expire

    return {"expired": jobs_expire()}
