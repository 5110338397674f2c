"""Publishing a run: the one transaction in which its scores become the ones readers see, with stage
history, tiers (and the benefits that follow them) and the pruning of old score history."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pandas as pd
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics import selectors
from apps.analytics.models import CustomerScore, ModelRun, ProspectScore, RunKind, RunStatus, StageChange
from apps.analytics.signals import scores_published
from apps.core.bulk import copy_frame, query_frame
from apps.loyalty.tier_refresh import tiers_refresh
from apps.loyalty.tiering import clv_percentile, percentile_below

KEEP_PUBLISHED_RUNS = 12  # score history kept per brand


@transaction.atomic
def model_run_publish(*, run: ModelRun) -> ModelRun:
    """Make the run's scores the ones readers see, record stage changes against the previous published
    run, and keep the last KEEP_PUBLISHED_RUNS runs' scores as history. The seconds of each step are added to
    run.timings as "publish: <step>" (in memory; the caller saves them with the publish's own time)."""
    from apps.brands.models import Brand

    steps: dict[str, float] = {}

    @contextmanager
    def step(name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            steps[f"publish: {name}"] = round(time.perf_counter() - started, 3)

    # one publish per brand at a time; FOR NO KEY UPDATE, not FOR UPDATE: a row another connection inserts
    # that refers to the brand (its foreign key check takes FOR KEY SHARE) must not wait for the publish,
    # which may itself wait for that connection (the next actions prepared beside it)
    Brand.objects.select_for_update(no_key=True).get(pk=run.brand_id)
    if run.status != RunStatus.SUCCEEDED:
        raise ValueError(
            _("Only a succeeded run can be published (this one is %(status)s).") % {"status": run.status}
        )
    previous = selectors.published_run(brand=run.brand)
    if previous is not None:
        previous.status = RunStatus.SUPERSEDED
        previous.save(update_fields=["status", "updated_at"])
    now = timezone.now()
    with step("stage changes"), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {StageChange._meta.db_table}
                (brand_id, customer_id, run_id, from_stage, to_stage, rule, changed_on, created_at, updated_at)
            SELECT s.brand_id, s.customer_id, s.run_id, COALESCE(o.stage, ''), s.stage, s.stage_rule, %s, %s, %s
            FROM {CustomerScore._meta.db_table} s
            LEFT JOIN {CustomerScore._meta.db_table} o
              ON o.brand_id = s.brand_id AND o.run_id = %s AND o.customer_id = s.customer_id
            WHERE s.brand_id = %s AND s.run_id = %s AND (o.stage IS NULL OR o.stage <> s.stage)
            """,
            [
                run.as_of,
                now,
                now,
                previous.pk if previous else -1,
                run.brand_id,
                run.pk,
            ],
        )
    with step("tiers"):
        _tiers_assign(run=run, when=now)
    run.status, run.published_at = RunStatus.PUBLISHED, now
    run.save(update_fields=["status", "published_at", "updated_at", "params"])
    stale = list(
        ModelRun.objects.filter(brand_id=run.brand_id, kind=RunKind.REFRESH, status=RunStatus.SUPERSEDED)
        .order_by("-published_at")
        .values_list("pk", flat=True)[KEEP_PUBLISHED_RUNS - 1 :]
    )
    # the staging's tier inputs (a million rows at a million customers) are not needed any more
    run.__dict__.pop("staged_tiers", None)
    with step("old scores pruned"):
        if stale:
            CustomerScore.objects.filter(brand_id=run.brand_id, run_id__in=stale).delete()
            ProspectScore.objects.filter(brand_id=run.brand_id, run_id__in=stale).delete()
    with step("next actions and win-back"):
        scores_published.send(sender=ModelRun, run=run, previous=previous)
    run.timings = {**run.timings, **steps}
    return run


TIER_INPUTS = (
    "customer_id",
    "clv",
    "churn_probability",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_segment",
    "monetary_total",
    "orders_count",
)


def tier_inputs(*, table: str, run: ModelRun) -> pd.DataFrame:
    """What the tier rules read of the run's scores in `table` (the score table, or the run's staging table),
    by customer id, with each customer's CLV percentile and value-to-date percentile (tiering.percentile_below,
    over the run's scored customers)."""
    with connection.cursor() as cursor:
        scores = query_frame(
            cursor,
            f"SELECT {', '.join(TIER_INPUTS)} FROM {connection.ops.quote_name(table)} "  # noqa: S608 - constants
            "WHERE brand_id = %s AND run_id = %s ORDER BY customer_id",
            [run.brand_id, run.pk],
            dtype={"rfm_segment": object},
        )
    scores["clv"] = scores["clv"].astype(float)
    scores["clv_percentile"] = clv_percentile(scores["clv"])
    # what each customer has been worth so far: total spend, or paid purchases when the log has no amounts
    spend = scores["monetary_total"].astype(float)
    worth = spend if spend.notna().any() else scores["orders_count"].astype(float)
    scores["value_percentile"] = percentile_below(worth)
    return scores


def _tiers_assign(*, run: ModelRun, when) -> None:
    """Tier every scored customer by the brand's rules (history and benefits follow) and record the tier and
    the CLV and value-to-date percentiles on the run's scores. Part of publishing: a tier changes only when its
    scores become the published ones. A refresh has already written them with its scores (staging.py): only
    the rows where they differ now (tier rules or a customer's tier changed meanwhile) are rewritten. When
    that refresh ran in this process, its tier inputs are taken from it (run.staged_tiers) instead of being
    read again, and only the customers whose tier differs from the one written are compared."""
    staged = getattr(run, "staged_tiers", None)
    scores = staged.inputs if staged is not None else tier_inputs(table=CustomerScore._meta.db_table, run=run)
    result = tiers_refresh(brand=run.brand, scores=scores, when=when, run_id=run.pk)
    written = pd.DataFrame(
        {
            "customer_id": result.assignment["customer_id"],
            "tier_id": result.assignment["tier_id"],
            "clv_percentile": scores.set_index("customer_id")["clv_percentile"]
            .reindex(result.assignment["customer_id"])
            .to_numpy(),
            "value_percentile": scores.set_index("customer_id")["value_percentile"]
            .reindex(result.assignment["customer_id"])
            .to_numpy(),
        }
    )
    if staged is not None:
        # this process wrote the scores with these percentiles (from the same inputs) and the tiers it planned
        # then: only the customers whose tier is not the planned one need their row rewritten
        planned = pd.Series(
            pd.array(staged.planned["tier_id"], dtype="Int64"), index=staged.planned["customer_id"].to_numpy()
        )
        before = planned.reindex(written["customer_id"].to_numpy()).to_numpy(dtype="float64", na_value=-1.0)
        now = pd.array(written["tier_id"], dtype="Int64").to_numpy(dtype="float64", na_value=-1.0)
        written = written[before != now]
    if written.empty:
        run.tiers_rewritten = 0
        _tiers_params(run, result)
        return
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _clv_tiers")
        cursor.execute(
            "CREATE TEMP TABLE _clv_tiers (customer_id bigint, tier_id bigint, clv_percentile double precision, "
            "value_percentile double precision)"
        )
        copy_frame("_clv_tiers", written)
        table = CustomerScore._meta.db_table
        cursor.execute(
            f"UPDATE {table} SET tier_id = t.tier_id, clv_percentile = t.clv_percentile, "
            "value_percentile = t.value_percentile FROM _clv_tiers t "
            f"WHERE {table}.brand_id = %s AND {table}.run_id = %s AND {table}.customer_id = t.customer_id "
            f"AND ({table}.tier_id IS DISTINCT FROM t.tier_id "
            f"OR {table}.clv_percentile IS DISTINCT FROM t.clv_percentile "
            f"OR {table}.value_percentile IS DISTINCT FROM t.value_percentile)",
            [run.brand_id, run.pk],
        )
        run.tiers_rewritten = cursor.rowcount  # what work started before the publish read has changed
        cursor.execute("DROP TABLE _clv_tiers")
    _tiers_params(run, result)


def _tiers_params(run: ModelRun, result) -> None:
    run.params = {
        **run.params,
        "tiers": {
            "changes": result.changes,
            "grants_created": result.grants_created,
            "grants_revoked": result.grants_revoked,
            "in_grace": result.in_grace,
        },
    }
