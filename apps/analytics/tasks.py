"""Celery tasks: thin wrappers that load by id and call the services; and the one way a refresh is asked for
(scores_refresh_request: queued after the transaction commits when a broker is configured, else run here)."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta

from celery import group, shared_task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics import selectors
from apps.analytics.local_workers import local_chunking
from apps.analytics.models import ModelRun, RunKind, RunStatus
from apps.analytics.runs import brand_refresh_locked
from apps.analytics.services import (
    RefreshSkipped,
    chunk_parts_sum,
    score_chunk,
    scores_refresh,
    scores_refresh_check,
    scoring_config_get,
)
from apps.brands.models import Brand

DEFAULT_CHUNKS = 4
logger = logging.getLogger(__name__)


@shared_task(name="analytics.refresh_scores", acks_late=True)
def refresh_scores_task(
    brand_id: int,
    as_of: str | None = None,
    horizon_days: int | None = None,
    chunks: int = DEFAULT_CHUNKS,
    triggered_by: str = "schedule",
    run_id: int | None = None,
) -> dict:
    """Refresh one brand (the nightly schedule, or a request queued by scores_refresh_request, which says who
    asked). With a broker the scoring is split into `chunks` worker tasks; eagerly (the demo) it runs
    in-process. A refresh that finds the brand locked is skipped and says so. `run_id` is the PENDING run
    created when the refresh was asked for: this task fills it."""
    brand = Brand.objects.get(pk=brand_id)
    queued = ModelRun.objects.filter(pk=run_id, brand=brand).first() if run_id else None
    if not settings.CELERY_TASK_ALWAYS_EAGER and chunks > 1:
        chunking = {"chunks": chunks, "score_chunks": _score_chunks_on_workers}
    else:  # no broker (the demo): this machine's cores for a large brand
        chunking = local_chunking(brand)
    try:
        run = scores_refresh(
            brand=brand,
            as_of=date.fromisoformat(as_of) if as_of else None,
            horizon_days=horizon_days,
            triggered_by=triggered_by,
            queued=queued,
            **chunking,
        )
    except RefreshSkipped as exc:
        return {"brand": brand.slug, "status": "skipped", "message": str(exc), "run_id": run_id}
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
        return chunk_parts_sum(parts)

    return wait


# A queued request whose task never started (no worker, a broker that lost it) stops answering new requests
# after this long: the next request queues a fresh run and the stale one is marked failed.
STALE_REQUEST = timedelta(hours=1)


class BrokerUnavailable(Exception):
    """The Celery broker cannot be reached: nothing was queued."""


BROKER_CHECK_SECONDS = 2.0


def broker_check(timeout: float = BROKER_CHECK_SECONDS) -> None:
    """Raise BrokerUnavailable (a message staff can act on) unless the broker answers within `timeout`
    seconds; a refused connection is known at once."""
    from celery import current_app

    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:
        logger.warning("celery broker unreachable: %s", type(exc).__name__)
        raise BrokerUnavailable(
            _(
                "The task queue (Celery broker) cannot be reached, so nothing was queued: check that Redis or "
                "RabbitMQ and the workers are running, then try again."
            )
        ) from None


def scores_refresh_request(
    *, brand, as_of: date | None = None, horizon_days: int | None = None, triggered_by: str = ""
) -> ModelRun:
    """A refresh asked for by staff or an app (the admin's "Refresh now", the refreshScores mutation), checked
    by services.scores_refresh_check, returned as a run at once so the caller can follow it.

    With a Celery broker a PENDING run is created and its task queued once the caller's transaction commits;
    a request while another is still waiting, or while a refresh of the brand is running, gets that run
    (three clicks queue one refresh). Without a broker it runs here and the finished run is returned (raising
    RefreshSkipped when the brand is locked), or, with SCORES_REFRESH_IN_THREAD (the demo's web server), in a
    thread of this process while the PENDING run is returned. ValidationError for a bad date or horizon;
    BrokerUnavailable, within BROKER_CHECK_SECONDS, when the broker does not answer (no run is created)."""
    scores_refresh_check(brand=brand, as_of=as_of, horizon_days=horizon_days)
    eager = settings.CELERY_TASK_ALWAYS_EAGER
    if eager and not getattr(settings, "SCORES_REFRESH_IN_THREAD", False):
        return scores_refresh(
            brand=brand,
            as_of=as_of,
            horizon_days=horizon_days,
            triggered_by=triggered_by[:100],
            **local_chunking(brand),
        )
    if not eager:
        broker_check()
    with transaction.atomic():
        Brand.objects.select_for_update().filter(pk=brand.pk).first()  # one request at a time per brand
        waiting = ModelRun.objects.filter(brand=brand, kind=RunKind.REFRESH, status=RunStatus.PENDING)
        waiting.filter(created_at__lt=timezone.now() - STALE_REQUEST).update(
            status=RunStatus.FAILED,
            phase="",
            message=_("The queued refresh never started: is a worker running?"),
            updated_at=timezone.now(),
        )
        existing = waiting.order_by("-created_at").first()
        if existing is not None:
            return existing
        running = (
            ModelRun.objects.filter(brand=brand, kind=RunKind.REFRESH, status=RunStatus.RUNNING)
            .order_by("-created_at")
            .first()
        )
        if running is not None and brand_refresh_locked(brand):
            return running  # (a RUNNING run without the lock was left by a killed process)
        config = scoring_config_get(brand=brand)
        day = as_of or timezone.now().astimezone(brand.tzinfo).date()
        run = ModelRun.objects.create(
            brand=brand,
            kind=RunKind.REFRESH,
            status=RunStatus.PENDING,
            as_of=day,
            cutoff=selectors.cutoff_for(brand, day),
            horizon_days=horizon_days or config.horizon_days,
            estimator=config.estimator,
            triggered_by=triggered_by[:100],
            phase="queued",
        )
    if eager:
        _refresh_in_thread(run, as_of=as_of, horizon_days=horizon_days, triggered_by=triggered_by)
    else:
        args = (brand.pk, as_of.isoformat() if as_of else None, horizon_days)
        kwargs = {"triggered_by": triggered_by[:100], "run_id": run.pk}
        transaction.on_commit(lambda: _queue(run, args, kwargs))
    return run


def _queue(run: ModelRun, args, kwargs) -> None:
    """Send the refresh task; if the broker went away since the check, the run says so instead of waiting
    for a worker for ever."""
    try:
        refresh_scores_task.delay(*args, **kwargs)
    except Exception as exc:
        logger.warning("could not queue the refresh of run %s: %s", run.pk, type(exc).__name__)
        ModelRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
            status=RunStatus.FAILED,
            phase="",
            message=_("The task queue (Celery broker) could not be reached; the refresh was not queued."),
            updated_at=timezone.now(),
        )


def _refresh_in_thread(run: ModelRun, **options) -> None:
    """The demo's web server has no worker: the refresh runs in a thread of the process, with its own
    database connection, once the request's transaction has committed."""

    def work() -> None:
        try:
            scores_refresh(brand=run.brand, queued=run, **options, **local_chunking(run.brand))
        except RefreshSkipped:
            pass
        except Exception:  # the run is marked failed with the reason by the refresh itself
            logger.exception("refresh of run %s in a thread failed", run.pk)
        finally:
            connection.close()

    transaction.on_commit(
        lambda: threading.Thread(target=work, name=f"refresh-{run.pk}", daemon=True).start()
    )
