"""Celery with a real worker and Redis: a refresh split into chunks across worker processes gives exactly
the scores of one process, and a refresh that finds the brand locked is skipped."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from celery import Celery

from apps.analytics.models import CustomerScore, RunStatus
from apps.analytics.services import LOCK_NAMESPACE, scores_refresh
from tests.analytics.conftest import AS_OF
from tests.db import connect_kwargs, database_url

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/15"
QUEUE = f"clv-test-{os.getpid()}"  # a queue of its own: no other worker can take these tasks


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def client():
    """A Celery client of its own on Redis: the project's app stays eager for the rest of the suite."""
    if not _redis_answers():
        pytest.skip("No Redis answers on 127.0.0.1:6379 and none could be started (scripts/redis.sh).")
    celery = Celery("clv-test-client", broker=REDIS, backend=REDIS)
    yield celery
    celery.close()


@pytest.fixture
def worker(client):
    """A real Celery worker (3 processes) on Redis, using this test's database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clvsite.settings.local",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": REDIS,
        "CELERY_RESULT_BACKEND": REDIS,
        "LANGUAGE_CODE": "en",
        "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "clvsite",
            "worker",
            "-c",
            "3",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            QUEUE,
            "-n",
            f"{QUEUE}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so _stop reaches the pool processes too
    )
    try:
        deadline = time.monotonic() + 60
        while not client.control.ping(timeout=1):
            assert process.poll() is None, f"the worker exited with {process.returncode}"
            assert time.monotonic() < deadline, "the worker did not start"
        yield process
    finally:
        _stop(process)
        time.sleep(1)
        with pytest.raises(ProcessLookupError):  # nothing of the worker's group is left running
            os.killpg(process.pid, 0)


def _stop(process):
    """Stop the worker and its children (its own process group), forcefully if it lingers."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def scores(run_id):
    return {
        row[0]: row[1:]
        for row in CustomerScore.objects.filter(run_id=run_id).values_list(
            "customer_id",
            "stage",
            "stage_rule",
            "p_purchase_horizon",
            "clv",
            "expected_revenue_horizon",
            "median_days_to_next_purchase",
            "survival_curve",
            "rfm_segment",
        )
    }


def test_chunked_refresh_on_workers_equals_one_process(demo_brand, client, worker):
    # when the refresh runs on the workers, split into three chunks
    result = client.send_task(
        "analytics.refresh_scores", args=[demo_brand.pk, AS_OF.isoformat()], kwargs={"chunks": 3}, queue=QUEUE
    ).get(timeout=600)
    assert result["status"] == RunStatus.PUBLISHED, result
    distributed = result["run_id"]
    # and again in one process
    single = scores_refresh(brand=demo_brand, as_of=AS_OF)
    # then both scored the same customers with the same figures
    assert single.customers_scored == result["customers_scored"] > 0
    assert scores(distributed) == scores(single.pk)
    from apps.analytics.models import ModelRun

    assert ModelRun.objects.get(pk=distributed).params["chunks"] == 3


def test_a_refresh_task_that_finds_the_brand_locked_is_skipped(demo_brand, client, worker):
    with psycopg.connect(**connect_kwargs(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, demo_brand.pk])
        result = client.send_task(
            "analytics.refresh_scores",
            args=[demo_brand.pk, AS_OF.isoformat()],
            kwargs={"chunks": 2},
            queue=QUEUE,
        ).get(timeout=120)
    assert result["status"] == "skipped"
    assert "Another refresh of this brand is running" in result["message"]
