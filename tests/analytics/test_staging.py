"""A refresh writes each score row once, with its tier and percentiles (apps/analytics/staging.py): publishing
rewrites only the rows whose tier changed in between, and no staging table outlives its run."""

from datetime import timedelta

import pandas as pd
import pytest
from django.db import connection

from apps.analytics import selectors
from apps.analytics.models import CustomerScore, ModelRun, RunStatus
from apps.analytics.services import model_run_execute, model_run_publish, scores_refresh
from apps.analytics.staging import stage_run_ids
from apps.customers.models import Customer
from apps.loyalty.models import Tier, TierRule
from apps.loyalty.selectors import customer_current_tiers
from tests.analytics.conftest import AS_OF

pytestmark = pytest.mark.django_db


def _rows(run) -> dict[int, tuple]:
    """customer_id → (row location, tier, CLV percentile, value percentile) of the run's score rows; an UPDATE
    moves a row to a new location (ctid)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_id, ctid::text, tier_id, clv_percentile, value_percentile "
            "FROM analytics_customerscore WHERE run_id = %s",
            [run.pk],
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _scored_aside(brand) -> ModelRun:
    """A second run scored after a published first one, not yet published."""
    scores_refresh(brand=brand, as_of=AS_OF - timedelta(days=30))
    run = ModelRun.objects.create(
        brand=brand,
        as_of=AS_OF,
        cutoff=selectors.cutoff_for(brand, AS_OF),
        horizon_days=90,
        estimator="coxph",
    )
    model_run_execute(run=run)
    assert run.status == RunStatus.SUCCEEDED
    return run


def test_scores_are_written_with_their_tiers_and_percentiles_and_publishing_rewrites_none(demo_brand):
    run = _scored_aside(demo_brand)
    before = _rows(run)
    assert len(before) == run.customers_scored > 300
    assert len({row[1] for row in before.values()} - {None}) >= 2
    # every scored customer has a tier but those who opted out of automated decisions (they keep theirs)
    opted_out = set(
        Customer.objects.filter(brand=demo_brand, automated_decisions_opt_out=True).values_list(
            "pk", flat=True
        )
    )
    assert {c for c, row in before.items() if row[1] is None} == opted_out & set(before)
    clv_pct = sorted(row[2] for row in before.values())
    assert clv_pct[0] == 0.0 and 90 < clv_pct[-1] <= 100
    assert all(row[3] is not None for row in before.values())
    assert not stage_run_ids()  # moved into the score table and dropped
    model_run_publish(run=run)
    after = _rows(run)
    assert after == before  # the same tiers and percentiles, and not one row rewritten
    history = customer_current_tiers(brand=demo_brand).set_index("customer_id")["tier_id"]
    assert all(int(history[c]) == row[1] for c, row in after.items() if row[1] is not None)


@pytest.mark.parametrize("in_process", [True, False], ids=["the refresh's own process", "another process"])
def test_publishing_rewrites_the_tiers_that_changed_after_the_scores_were_written(demo_brand, in_process):
    """The publish in the refresh's process starts from the tier inputs the scores were written with
    (run.staged_tiers); another process reads them again. Both rewrite exactly the rows whose tier changed."""
    run = _scored_aside(demo_brand)
    assert hasattr(run, "staged_tiers")
    if not in_process:
        run = ModelRun.objects.get(pk=run.pk)
        run.status = RunStatus.SUCCEEDED  # stored as running until its publish commits
    before = _rows(run)
    # staff raise the top tier's bar between the scoring and the publish
    top = Tier.objects.filter(brand=demo_brand, is_active=True).order_by("rank").first()
    rule = TierRule.objects.get(tier=top)
    rule.min_clv_percentile, rule.min_clv = 99, None
    rule.save()
    model_run_publish(run=run)
    after = _rows(run)
    moved = {c for c in after if after[c][0] != before[c][0]}
    assert moved and len(moved) < len(after)  # only the rows whose tier changed were rewritten
    assert run.tiers_rewritten == len(moved)
    assert not hasattr(run, "staged_tiers")  # not kept past the publish
    assert all(after[c][1] != before[c][1] for c in moved)
    assert all(after[c][1:] == before[c][1:] for c in set(after) - moved)
    # the score rows say what the tier history says
    history = customer_current_tiers(brand=demo_brand).set_index("customer_id")["tier_id"]
    assert {c: row[1] for c, row in after.items() if row[1] is not None} == {
        c: (None if pd.isna(t) else int(t)) for c, t in history.items() if c in after
    }


def test_a_failed_run_drops_its_staging_table_and_a_killed_ones_is_dropped_by_the_next_refresh(
    demo_brand, monkeypatch
):
    import apps.analytics.services as services

    def moved_then_killed(run, **kwargs):
        raise KeyboardInterrupt  # a kill: nothing of the process's own cleanup runs

    monkeypatch.setattr(services, "scores_stage_move", moved_then_killed)
    with pytest.raises(KeyboardInterrupt):
        scores_refresh(brand=demo_brand, as_of=AS_OF)
    killed = ModelRun.objects.get(brand=demo_brand)
    assert stage_run_ids() == {killed.pk}
    monkeypatch.undo()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "scores_stage_write", boom)
    with pytest.raises(RuntimeError):
        scores_refresh(brand=demo_brand, as_of=AS_OF)
    failed = ModelRun.objects.filter(brand=demo_brand).latest("pk")
    assert failed.status == RunStatus.FAILED
    assert stage_run_ids() == set()  # the failed run dropped its own; the killed one's went when it started
    monkeypatch.undo()
    assert scores_refresh(brand=demo_brand, as_of=AS_OF).status == RunStatus.PUBLISHED
    assert not stage_run_ids() and not CustomerScore.objects.filter(run__in=[killed, failed]).exists()
