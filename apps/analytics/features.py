"""Features for the survival models, built in SQL aggregates: the one place the ORM meets the arrays.

An *anchor* is a paid purchase. For fitting, anchors are (a sample of) every paid purchase up to the
cutoff; for scoring, each customer's last paid purchase. Every covariate of an anchor is measured at its
time t from rows with timestamps ≤ t (≤ the cutoff), so nothing after the cutoff can leak in: the next
purchase is looked for only among purchases up to the cutoff and is otherwise censored there.

One pass per source table (orders, views, memberships, grants) joins the anchors on (brand, customer) and
aggregates per anchor (PostgreSQL: window functions for the purchase sequence, FILTER for the windows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.utils.translation import gettext_lazy as _

from apps.core.bulk import query_frame

DAY = 86400.0
SAMPLE_PRIME = 1_000_003


def sampled_sql(column: str, *, seed: int, per_mille: int) -> tuple[str, list]:
    """A condition keeping about per_mille ‰ of the ids in `column` (a deterministic pseudo-random sample:
    multiplicative hash of the id, salted by the seed), and its parameters; placeholders escaped for a
    statement run with parameters."""
    return f"(({column} * 2654435761 + %s) %% {SAMPLE_PRIME}) * 1000 < %s * {SAMPLE_PRIME}", [seed, per_mille]


# Covariates the models use, with the label staff see next to their hazard ratios.
FEATURES: dict[str, object] = {
    "log_orders": _("paid purchases so far (log)"),
    "log_mean_amount": _("average order value (log)"),
    "log_tenure_days": _("days since first purchase (log)"),
    "log_last_gap_days": _("days between the last two purchases (log)"),
    "log_gap_trend": _("last gap against the customer's usual gap (log ratio)"),
    "log_refunds": _("refunded orders so far (log)"),
    "community_member": _("member of a community"),
    "log_community_days": _("days in a community (log)"),
    "engaged_5plus": _("a stream with 5+ interactions in the last 30 days"),
    "log_watch_hours_30d": _("watch hours in the last 30 days (log)"),
    "log_streams_30d": _("streams watched in the last 30 days (log)"),
    "log_interactions_30d": _("comments, likes and shares in the last 30 days (log)"),
    "log_streams_90d": _("streams watched in the last 90 days (log)"),
    "share_5plus_90d": _("share of streams with 5+ interactions, last 90 days"),
    "log_benefits_held": _("benefits held (log)"),
    "log_benefits_redeemed": _("benefits redeemed so far (log)"),
    "age_years": _("age (years, 35 where unknown)"),
    "age_unknown": _("age unknown"),
}
FEATURE_NAMES = list(FEATURES)

AGE_BAND_YEARS = {"<18": 16.0, "18-24": 21.0, "25-34": 29.5, "35-44": 39.5, "45-54": 49.5, "55+": 60.0}
# An unknown age counts as this many years, a constant, beside the `age_unknown` indicator (which absorbs
# whatever the constant is): a fill taken from the frame (its median) made the same customer's covariates
# depend on who else was in the frame, so a chunk of a refresh, one customer's hazard factors and the fit
# could each fill a different age.
AGE_UNKNOWN_YEARS = 35.0


def _epoch(expr: str) -> str:
    return f"EXTRACT(EPOCH FROM {expr})::double precision"


@dataclass
class AnchorSpec:
    """Which purchases become anchors: a sample of all of them by a hash of the order id (fit), or each
    customer's last (scoring; with sample_per_mille < 1000, for a sample of customers by a hash of their id)."""

    last_only: bool
    sample_per_mille: int = 1000  # keep anchors whose hash falls under this many thousandths
    seed: int = 0
    customer_ids: tuple[int, int] | None = None  # inclusive id range: one chunk of a distributed scoring


def _run(cursor, sql: str, params=()) -> None:
    cursor.execute(sql, params)


def _frame(cursor, sql: str, params=()) -> pd.DataFrame:
    """The query's rows as a frame (see apps.core.bulk.query_frame). NULLs and empty text both become NaN, as
    the features treat them the same (unknown)."""
    return query_frame(cursor, sql, params, dtype={"age_band": object})


def _session_tune(cursor) -> None:
    """For this transaction only: room for the per-anchor hash aggregates and sorts in memory (not on disk),
    and no JIT compilation (it costs more than it saves on these one-pass queries)."""
    _run(cursor, "SET LOCAL work_mem = '256MB'")
    _run(cursor, "SET LOCAL jit = off")


def purchases_sql(
    *, brand_id: int, cutoff: datetime, customer_ids: tuple[int, int] | None = None
) -> tuple[str, list]:
    """The SELECT of _clv_purchases (purchases_prepare) and its parameters."""
    range_sql, range_params = "", []
    if customer_ids is not None:
        range_sql, range_params = " AND o.customer_id BETWEEN %s AND %s", list(customer_ids)
    sql = f"""
        SELECT o.id AS order_id, o.customer_id, o.placed_at, o.total_amount AS amount,
               ROW_NUMBER() OVER w AS k,
               LAG(o.placed_at) OVER w AS prev_at,
               LEAD(o.placed_at) OVER w AS next_at,
               SUM(o.total_amount) OVER w AS cum_amount,
               FIRST_VALUE(o.placed_at) OVER w AS first_at,
               COUNT(*) OVER (PARTITION BY o.customer_id) AS n_orders
        FROM orders_order o
        WHERE o.brand_id = %s AND o.status = 'paid' AND o.placed_at <= %s{range_sql}
        WINDOW w AS (PARTITION BY o.customer_id ORDER BY o.placed_at, o.id
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        """
    return sql, [brand_id, cutoff, *range_params]


def purchases_prepare(
    cursor,
    *,
    brand_id: int,
    cutoff: datetime,
    customer_ids: tuple[int, int] | None = None,
    session: bool = False,
) -> int:
    """TEMP table _clv_purchases: paid purchases up to the cutoff, numbered per customer, with the previous
    and next purchase (up to the cutoff only) and running spend. Returns the number of purchases.

    Built once at the latest cutoff it serves (`session=True` keeps it past the transaction, until
    purchases_drop), it also serves earlier cutoffs: numbering, previous purchase and running spend of a
    purchase do not depend on later ones, and anchors_prepare masks the next purchase beyond its cutoff."""
    _session_tune(cursor)
    _run(cursor, "DROP TABLE IF EXISTS _clv_purchases")
    sql, params = purchases_sql(brand_id=brand_id, cutoff=cutoff, customer_ids=customer_ids)
    _run(cursor, f"CREATE TEMP TABLE _clv_purchases {'' if session else 'ON COMMIT DROP'} AS {sql}", params)
    cursor.execute("SELECT COUNT(*) FROM _clv_purchases")
    return int(cursor.fetchone()[0])


def purchases_drop(cursor) -> None:
    _run(cursor, "DROP TABLE IF EXISTS _clv_purchases")


def anchors_sql(spec: AnchorSpec, *, cutoff: datetime) -> tuple[str, list]:
    """The SELECT of _clv_anchors (anchors_prepare), from _clv_purchases, and its parameters."""
    at = cutoff
    if spec.last_only:
        # each customer's last purchase up to the cutoff: the next one (if any) is after it
        where = "p.placed_at <= %s AND (p.next_at IS NULL OR p.next_at > %s)"
        params: list = [at, at]
        if spec.sample_per_mille < 1000:  # a sample of customers, by the same kind of hash of their id
            sampled, sample_params = sampled_sql(
                "p.customer_id", seed=spec.seed, per_mille=spec.sample_per_mille
            )
            where += f" AND {sampled}"
            params += sample_params
    else:
        # a sample of purchases, by the hash of the order id
        sampled, sample_params = sampled_sql("p.order_id", seed=spec.seed, per_mille=spec.sample_per_mille)
        where = f"p.placed_at <= %s AND {sampled}"
        params = [at, *sample_params]
    if spec.customer_ids is not None:
        where += " AND p.customer_id BETWEEN %s AND %s"
        params = [*params, *spec.customer_ids]
    sql = f"""
        SELECT p.order_id AS anchor_id, p.customer_id, p.placed_at AS t, p.k, p.amount, p.cum_amount,
               p.prev_at, CASE WHEN p.next_at <= %s THEN p.next_at END AS next_at, p.first_at,
               p.placed_at - INTERVAL '30 days' AS t30, p.placed_at - INTERVAL '90 days' AS t90
        FROM _clv_purchases p WHERE {where}
        """
    return sql, [at, *params]


def anchors_prepare(cursor, spec: AnchorSpec, *, cutoff: datetime) -> int:
    """TEMP table _clv_anchors from _clv_purchases as of `cutoff` (at or before the one it was built at):
    purchases up to the cutoff, the next purchase only when it is up to the cutoff too, and the 30/90-day
    window starts precomputed."""
    _run(cursor, "DROP TABLE IF EXISTS _clv_anchors")
    sql, params = anchors_sql(spec, cutoff=cutoff)
    _run(cursor, f"CREATE TEMP TABLE _clv_anchors ON COMMIT DROP AS {sql}", params)
    _run(cursor, "CREATE INDEX ON _clv_anchors (customer_id)")
    _run(cursor, "ANALYZE _clv_anchors")
    cursor.execute("SELECT COUNT(*) FROM _clv_anchors")
    return int(cursor.fetchone()[0])


def _anchor_aggregates_sql(brand_id: int) -> tuple[str, str, list]:
    """anchor_frame's query from _clv_anchors: (its WITH list without WITH, its final SELECT, parameters)."""
    e = _epoch
    ctes = f"""
    v AS (
        SELECT a.anchor_id,
               COUNT(*) FILTER (WHERE sv.joined_at >= a.t30) AS streams_30d,
               SUM(sv.watch_seconds) FILTER (WHERE sv.joined_at >= a.t30) AS watch_seconds_30d,
               SUM(sv.comments + sv.likes + sv.shares) FILTER (WHERE sv.joined_at >= a.t30) AS interactions_30d,
               BOOL_OR(sv.joined_at >= a.t30 AND sv.comments + sv.likes + sv.shares >= 5)::int AS engaged_5plus,
               COUNT(*) AS streams_90d,
               COUNT(*) FILTER (WHERE sv.comments + sv.likes + sv.shares >= 5) AS streams_5plus_90d
        FROM _clv_anchors a
        JOIN streams_streamview sv
          ON sv.brand_id = %s AND sv.customer_id = a.customer_id AND sv.joined_at >= a.t90 AND sv.joined_at < a.t
        GROUP BY a.anchor_id
    ), m AS (
        SELECT a.anchor_id,
               BOOL_OR(cm.left_at IS NULL OR cm.left_at > a.t)::int AS community_member,
               MIN({e("cm.joined_at")}) FILTER (WHERE cm.left_at IS NULL OR cm.left_at > a.t) AS community_since
        FROM _clv_anchors a
        JOIN communities_communitymembership cm
          ON cm.brand_id = %s AND cm.customer_id = a.customer_id AND cm.joined_at <= a.t
        GROUP BY a.anchor_id
    ), g AS (
        SELECT a.anchor_id,
               COUNT(*) FILTER (WHERE g.expires_at > a.t AND (g.revoked_at IS NULL OR g.revoked_at > a.t)
                                      AND (g.redeemed_at IS NULL OR g.redeemed_at > a.t)) AS benefits_held,
               COUNT(*) FILTER (WHERE g.redeemed_at <= a.t) AS benefits_redeemed
        FROM _clv_anchors a
        JOIN loyalty_benefitgrant g ON g.brand_id = %s AND g.customer_id = a.customer_id AND g.granted_at <= a.t
        GROUP BY a.anchor_id
    ), r AS (
        SELECT a.anchor_id, COUNT(*) AS refunds
        FROM _clv_anchors a
        JOIN orders_order o ON o.brand_id = %s AND o.customer_id = a.customer_id AND o.placed_at <= a.t
                            AND o.status = 'refunded'
        GROUP BY a.anchor_id
    )"""
    select = f"""
    SELECT a.anchor_id, a.customer_id, a.k, a.amount, a.cum_amount,
           {e("a.t")} AS t, {e("a.prev_at")} AS prev_t, {e("a.next_at")} AS next_t, {e("a.first_at")} AS first_t,
           COALESCE(v.streams_30d, 0) AS streams_30d, COALESCE(v.watch_seconds_30d, 0) AS watch_seconds_30d,
           COALESCE(v.interactions_30d, 0) AS interactions_30d, COALESCE(v.engaged_5plus, 0) AS engaged_5plus,
           COALESCE(v.streams_90d, 0) AS streams_90d, COALESCE(v.streams_5plus_90d, 0) AS streams_5plus_90d,
           COALESCE(m.community_member, 0) AS community_member, m.community_since,
           COALESCE(g.benefits_held, 0) AS benefits_held, COALESCE(g.benefits_redeemed, 0) AS benefits_redeemed,
           COALESCE(r.refunds, 0) AS refunds, c.age_band, c.birth_year
    FROM _clv_anchors a
    JOIN customers_customer c ON c.brand_id = %s AND c.id = a.customer_id
    LEFT JOIN v ON v.anchor_id = a.anchor_id
    LEFT JOIN m ON m.anchor_id = a.anchor_id
    LEFT JOIN g ON g.anchor_id = a.anchor_id
    LEFT JOIN r ON r.anchor_id = a.anchor_id
    ORDER BY a.anchor_id
    """
    return ctes, select, [brand_id] * 5


def anchor_frame(cursor, *, brand_id: int, cutoff: datetime) -> pd.DataFrame:
    """One row per anchor: timing, raw aggregates and the model covariates (see FEATURES)."""
    ctes, select, params = _anchor_aggregates_sql(brand_id)
    frame = _frame(cursor, f"WITH {ctes} {select}", params)
    return derive_features(frame, cutoff_epoch=cutoff.timestamp())


def one_customer_frame(cursor, *, brand_id: int, cutoff: datetime, customer_id: int) -> pd.DataFrame:
    """anchor_frame of one customer's last purchase up to the cutoff, in one statement: _clv_purchases and
    _clv_anchors as common table expressions of the same SELECTs, instead of temporary tables (whose DDL, index
    and statistics cost a request that shows one customer's hazard factors more than the query)."""
    purchases, purchase_params = purchases_sql(
        brand_id=brand_id, cutoff=cutoff, customer_ids=(customer_id, customer_id)
    )
    anchors, anchor_params = anchors_sql(
        AnchorSpec(last_only=True, customer_ids=(customer_id, customer_id)), cutoff=cutoff
    )
    ctes, select, params = _anchor_aggregates_sql(brand_id)
    sql = f"WITH _clv_purchases AS ({purchases}), _clv_anchors AS ({anchors}), {ctes} {select}"
    frame = _frame(cursor, sql, [*purchase_params, *anchor_params, *params])
    return derive_features(frame, cutoff_epoch=cutoff.timestamp())


def derive_features(frame: pd.DataFrame, *, cutoff_epoch: float) -> pd.DataFrame:
    """Covariates and timing from the raw aggregates (vectorised; no loop over customers). The new columns are
    computed as arrays and joined to the frame at once: column by column, pandas' per-column cost made one
    customer's features (a customer's hazard factors in the API) cost 14 ms."""
    out = frame.copy()
    for column in out.columns:
        if column != "age_band" and not pd.api.types.is_numeric_dtype(out[column].dtype):
            out[column] = pd.to_numeric(out[column], errors="coerce")

    def col(name: str) -> np.ndarray:
        return out[name].to_numpy(float)

    k, t, first, prev, nxt = col("k"), col("t"), col("first_t"), col("prev_t"), col("next_t")
    tenure = (t - first) / DAY
    last_gap = np.where(np.isnan(prev), 0.0, (t - prev) / DAY)
    usual_before = np.where(k >= 3, (np.nan_to_num(prev, nan=t) - first) / DAY / np.maximum(k - 2, 1), np.nan)
    trend = np.where(k >= 3, (last_gap + 1.0) / (usual_before + 1.0), 1.0)
    event = ~np.isnan(nxt)
    since = col("community_since")
    s90 = col("streams_90d")
    age = out["age_band"].map(AGE_BAND_YEARS).astype(float)
    out["community_member"] = col("community_member")
    out["engaged_5plus"] = col("engaged_5plus")
    derived = {
        "event": event,
        "duration_days": np.where(event, nxt - t, cutoff_epoch - t) / DAY,
        "tenure_days": tenure,
        "rhythm_days": np.where(k >= 2, tenure / np.maximum(k - 1, 1), np.nan),
        "log_orders": np.log(k),
        "log_mean_amount": np.log1p(col("cum_amount") / k),
        "log_tenure_days": np.log1p(tenure),
        "log_last_gap_days": np.log1p(last_gap),
        "log_gap_trend": np.log(np.clip(trend, 0.05, 20.0)),
        "log_refunds": np.log1p(col("refunds")),
        "log_community_days": np.where(np.isnan(since), 0.0, np.log1p(np.maximum(t - since, 0) / DAY)),
        "log_watch_hours_30d": np.log1p(col("watch_seconds_30d") / 3600.0),
        "log_streams_30d": np.log1p(col("streams_30d")),
        "log_interactions_30d": np.log1p(col("interactions_30d")),
        "log_streams_90d": np.log1p(s90),
        "share_5plus_90d": np.where(s90 > 0, col("streams_5plus_90d") / np.maximum(s90, 1), 0.0),
        "log_benefits_held": np.log1p(col("benefits_held")),
        "log_benefits_redeemed": np.log1p(col("benefits_redeemed")),
        "age_unknown": age.isna().to_numpy(float),
        "age_years": age.fillna(AGE_UNKNOWN_YEARS).to_numpy(float),
    }
    return pd.concat([out, pd.DataFrame(derived, index=out.index)], axis=1)
