"""Celery tasks: thin wrappers that load by id and call the services."""

from __future__ import annotations

from datetime import date

from celery import group, shared_task
from django.conf import settings

from apps.analytics.services import RefreshSkipped, score_chunk, scores_refresh
from apps.brands.models import Brand

DEFAULT_CHUNKS = 4


@shared_task(name="analytics.refresh_scores", acks_late=True)
def refresh_scores_task(
    brand_id: int, as_of: str | None = None, horizon_days: int | None = None, chunks: int = DEFAULT_CHUNKS
) -> dict:
    """Refresh one brand. With a broker the scoring is split into `chunks` worker tasks; eagerly (the demo)
    it runs in-process. A refresh that finds the brand locked is skipped and says so."""
    brand = Brand.objects.get(pk=brand_id)
    distributed = not settings.CELERY_TASK_ALWAYS_EAGER and chunks > 1
    try:
        run = scores_refresh(
            brand=brand,
            as_of=date.fromisoformat(as_of) if as_of else None,
            horizon_days=horizon_days,
            triggered_by="celery",
            chunks=chunks if distributed else 1,
            score_chunks=_score_chunks_on_workers if distributed else None,
        )
    except RefreshSkipped as exc:
        return {"brand": brand.slug, "status": "skipped", "message": str(exc)}
    return {
        "brand": brand.slug,
        "status": run.status,
        "run_id": run.pk,
        "customers_scored": run.customers_scored,
    }


@shared_task(name="analytics.score_chunk", acks_late=True)
def score_chunk_task(run_id: int, low: int, high: int) -> dict:
    scored, timings = score_chunk(run_id=run_id, customer_ids=(low, high))
    return {"scored": scored, "timings": timings}


def _score_chunks_on_workers(run, ranges):
    """Queue one task per id range now; the function returned waits for them. The refresh task holds the
    brand's advisory lock until publish and waits for its chunks, so workers need a concurrency of at least
    2 (one slot waits, the others score)."""
    result = group(score_chunk_task.s(run.pk, low, high) for low, high in ranges).apply_async()

    def wait() -> tuple[int, dict[str, float]]:
        parts = result.get(disable_sync_subtasks=False, propagate=True)
        timings: dict[str, float] = {}
        for part in parts:
            for phase, seconds in part["timings"].items():
                timings[phase] = timings.get(phase, 0.0) + seconds
        return sum(part["scored"] for part in parts), timings

    return wait


@shared_task(name="analytics.refresh_all_brands")
def refresh_all_brands_task() -> list[int]:
    """Queue a refresh of every brand (what the nightly schedule runs when no per-brand one is set)."""
    ids = list(Brand.objects.values_list("pk", flat=True))
    for brand_id in ids:
        refresh_scores_task.delay(brand_id)
    return ids
