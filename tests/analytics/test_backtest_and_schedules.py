from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.analytics.models import ModelRun, RunKind, RunStatus
from tests.analytics.conftest import AS_OF
from tests.factories import BrandFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_backtest_prints_the_model_beside_both_baselines_and_stores_it(demo_brand, capsys):
    # when
    call_command("backtest", "--brand", "demo", "--as-of", "2026-03-31", "--horizon-days", "60")
    out = capsys.readouterr().out
    # then the table names every metric and every model, and the run is stored with its metrics
    for text in (
        "Model",
        "Naive RFM",
        "Kaplan-Meier by stage",
        "AUC of buying again within the horizon",
        "Top-decile revenue capture",
        "Total revenue forecast error",
        "Brier score",
        "Calibration of the model",
    ):
        assert text in out
    run = ModelRun.objects.get(brand=demo_brand, kind=RunKind.BACKTEST)
    assert run.status == RunStatus.SUCCEEDED and run.horizon_days == 60 and run.as_of == date(2026, 3, 31)
    overall = run.metrics["overall"]
    assert run.metrics["follow_up_days"] == 60.0 and run.metrics["horizon_days"] == 60
    for model in ("model", "naive_rfm", "kaplan_meier_by_stage"):
        assert 0.5 < overall[model]["auc_horizon"] <= 1
        assert overall[model]["revenue_actual"] > 0
    assert f"{overall['model']['auc_horizon']:.3f}" in out
    assert not run.scores.exists()  # a backtest publishes nothing


def test_backtest_refuses_a_window_that_has_not_happened_yet(demo_brand):
    recent = (timezone.now() - timedelta(days=10)).date().isoformat()
    with pytest.raises(CommandError, match="after today: pick an as-of date at least 90 days ago"):
        call_command("backtest", "--brand", "demo", "--as-of", recent)


def test_setup_periodic_tasks_is_idempotent_and_keeps_staff_changes():
    shanghai, berlin = BrandFactory(slug="sh"), BrandFactory(slug="be", timezone="Europe/Berlin")
    call_command("setup_periodic_tasks")
    task = PeriodicTask.objects.get(name="refresh scores: be")
    assert task.task == "analytics.refresh_scores" and task.kwargs == f'{{"brand_id": {berlin.pk}}}'
    assert (task.crontab.hour, task.crontab.minute, str(task.crontab.timezone)) == (
        "2",
        "30",
        "Europe/Berlin",
    )
    assert PeriodicTask.objects.get(name="refresh scores: sh").crontab.timezone.key == shanghai.timezone
    # staff move the Berlin refresh to 04:00 and switch it off
    task.crontab = CrontabSchedule.objects.create(minute="0", hour="4", timezone="Europe/Berlin")
    task.enabled = False
    task.save()
    counts = (PeriodicTask.objects.count(), CrontabSchedule.objects.count())
    # when the command runs again
    call_command("setup_periodic_tasks")
    # then nothing is added and the staff change stays
    assert (PeriodicTask.objects.count(), CrontabSchedule.objects.count()) == counts
    task.refresh_from_db()
    assert (task.crontab.hour, task.enabled) == ("4", False)


def test_refresh_task_runs_in_process_when_eager(demo_brand):
    from apps.analytics.tasks import refresh_scores_task

    result = refresh_scores_task.delay(demo_brand.pk, AS_OF.isoformat()).get()
    assert result["status"] == RunStatus.PUBLISHED and result["customers_scored"] > 0
    assert "chunks" not in ModelRun.objects.get(pk=result["run_id"]).params
