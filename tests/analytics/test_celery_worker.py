"""Celery with a real worker and Redis: a refresh split into chunks across worker processes gives exactly
the scores of one process, and a refresh that finds the brand locked is skipped."""

import psycopg
import pytest

from apps.analytics.models import RunStatus
from apps.analytics.services import LOCK_NAMESPACE, scores_refresh
from tests.analytics.conftest import AS_OF, run_scores
from tests.db import connect_kwargs
from tests.worker import QUEUE

pytestmark = pytest.mark.django_db(transaction=True)


def test_chunked_refresh_on_workers_equals_one_process(demo_brand, redis_celery, live_worker):
    # when the refresh runs on the workers, split into three chunks
    result = redis_celery.send_task(
        "analytics.refresh_scores", args=[demo_brand.pk, AS_OF.isoformat()], kwargs={"chunks": 3}, queue=QUEUE
    ).get(timeout=600)
    assert result["status"] == RunStatus.PUBLISHED, result
    distributed = result["run_id"]
    # and again in one process
    single = scores_refresh(brand=demo_brand, as_of=AS_OF)
    # then both scored the same customers with the same figures
    assert single.customers_scored == result["customers_scored"] > 0
    assert run_scores(distributed) == run_scores(single.pk)
    from apps.analytics.models import ModelRun

    assert ModelRun.objects.get(pk=distributed).params["chunks"] == 3


def test_a_refresh_task_that_finds_the_brand_locked_is_skipped(demo_brand, redis_celery, live_worker):
    with psycopg.connect(**connect_kwargs(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, demo_brand.pk])
        result = redis_celery.send_task(
            "analytics.refresh_scores",
            args=[demo_brand.pk, AS_OF.isoformat()],
            kwargs={"chunks": 2},
            queue=QUEUE,
        ).get(timeout=120)
    assert result["status"] == "skipped"
    assert "Another refresh of this brand is running" in result["message"]
