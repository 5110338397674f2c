"""Faults around a refresh: a process killed while holding the brand's lock releases it at once, a refresh
killed before its publish committed never looks succeeded, and its rows are removed by the next refresh."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest
from django.conf import settings

from apps.analytics.models import CustomerScore, ModelRun, ProspectScore, RunStatus
from apps.analytics.services import LOCK_NAMESPACE, scores_refresh
from tests.analytics.conftest import AS_OF
from tests.db import connect_kwargs

pytestmark = pytest.mark.django_db

HOLDER = """
import sys, psycopg
conn = psycopg.connect(sys.argv[1], options=sys.argv[2], autocommit=True)
conn.execute("SELECT pg_advisory_lock(%s, %s)", [int(sys.argv[3]), 424242])
print(conn.info.backend_pid, flush=True)
conn.execute("SELECT pg_sleep(20)")
"""


def _kill_a_lock_holder_mid_query(options: str) -> tuple[float | None, int]:
    """Start a process that takes a brand's refresh lock and runs a long query, kill -9 it, and return how
    many seconds until the lock could be taken (None: not within 4 s) and the holder's backend pid."""
    params = connect_kwargs()
    dsn = " ".join(f"{k}={v}" for k, v in params.items())
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, dsn, options, str(LOCK_NAMESPACE)], stdout=subprocess.PIPE, text=True
    )
    backend_pid = int(holder.stdout.readline())
    time.sleep(0.3)  # into pg_sleep
    holder.kill()
    holder.wait()
    killed = time.monotonic()
    with psycopg.connect(**params, autocommit=True) as probe:
        while time.monotonic() - killed < 4:
            if probe.execute("SELECT pg_try_advisory_lock(%s, 424242)", [LOCK_NAMESPACE]).fetchone()[0]:
                probe.execute("SELECT pg_advisory_unlock(%s, 424242)", [LOCK_NAMESPACE])
                return time.monotonic() - killed, backend_pid
            time.sleep(0.1)
        probe.execute("SELECT pg_terminate_backend(%s)", [backend_pid])  # the orphan would sleep on
    return None, backend_pid


def test_a_killed_refresh_process_releases_the_brands_lock_within_two_seconds():
    options = settings.DATABASES["default"]["OPTIONS"]["options"]
    assert "client_connection_check_interval=1000" in options
    seconds, _pid = _kill_a_lock_holder_mid_query(options)
    assert seconds is not None and seconds < 2.0, seconds
    # without the session options the orphaned backend keeps the lock while its query runs
    seconds, _pid = _kill_a_lock_holder_mid_query("")
    assert seconds is None


def test_a_refresh_killed_during_publish_never_looks_succeeded_and_the_next_one_removes_its_rows(
    demo_brand, monkeypatch
):
    import apps.analytics.services as services

    def killed(**kwargs):
        raise KeyboardInterrupt  # what the database sees of a kill: the publish never commits

    monkeypatch.setattr(services, "model_run_publish", killed)
    with pytest.raises(KeyboardInterrupt):
        scores_refresh(brand=demo_brand, as_of=AS_OF)
    dead = ModelRun.objects.get(brand=demo_brand)
    assert dead.status == RunStatus.RUNNING and dead.published_at is None
    leaked = CustomerScore.objects.filter(run=dead).count()
    assert leaked > 0 and ProspectScore.objects.filter(run=dead).exists()
    monkeypatch.undo()
    # the next refresh closes it as interrupted and removes what it wrote
    run = scores_refresh(brand=demo_brand, as_of=AS_OF)
    assert run.status == RunStatus.PUBLISHED
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "Interrupted before it finished" in dead.message
    assert not CustomerScore.objects.filter(run=dead).exists()
    assert not ProspectScore.objects.filter(run=dead).exists()
    assert CustomerScore.objects.filter(run=run).count() == leaked


def test_refresh_scores_exits_with_a_distinct_status_for_each_outcome():
    """0 published (tests/analytics/test_refresh.py), 3 skipped for too little data, 75 another refresh of the
    brand is running; a message and no traceback."""
    from django.core.management import CommandError, call_command

    from tests.factories import BrandFactory, CustomerFactory, OrderFactory

    brand = BrandFactory(slug="tiny")
    OrderFactory.create_batch(2, brand=brand, customer=CustomerFactory(brand=brand))
    with pytest.raises(CommandError) as skipped:
        call_command("refresh_scores", "--brand", "tiny", "--as-of", AS_OF.isoformat())
    assert skipped.value.returncode == 3 and "Skipped: Only 1 buyer up to" in str(skipped.value)
    with psycopg.connect(**connect_kwargs(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, brand.pk])
        with pytest.raises(CommandError) as locked:
            call_command("refresh_scores", "--brand", "tiny", "--as-of", AS_OF.isoformat())
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, brand.pk])
    assert locked.value.returncode == 75 and "Another refresh of this brand is running" in str(locked.value)


def test_a_failing_refresh_command_names_the_failed_run_without_a_traceback(demo_brand, monkeypatch):
    from django.core.management import CommandError, call_command

    import apps.analytics.services as services

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "predict_frame_prepare", boom)
    with pytest.raises(CommandError) as failed:
        call_command("refresh_scores", "--brand", "demo", "--as-of", AS_OF.isoformat())
    run = ModelRun.objects.get(brand=demo_brand)
    assert failed.value.returncode == 1
    assert str(failed.value) == f"The refresh failed (run {run.pk}): RuntimeError"
    assert run.status == RunStatus.FAILED and "disk full" in run.message
