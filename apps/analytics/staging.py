"""A refresh's scores are written aside first, then moved into the score table once, complete.

    scores_stage_create(run)                 an empty unlogged table for the run's scores (no index)
    scores_stage_write(run, frame, ids)      a chunk's rows (its id range replaced: a retried chunk is idempotent)
    scores_stage_move(run, connections=N)    percentiles and tiers over every staged row, then one INSERT …
                                             SELECT per id range into analytics_customerscore (N at once)
    scores_stage_drop(run_id)                the run's staging tables, if any

Why: a score row's CLV and value percentiles and its tier depend on every customer of the run, so a chunk
cannot know them when it writes. Written straight into the score table, they had to be filled in afterwards by
an UPDATE of every row: at 1M customers that rewrote ~1.5 GB of rows and eight indexes (126 s on the 2-core
bench machine, more than the writes themselves). Staged rows cost an unindexed, unlogged COPY; each score row
is then written once, with its tier and percentiles. The tiers stored here are the ones publishing will apply
(publishing re-plans them and rewrites only the rows where they differ, e.g. when the tier rules changed in
between); tier history and benefits still change only when the run is published.

The staging tables are named after the run, live only while it is scored, and are dropped when the scores are
moved, when the run fails, or (after a killed process) by the next refresh of the brand
(services.interrupted_runs_close). They hold database ids and figures, never a name or phone.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.analytics.models import CustomerScore, ModelRun
from apps.core.bulk import copy_frame

PREFIX = "_clv_score_stage_"
NAME = re.compile(rf"^{PREFIX}(\d+)(_tiers)?$")

# The columns a chunk writes (services._score_rows); the score table's other columns (id, tier_id and the two
# percentiles) are filled when the rows are moved.
STAGED_COLUMNS = (
    "brand_id",
    "run_id",
    "customer_id",
    "stage",
    "stage_rule",
    "rhythm_days",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_segment",
    "orders_count",
    "monetary_total",
    "last_purchase_at",
    "days_since_last_purchase",
    "p_purchase_horizon",
    "churn_probability",
    "expected_revenue_horizon",
    "clv",
    "median_days_to_next_purchase",
    "survival_curve",
    "top_covariates",
    "created_at",
    "updated_at",
)
TIER_COLUMNS = ("tier_id", "clv_percentile", "value_percentile")


def stage_table(run_id: int) -> str:
    return f"{PREFIX}{int(run_id)}"


def _tiers_table(run_id: int) -> str:
    return f"{stage_table(run_id)}_tiers"


def scores_stage_create(run: ModelRun) -> None:
    """An empty staging table for the run's scores, typed like the score table (replacing any left over)."""
    scores_stage_drop(run.pk)
    table = connection.ops.quote_name(stage_table(run.pk))
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE UNLOGGED TABLE {table} AS SELECT {', '.join(STAGED_COLUMNS)} "  # noqa: S608 - constants
            f"FROM {CustomerScore._meta.db_table} WITH NO DATA"
        )


def scores_stage_write(run: ModelRun, frame: pd.DataFrame, customer_ids: tuple[int, int] | None) -> int:
    """Stage a chunk's score rows (frame columns: STAGED_COLUMNS), replacing the range's earlier ones."""
    if tuple(frame.columns) != STAGED_COLUMNS:
        raise ValueError(f"staged score columns differ: {list(frame.columns)}")
    table = connection.ops.quote_name(stage_table(run.pk))
    with transaction.atomic():
        with connection.cursor() as cursor:
            if customer_ids is None:
                cursor.execute(f"TRUNCATE {table}")
            else:
                cursor.execute(
                    f"DELETE FROM {table} WHERE customer_id BETWEEN %s AND %s",  # noqa: S608 - our name
                    list(customer_ids),
                )
        return copy_frame(stage_table(run.pk), frame)


def scores_stage_drop(run_id: int) -> None:
    with connection.cursor() as cursor:
        for name in (_tiers_table(run_id), stage_table(run_id)):
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(name)}")


def stage_run_ids() -> set[int]:
    """The runs that have staging tables now (a live refresh's, or ones a killed process left)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE %s",
            [PREFIX.replace("_", r"\_") + "%"],
        )
        names = [row[0] for row in cursor.fetchall()]
    return {int(match.group(1)) for name in names if (match := NAME.match(name))}


@dataclass
class StagedTiers:
    """What scores_stage_move read and wrote with a run's scores: the tier rules' inputs (publishing.tier_inputs,
    with the percentiles written) and the tier each customer was written with (customer_id, tier_id)."""

    inputs: pd.DataFrame
    planned: pd.DataFrame


def scores_stage_move(run: ModelRun, *, connections_at_once: int = 1) -> int:
    """Move the run's staged scores into the score table, each row with its CLV and value percentiles (over
    every staged row) and the tier the brand's rules give it now; `connections_at_once` INSERT … SELECT
    statements over id ranges run at once (each in a connection of its own, so only when the staged rows are
    committed: the refresh's processes wrote them). Replaces the run's score rows if any; drops the staging
    tables. Returns how many rows were moved."""
    from apps.analytics.publishing import tier_inputs
    from apps.loyalty.tier_refresh import tiers_planned

    staged = stage_table(run.pk)
    tiers = _tiers_table(run.pk)
    scores = tier_inputs(table=staged, run=run)
    planned = tiers_planned(brand=run.brand, scores=scores, when=timezone.now())
    # the publish that follows in this process tiers the same scores again: it starts from these
    run.staged_tiers = StagedTiers(inputs=scores, planned=planned)
    written = pd.DataFrame(
        {
            "customer_id": planned["customer_id"],
            "tier_id": planned["tier_id"],
            "clv_percentile": scores["clv_percentile"].to_numpy(),
            "value_percentile": scores["value_percentile"].to_numpy(),
        }
    )
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(tiers)}")
        cursor.execute(
            f"CREATE UNLOGGED TABLE {quote(tiers)} (customer_id bigint PRIMARY KEY, tier_id bigint, "
            "clv_percentile double precision, value_percentile double precision)"
        )
        copy_frame(tiers, written)
        CustomerScore.objects.filter(brand_id=run.brand_id, run=run).delete()
    columns = [*STAGED_COLUMNS, *TIER_COLUMNS]
    insert = (
        f"INSERT INTO {CustomerScore._meta.db_table} ({', '.join(columns)}) "  # noqa: S608 - constants
        f"SELECT {', '.join('s.' + c for c in STAGED_COLUMNS)}, "
        f"{', '.join('t.' + c for c in TIER_COLUMNS)} "
        f"FROM {quote(staged)} s JOIN {quote(tiers)} t USING (customer_id) "
        "WHERE s.customer_id BETWEEN %s AND %s"
    )
    ids = written["customer_id"].to_numpy()
    ranges = _id_ranges(ids, max(1, connections_at_once))
    if len(ranges) <= 1:
        moved = _insert(insert, ranges[0]) if ranges else 0
    else:
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            moved = sum(pool.map(lambda bounds: _insert_in_own_connection(insert, bounds), ranges))
    scores_stage_drop(run.pk)
    return moved


def _id_ranges(ids, parts: int) -> list[tuple[int, int]]:
    """Up to `parts` contiguous (low, high) ranges of about as many of the `ids` each."""
    ids = np.sort(np.asarray(ids, dtype="int64"))
    if not len(ids):
        return []
    size = -(-len(ids) // parts)
    return [(int(ids[i]), int(ids[min(i + size, len(ids)) - 1])) for i in range(0, len(ids), size)]


def _insert(sql: str, bounds: tuple[int, int]) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, list(bounds))
        return cursor.rowcount


def _insert_in_own_connection(sql: str, bounds: tuple[int, int]) -> int:
    """One range's INSERT in this thread's own database connection, closed afterwards."""
    try:
        return _insert(sql, bounds)
    finally:
        connections.close_all()
