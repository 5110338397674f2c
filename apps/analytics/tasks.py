"""Celery tasks: thin wrappers that load by id and call the services; and the one way a refresh is asked for
(scores_refresh_request: queued after the transaction commits when a broker is configured, else run here)."""

from __future__ import annotations

from datetime import date

from celery import group, shared_task
from django.conf import settings
from django.db import transaction

from apps.analytics.models import ModelRun
from apps.analytics.services import RefreshSkipped, score_chunk, scores_refresh, scores_refresh_check
from apps.brands.models import Brand

DEFAULT_CHUNKS = 4


@shared_task(name="analytics.refresh_scores", acks_late=True)
def refresh_scores_task(
    brand_id: int,
    as_of: str | None = None,
    horizon_days: int | None = None,
    chunks: int = DEFAULT_CHUNKS,
    triggered_by: str = "schedule",
) -> dict:
    """Refresh one brand (the nightly schedule, or a request queued by scores_refresh_request, which says who
    asked). With a broker the scoring is split into `chunks` worker tasks; eagerly (the demo) it runs
    in-process. A refresh that finds the brand locked is skipped and says so."""
    brand = Brand.objects.get(pk=brand_id)
    distributed = not settings.CELERY_TASK_ALWAYS_EAGER and chunks > 1
    try:
        run = scores_refresh(
            brand=brand,
            as_of=date.fromisoformat(as_of) if as_of else None,
            horizon_days=horizon_days,
            triggered_by=triggered_by,
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


def scores_refresh_request(
    *, brand, as_of: date | None = None, horizon_days: int | None = None, triggered_by: str = ""
) -> ModelRun | None:
    """A refresh asked for by staff or an app (the admin's "Refresh now", the refreshScores mutation), checked
    by services.scores_refresh_check. With a Celery broker it is queued for the workers once the caller's
    transaction commits, keeping who asked, and None is returned; without one (the demo) it runs here and
    its run is returned. Raises RefreshSkipped when a refresh of the brand is already running."""
    scores_refresh_check(brand=brand, as_of=as_of, horizon_days=horizon_days)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return scores_refresh(
            brand=brand, as_of=as_of, horizon_days=horizon_days, triggered_by=triggered_by[:100]
        )
    args = (brand.pk, as_of.isoformat() if as_of else None, horizon_days)
    transaction.on_commit(lambda: refresh_scores_task.delay(*args, triggered_by=triggered_by[:100]))
    return None
