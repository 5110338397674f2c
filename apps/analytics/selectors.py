"""Reads for the engine: feature frames at a cutoff, outcomes after it, and the published scores."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, F, FilteredRelation, FloatField, OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL

from apps.analytics.features import (
    DAY,
    AnchorSpec,
    anchor_frame,
    anchors_prepare,
    one_customer_frame,
    purchases_drop,
    purchases_prepare,
    sampled_sql,
)
from apps.analytics.models import CustomerScore, ModelRun, RunStatus
from apps.core.bulk import query_frame


def cutoff_for(brand, as_of: date) -> datetime:
    """The end of `as_of` in the brand's time zone: data up to this instant, predictions after it."""
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=brand.tzinfo)


_window: ContextVar[tuple[int, datetime] | None] = ContextVar("clv_purchase_window", default=None)
_memo: ContextVar[dict | None] = ContextVar("clv_reads_memo", default=None)


@contextmanager
def reads_memo():
    """Within the block, history_stats and the buyer totals (classic_frame, rfm_values) are read once per
    (brand, cutoff, range): a refresh asks for the same ones several times (the history check and the holdout
    plan; the fit's spend model and the RFM cut points; the holdout's fit, its classic baseline and its
    predictions), and each is a scan of the brand's orders (2–4 s at 1M customers). The block sees the
    orders as they were when first read, as one refresh should."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _memoized(key: tuple, compute):
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    value = memo[key]
    return value.copy()  # the caller may change its copy (a frame or a dict)


@contextmanager
def purchase_window(*, brand, cutoff: datetime):
    """Build the brand's purchase window once for everything extracted at or before `cutoff` inside the
    block (a refresh extracts at three cutoffs: the run's, the holdout start and the RFM baseline's)."""
    with transaction.atomic(), connection.cursor() as cursor:
        purchases_prepare(cursor, brand_id=brand.pk, cutoff=cutoff, session=True)
    token = _window.set((brand.pk, cutoff))
    try:
        yield
    finally:
        _window.reset(token)
        with connection.cursor() as cursor:
            purchases_drop(cursor)


def _purchases_ready(cursor, *, brand, cutoff: datetime, customer_ids=None) -> None:
    window = _window.get()
    if window is not None and window[0] == brand.pk and cutoff <= window[1]:
        return
    purchases_prepare(cursor, brand_id=brand.pk, cutoff=cutoff, customer_ids=customer_ids)


def gap_frame(*, brand, cutoff: datetime, sample_per_mille: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (sampled) paid purchase up to the cutoff, with covariates at the purchase and the time to
    the next paid purchase, censored at the cutoff."""
    with transaction.atomic(), connection.cursor() as cursor:
        _purchases_ready(cursor, brand=brand, cutoff=cutoff)
        anchors_prepare(
            cursor, AnchorSpec(last_only=False, sample_per_mille=sample_per_mille, seed=seed), cutoff=cutoff
        )
        return anchor_frame(cursor, brand_id=brand.pk, cutoff=cutoff)


def customer_count(*, brand) -> int:
    """How many customers the brand has (an upper bound on its buyers; one index-only count)."""
    from apps.customers.models import Customer

    return Customer.objects.filter(brand=brand).count()


def purchase_count(*, brand, cutoff: datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM orders_order WHERE brand_id = %s AND status = 'paid' AND placed_at <= %s",
            [brand.pk, cutoff],
        )
        return int(cursor.fetchone()[0])


def history_stats(*, brand, cutoff: datetime) -> dict:
    """What the brand's paid purchases up to the cutoff amount to, for the data-sufficiency checks: purchases,
    buyers, repeat purchases and repeat buyers, days of history (first purchase to cutoff) and whether any
    purchase has an amount. One GROUP BY per customer, then one aggregate (once per reads_memo block); inside a
    purchase_window that covers the cutoff, one scan of the window."""
    return _memoized(("history_stats", brand.pk, cutoff), lambda: _history_stats(brand=brand, cutoff=cutoff))


def _history_stats(*, brand, cutoff: datetime) -> dict:
    window = _window.get()
    with connection.cursor() as cursor:
        if window is not None and window[0] == brand.pk and cutoff <= window[1]:
            # inside the purchase window (a refresh): one scan of its rows, numbered per customer, instead of a
            # GROUP BY over the brand's orders (6.5 s at the run's cutoff and 3.9 s at the holdout's, at 1M
            # customers). A customer has bought by the cutoff when their first purchase is up to it, twice when
            # their second is; amounts are never negative (order_amount_not_negative), so a customer spent
            # something when any of their purchases has an amount
            cursor.execute(
                """
                SELECT COUNT(*), COUNT(*) FILTER (WHERE k = 1), COUNT(*) FILTER (WHERE k = 2), MIN(placed_at),
                       COALESCE(BOOL_OR(amount > 0), false)
                FROM _clv_purchases WHERE placed_at <= %s
                """,
                [cutoff],
            )
        else:
            cursor.execute(
                """
                SELECT COALESCE(SUM(n), 0), COUNT(*), COUNT(*) FILTER (WHERE n >= 2), MIN(first_at),
                       COALESCE(BOOL_OR(spent > 0), false)
                FROM (SELECT customer_id, COUNT(*) AS n, MIN(placed_at) AS first_at, SUM(total_amount) AS spent
                      FROM orders_order WHERE brand_id = %s AND status = 'paid' AND placed_at <= %s
                      GROUP BY customer_id) c
                """,
                [brand.pk, cutoff],
            )
        purchases, buyers, repeat_buyers, first_at, amounts = cursor.fetchone()
    purchases, buyers = int(purchases), int(buyers)
    return {
        "purchases": purchases,
        "buyers": buyers,
        "repeat_purchases": purchases - buyers,
        "repeat_buyers": int(repeat_buyers),
        "history_days": round((cutoff - first_at).total_seconds() / DAY, 1) if first_at else 0.0,
        "amounts_known": bool(amounts),
    }


def first_purchase_at(*, brand) -> datetime | None:
    """When the brand's first paid purchase was placed (the start of its (brand, placed_at) index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(placed_at) FROM orders_order WHERE brand_id = %s AND status = 'paid'", [brand.pk]
        )
        return cursor.fetchone()[0]


def classic_frame(*, brand, cutoff: datetime, customer_ids: tuple[int, int] | None = None) -> pd.DataFrame:
    """Each buyer's history as the classic models see it, up to the cutoff: x repeat purchases (paid
    purchases after the first; orders, as the survival models and the holdout count them), t_x days from the
    first to the last purchase, T days from the first purchase to the cutoff, and the mean spend."""
    frame = _buyer_totals(brand=brand, cutoff=cutoff, customer_ids=customer_ids)
    end = cutoff.timestamp()
    frame["x"] = frame["n"].astype(float) - 1.0
    frame["t_x"] = (frame["last_t"] - frame["first_t"]) / DAY
    frame["T"] = (end - frame["first_t"]) / DAY
    frame["mean_spend"] = frame["spend"] / frame["n"].astype(float)
    return frame[["customer_id", "x", "t_x", "T", "mean_spend"]]


def rfm_values(*, brand, cutoff: datetime) -> pd.DataFrame:
    """Recency (days), frequency and monetary value (unknown without amounts) of every buyer up to the
    cutoff."""
    totals = _buyer_totals(brand=brand, cutoff=cutoff, customer_ids=None)
    return pd.DataFrame(
        {
            "frequency": totals["n"].to_numpy(),
            "monetary": totals["amount_sum"].to_numpy(float),
            "recency_days": (cutoff.timestamp() - totals["last_t"].to_numpy(float)) / DAY,
        }
    )


def _buyer_totals(*, brand, cutoff: datetime, customer_ids: tuple[int, int] | None) -> pd.DataFrame:
    """Each buyer's paid purchases up to the cutoff: count, first and last (epoch seconds), spend (0 without
    amounts) and the sum of the amounts (NaN without any). One GROUP BY, read once per reads_memo block (the
    classic models, the spend model and the RFM cut points all read it)."""
    range_sql, params = "", [brand.pk, cutoff]
    if customer_ids is not None:
        range_sql, params = " AND customer_id BETWEEN %s AND %s", [*params, *customer_ids]

    def read() -> pd.DataFrame:
        with connection.cursor() as cursor:
            return query_frame(
                cursor,
                f"""
                SELECT customer_id, COUNT(*) AS n,
                       EXTRACT(EPOCH FROM MIN(placed_at))::double precision AS first_t,
                       EXTRACT(EPOCH FROM MAX(placed_at))::double precision AS last_t,
                       COALESCE(SUM(total_amount), 0)::double precision AS spend,
                       SUM(total_amount)::double precision AS amount_sum
                FROM orders_order
                WHERE brand_id = %s AND status = 'paid' AND placed_at <= %s{range_sql}
                GROUP BY customer_id ORDER BY customer_id
                """,
                params,
            )

    return _memoized(("buyer_totals", brand.pk, cutoff, customer_ids), read)


def customer_frame(
    *,
    brand,
    cutoff: datetime,
    customer_ids: tuple[int, int] | None = None,
    sample_per_mille: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per customer with a paid purchase up to the cutoff: covariates at their last purchase, paid
    purchases k, spend, and days elapsed since the last purchase. `customer_ids` limits it to an inclusive
    range of customer ids (one chunk of a distributed scoring); `sample_per_mille` below 1000 to a
    pseudo-random sample of customers (a hash of the id salted by `seed`, the same customers every time)."""
    if customer_ids is not None and customer_ids[0] == customer_ids[1] and sample_per_mille >= 1000:
        # one customer (their hazard factors in the API): one statement, no temporary tables
        with connection.cursor() as cursor:
            frame = one_customer_frame(cursor, brand_id=brand.pk, cutoff=cutoff, customer_id=customer_ids[0])
    else:
        spec = AnchorSpec(
            last_only=True, customer_ids=customer_ids, sample_per_mille=sample_per_mille, seed=seed
        )
        with transaction.atomic(), connection.cursor() as cursor:
            _purchases_ready(cursor, brand=brand, cutoff=cutoff, customer_ids=customer_ids)
            anchors_prepare(cursor, spec, cutoff=cutoff)
            frame = anchor_frame(cursor, brand_id=brand.pk, cutoff=cutoff)
    frame["elapsed_days"] = (cutoff.timestamp() - frame["t"].to_numpy(float)) / DAY
    frame["mean_amount"] = frame["cum_amount"].to_numpy(float) / frame["k"].to_numpy(float)
    return frame.reset_index(drop=True)


def customer_id_chunks(*, brand, chunks: int) -> list[tuple[int, int]]:
    """Split the brand's customers into `chunks` inclusive id ranges of about equal size (ntile over the
    brand-leading primary-key index: no scan of the orders). Customers without a paid purchase up to the
    cutoff fall in the ranges too and are simply not scored."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(id), MAX(id) FROM ("
            "  SELECT id, NTILE(%s) OVER (ORDER BY id) AS part FROM customers_customer WHERE brand_id = %s"
            ") t GROUP BY part ORDER BY part",
            [max(1, int(chunks)), brand.pk],
        )
        return [(int(low), int(high)) for low, high in cursor.fetchall()]


def outcome_frame(
    *, brand, start: datetime, end: datetime, horizon_days: int, sample_per_mille: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """What happened after `start` up to `end`: each customer's first paid purchase (days after start), and paid
    revenue and purchases within the horizon. Customers who bought nothing are absent; with sample_per_mille
    below 1000, so is every customer outside customer_frame's sample of the same per mille and seed."""
    horizon_end = start + timedelta(days=horizon_days)
    sampled, sample_params = "TRUE", []
    if sample_per_mille < 1000:
        sampled, sample_params = sampled_sql("customer_id", seed=seed, per_mille=sample_per_mille)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT customer_id, MIN(placed_at),
                   COALESCE(SUM(total_amount) FILTER (WHERE placed_at <= %s), 0),
                   COUNT(*) FILTER (WHERE placed_at <= %s)
            FROM orders_order
            WHERE brand_id = %s AND status = 'paid' AND placed_at > %s AND placed_at <= %s AND {sampled}
            GROUP BY customer_id
            """,  # noqa: S608 - a constant condition
            [horizon_end, horizon_end, brand.pk, start, end, *sample_params],
        )
        rows = cursor.fetchall()
    columns = ["customer_id", "first_at", "revenue_horizon", "purchases_horizon"]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    if frame.empty:
        return pd.DataFrame(
            {"customer_id": [], "days_to_purchase": [], "revenue_horizon": [], "purchases_horizon": []}
        )
    first = pd.to_datetime(frame["first_at"], utc=True)
    frame["days_to_purchase"] = (first - pd.Timestamp(start)).dt.total_seconds().to_numpy() / DAY
    frame["revenue_horizon"] = frame["revenue_horizon"].astype(float)
    frame["purchases_horizon"] = frame["purchases_horizon"].astype(float)
    return frame[["customer_id", "days_to_purchase", "revenue_horizon", "purchases_horizon"]]


def with_outcomes(customers: pd.DataFrame, outcomes: pd.DataFrame, *, follow_up_days: float) -> pd.DataFrame:
    merged = customers.merge(outcomes, on="customer_id", how="left")
    bought = merged["days_to_purchase"].notna().to_numpy()
    merged["event"] = bought
    merged["duration"] = np.where(bought, merged["days_to_purchase"].to_numpy(float), follow_up_days)
    merged["revenue_horizon"] = merged["revenue_horizon"].fillna(0.0)
    merged["purchases_horizon"] = merged["purchases_horizon"].fillna(0.0)
    return merged


# --- Published runs and scores: what readers see --------------------------------------------------------------

# a run's columns readers need: never the pickled engine, the metrics or the stage models
RUN_READ_COLUMNS = ("id", "brand_id", "kind", "status", "as_of", "cutoff", "horizon_days", "published_at")
PUBLISHED_SCORE = "published_score"  # the FilteredRelation customers_with_published_score adds


def published_run(*, brand, only: tuple[str, ...] | None = None) -> ModelRun | None:
    """The run whose scores readers see (None before the first publish). The pickled engine (megabytes) is
    never loaded here; `only` narrows the columns further."""
    runs = ModelRun.objects.filter(brand=brand).published()
    return (runs.only(*only) if only else runs.defer("engine")).first()


def published_run_as_of(*, brand, day: date, only: tuple[str, ...] | None = None) -> ModelRun | None:
    """The refresh that was (or is) published last among those as of `day` or earlier."""
    runs = ModelRun.objects.filter(brand=brand, as_of__lte=day).ever_published()
    runs = runs.only(*only) if only else runs.defer("engine")
    return runs.order_by("-as_of", "-published_at").first()


def published_run_sql(*, brand_ids: list[int] | None) -> RawSQL:
    """SQL for the published run(s) of these brands (None: every brand), for a join condition on a score's
    run: `run_id = (<the brand's published run>)` with one brand, `run_id IN (<published runs>)` otherwise.
    For one brand PostgreSQL reads the run id once (an InitPlan) and can then walk the scores' (brand, run,
    clv/churn) indexes in order for a page sorted by a score: milliseconds at a million customers, where
    the IN (subquery) form joins and sorts every customer (seconds). Costs no query of its own."""
    table = ModelRun._meta.db_table
    if brand_ids is not None and len(brand_ids) == 1:
        return RawSQL(
            f"SELECT id FROM {table} WHERE status = %s AND brand_id = %s",  # noqa: S608 - constant table name
            (RunStatus.PUBLISHED.value, int(brand_ids[0])),
        )
    return RawSQL(
        f"SELECT id FROM {table} WHERE status = %s",  # noqa: S608 - constant table name
        (RunStatus.PUBLISHED.value,),
    )


def published_run_condition(*, brand_ids: list[int] | None, prefix: str = "scores__") -> dict:
    """Keyword arguments of a Q that keeps a score relation (`prefix`) to the published run(s)."""
    runs = published_run_sql(brand_ids=brand_ids)
    single = brand_ids is not None and len(brand_ids) == 1
    return {f"{prefix}run_id": runs} if single else {f"{prefix}run_id__in": runs}


def published_run_value(column: str, *, brand_ref: str = "brand_id") -> Subquery:
    """A column of the published run of the row's brand (`brand_ref`), as a correlated subquery."""
    return Subquery(
        ModelRun.objects.filter(brand_id=OuterRef(brand_ref)).published().order_by().values(column)[:1]
    )


def published_scores(*, brand):
    """Scores readers see: those of the brand's published run (none before the first publish)."""
    return CustomerScore.objects.filter(
        brand=brand, **published_run_condition(brand_ids=[brand.pk], prefix="")
    )


def customers_with_published_score(queryset, brand_ids: list[int] | None):
    """Customers with the relation `published_score` (their score in their brand's published run: at most one,
    one published run per brand and one score per customer and run) for filters, orderings and annotations
    (`published_score_column`). A LEFT JOIN only when something refers to it; for one brand it reads that
    brand's published run once (published_run_sql), so a page sorted by a score comes off the scores' index."""
    if PUBLISHED_SCORE in queryset.query._filtered_relations:
        return queryset
    condition = Q(scores__brand_id=F("brand_id"), **published_run_condition(brand_ids=brand_ids))
    return queryset.alias(**{PUBLISHED_SCORE: FilteredRelation("scores", condition=condition)})


def published_score_column(column: str) -> F:
    """A column of the customer's published score (on customers_with_published_score querysets)."""
    return F(f"{PUBLISHED_SCORE}__{column}")


# The at-risk list: high value (CLV above at least this share of the run's scored customers) at high churn risk.
AT_RISK_MIN_CHURN = 0.5
AT_RISK_MIN_VALUE_PERCENTILE = 80.0


def at_risk_scores(
    *,
    run: ModelRun,
    min_churn_probability: float = AT_RISK_MIN_CHURN,
    min_value_percentile: float = AT_RISK_MIN_VALUE_PERCENTILE,
    min_clv_percentile: float | None = None,
):
    """The run's scores of customers who have been worth the most so far and are likely to leave: value-to-date
    percentile (spend, or paid purchases without amounts; stored at publish) at least `min_value_percentile`
    and churn probability at least `min_churn_probability`; optionally also a CLV percentile floor.

    Annotated with value_at_risk = total spend × churn probability (NULL when the log has no amounts), most
    value at risk first (paid purchases × churn probability when there are no amounts). Ranking by what the
    customer has been worth, not by CLV, is the point: CLV already discounts churn, so "top CLV and likely to
    churn" is nearly empty exactly when win-back matters. The one home of the at-risk rule: the report, the
    GraphQL list, the dashboard and win-back triggers read it here."""
    scores = CustomerScore.objects.filter(
        brand_id=run.brand_id,
        run=run,
        value_percentile__gte=min_value_percentile,
        churn_probability__gte=min_churn_probability,
    )
    if min_clv_percentile is not None:
        scores = scores.filter(clv_percentile__gte=min_clv_percentile)
    return scores.annotate(
        value_at_risk=ExpressionWrapper(
            F("monetary_total") * F("churn_probability"), output_field=FloatField()
        ),
        purchases_at_risk=ExpressionWrapper(
            F("orders_count") * F("churn_probability"), output_field=FloatField()
        ),
    ).order_by(F("value_at_risk").desc(nulls_last=True), "-purchases_at_risk", "customer_id")


STAGE_ORDER = ["introduction", "growth", "maturity", "decline", "churned"]


def stage_transition_matrix(*, brand, start: date, end: date) -> dict:
    """How many customers moved from each stage at `start` to each stage at `end`, from the scores of the
    runs published for those dates. Customers new by `end` come from "" (not yet a buyer)."""
    run_a = published_run_as_of(brand=brand, day=start)
    run_b = published_run_as_of(brand=brand, day=end)
    if run_b is None:
        raise ValueError(f"no published scores as of {end}")
    if run_a is not None and not CustomerScore.objects.filter(run=run_a).exists():
        raise ValueError(f"the scores as of {start} are no longer kept")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COALESCE(a.stage, ''), b.stage, COUNT(*)
            FROM {CustomerScore._meta.db_table} b
            LEFT JOIN {CustomerScore._meta.db_table} a
              ON a.brand_id = b.brand_id AND a.run_id = %s AND a.customer_id = b.customer_id
            WHERE b.brand_id = %s AND b.run_id = %s
            GROUP BY COALESCE(a.stage, ''), b.stage
            """,
            [run_a.pk if run_a else -1, brand.pk, run_b.pk],
        )
        rows = cursor.fetchall()
    matrix = {src: dict.fromkeys(STAGE_ORDER, 0) for src in ["", *STAGE_ORDER]}
    for src, dst, n in rows:
        matrix[src][dst] = int(n)
    return {
        "from_run": run_a.pk if run_a else None,
        "to_run": run_b.pk,
        "from_as_of": run_a.as_of.isoformat() if run_a else None,
        "to_as_of": run_b.as_of.isoformat(),
        "matrix": matrix,
    }


def hazard_factors(*, run: ModelRun, stage: str) -> list[dict]:
    """The stage model's covariates in words staff read: what raises or lowers the chance of buying again,
    and by how much per unit (or per standard deviation for continuous ones), strongest first."""
    from apps.analytics.features import FEATURES

    rows = []
    for row in run.stage_models.get(stage, []):
        binary = row["feature"] in ("community_member", "engaged_5plus", "age_unknown")
        ratio = row["hazard_ratio"] if binary else row["hazard_ratio_per_sd"]
        rows.append(
            {
                "feature": row["feature"],
                "label": str(FEATURES.get(row["feature"], row["feature"])),
                "hazard_ratio": ratio,
                "per": "unit" if binary else "sd",
                "effect_percent": round((ratio - 1.0) * 100.0, 1),
                "direction": "more_likely_to_buy" if ratio > 1 else "less_likely_to_buy",
            }
        )
    return sorted(rows, key=lambda r: abs(np.log(max(r["hazard_ratio"], 1e-9))), reverse=True)
