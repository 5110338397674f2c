"""Reads of the action layer as frames: who an occasion concerns (with everything the guards need), the
touches that count toward caps, opt-outs, and the send hours learned from clicks. Each is one query,
whatever the number of customers."""

from __future__ import annotations

import datetime as dt
from datetime import datetime

import numpy as np
import pandas as pd
from django.db import connection

from apps.analytics.models import CustomerScore, ModelRun, ProspectScore, RunStatus
from apps.communities.models import Community, CommunityKind, CommunityMembership
from apps.customers.models import Customer
from apps.engagement.models import ACTIVE_STATUSES, ChannelOptOut, GroupPost, Touch
from apps.loyalty.models import Tier
from apps.orders.models import Order
from apps.streams.models import Stream, StreamView

AUDIENCE_COLUMNS = (
    "customer_id",
    "watched",
    "watch_seconds",
    "interactions",
    "bought",
    "marketing_consent",
    "automated_decisions_opt_out",
    "erased",
    "preferred_channel",
    "has_phone",
    "has_email",
    "stage",
    "tier_id",
    "tier_code",
    "churn_probability",
    "prospect_propensity",
)
BOOL_COLUMNS = ("watched", "bought", "marketing_consent", "automated_decisions_opt_out", "erased")


def id_array(ids) -> str:
    """Ids as a PostgreSQL array literal, for `= ANY(%s::bigint[])`: a 200,000-id list passes as one text
    value (psycopg's list adaptation costs about a second for that many)."""
    return "{" + ",".join(map(str, np.asarray(ids, dtype=np.int64).tolist())) + "}"


def _published_run_id(brand) -> int:
    run = (
        ModelRun.objects.filter(brand=brand, status=RunStatus.PUBLISHED).values_list("pk", flat=True).first()
    )
    return run or -1


def _people_frame(sql: str, params: list) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=list(AUDIENCE_COLUMNS))
    for column in BOOL_COLUMNS:
        frame[column] = frame[column].astype(bool)
    frame["has_phone"] = frame["has_phone"].astype(bool)
    frame["has_email"] = frame["has_email"].astype(bool)
    frame["customer_id"] = frame["customer_id"].astype("int64")
    frame["watch_seconds"] = frame["watch_seconds"].astype("int64")
    frame["interactions"] = frame["interactions"].astype("int64")
    frame["tier_id"] = pd.array(frame["tier_id"], dtype="Int64")
    frame["churn_probability"] = frame["churn_probability"].astype(float)
    frame["prospect_propensity"] = frame["prospect_propensity"].astype(float)
    frame["preferred_channel"] = frame["preferred_channel"].fillna("").astype(object)
    frame["tier_code"] = frame["tier_code"].fillna("").astype(object)
    frame["stage"] = frame["stage"].astype(object)
    return frame


def _profile_sql(people: str) -> str:
    """SELECT of AUDIENCE_COLUMNS for the customers of CTE `people` (customer_id, watched, watch_seconds,
    interactions, bought). Placeholders, in order: brand, published run, brand, occasion time, brand,
    brand, published run."""
    return f"""
        {people}
        SELECT p.customer_id, p.watched, p.watch_seconds, p.interactions, p.bought,
               c.marketing_consent, c.automated_decisions_opt_out, c.erased_at IS NOT NULL,
               c.preferred_touch_channel, c.phone <> '', c.email <> '',
               COALESCE(s.stage, CASE WHEN EXISTS (
                   SELECT 1 FROM {Order._meta.db_table} o WHERE o.brand_id = c.brand_id
                   AND o.customer_id = c.id AND o.status = 'paid' AND o.placed_at <= %s
               ) THEN 'introduction' ELSE 'prospect' END),
               s.tier_id, t.code, s.churn_probability, ps.propensity
        FROM people p
        JOIN {Customer._meta.db_table} c ON c.brand_id = %s AND c.id = p.customer_id
        LEFT JOIN {CustomerScore._meta.db_table} s
          ON s.brand_id = c.brand_id AND s.run_id = %s AND s.customer_id = c.id
        LEFT JOIN {Tier._meta.db_table} t ON t.brand_id = c.brand_id AND t.id = s.tier_id
        LEFT JOIN {ProspectScore._meta.db_table} ps
          ON ps.brand_id = c.brand_id AND ps.run_id = %s AND ps.customer_id = c.id
        ORDER BY p.customer_id
    """


def stream_audience(*, brand, stream: Stream, until: datetime | None = None) -> pd.DataFrame:
    """Everyone a stream's follow-ups may concern, one row each (AUDIENCE_COLUMNS): its viewers and its
    buyers (a paid order linked to the stream, or placed during it by a viewer), with their consent and
    opt-out flags, reachability, and the published scores (stage, tier, churn probability; the prospect
    propensity of viewers who never bought). A customer without a published score is a prospect when they
    have no paid order up to the stream's end, else in introduction. Orders placed after `until` (the
    planning time) are not known yet. One query."""
    run = _published_run_id(brand)
    end = stream.ended_at or stream.started_at
    views, orders = StreamView._meta.db_table, Order._meta.db_table
    people = f"""
        WITH viewers AS (
            SELECT customer_id, watch_seconds, comments + likes + shares AS interactions
            FROM {views} WHERE brand_id = %s AND stream_id = %s
        ), buyers AS (
            SELECT DISTINCT o.customer_id FROM {orders} o
            WHERE o.brand_id = %s AND o.status = 'paid' AND o.placed_at <= %s AND (
                o.stream_id = %s OR (o.placed_at >= %s AND o.placed_at <= %s
                                     AND o.customer_id IN (SELECT customer_id FROM viewers)))
        ), people AS (
            SELECT COALESCE(v.customer_id, b.customer_id) AS customer_id, v.customer_id IS NOT NULL AS watched,
                   COALESCE(v.watch_seconds, 0) AS watch_seconds, COALESCE(v.interactions, 0) AS interactions,
                   b.customer_id IS NOT NULL AS bought
            FROM viewers v FULL OUTER JOIN buyers b ON b.customer_id = v.customer_id
        )
    """
    until = until or datetime.max.replace(tzinfo=dt.UTC)
    params = [
        brand.pk,
        stream.pk,
        brand.pk,
        until,
        stream.pk,
        stream.started_at,
        end,
        end,
        brand.pk,
        run,
        run,
    ]
    return _people_frame(_profile_sql(people), params)


def customers_audience(*, brand, customer_ids, at: datetime) -> pd.DataFrame:
    """AUDIENCE_COLUMNS for these customers (a win-back occasion: nobody watched or bought anything)."""
    run = _published_run_id(brand)
    people = """
        WITH people AS (
            SELECT unnest(%s::bigint[]) AS customer_id, false AS watched, 0 AS watch_seconds,
                   0 AS interactions, false AS bought
        )
    """
    params = [id_array(customer_ids), at, brand.pk, run, run]
    return _people_frame(_profile_sql(people), params)


def active_touches(*, brand, customer_ids, start: datetime, end: datetime) -> pd.DataFrame:
    """id, customer_id, scheduled_at (datetime64[ns], naive UTC), channel, sender, rule_id, occasion of these
    customers' touches that count toward the caps (planned or gone out) scheduled in [start, end]. The
    holdout's touches count too: held-out customers are capped as if they had been touched, so that both
    arms of the comparison hold the same kinds of occasions (otherwise the control group would keep the
    frequent viewers the caps take out of the touched one)."""
    table = Touch._meta.db_table
    sql = (
        f"SELECT id, customer_id, scheduled_at, channel, sender, rule_id, occasion FROM {table} "  # noqa: S608
        "WHERE brand_id = %s AND customer_id = ANY(%s::bigint[]) AND (status = ANY(%s) OR reason = 'holdout') "
        "AND scheduled_at >= %s AND scheduled_at <= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand.pk, id_array(customer_ids), list(ACTIVE_STATUSES), start, end])
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(
        rows, columns=["id", "customer_id", "scheduled_at", "channel", "sender", "rule_id", "occasion"]
    )
    frame["customer_id"] = frame["customer_id"].astype("int64")
    frame["scheduled_at"] = pd.to_datetime(frame["scheduled_at"], utc=True).dt.tz_localize(None)
    return frame


def occasion_customers(*, brand, occasion: str) -> pd.DataFrame:
    """rule_id, customer_id of the touches (any status) already planned for this occasion."""
    rows = Touch.objects.filter(brand=brand, occasion=occasion).values_list("rule_id", "customer_id")
    return pd.DataFrame.from_records(list(rows), columns=["rule_id", "customer_id"]).astype("int64")


def opt_outs(*, brand, customer_ids) -> dict[str, set[int]]:
    """channel ("" = every channel) → ids of these customers who opted out of it."""
    out: dict[str, set[int]] = {}
    sql = (
        f"SELECT channel, customer_id FROM {ChannelOptOut._meta.db_table} "  # noqa: S608
        "WHERE brand_id = %s AND customer_id = ANY(%s::bigint[])"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand.pk, id_array(customer_ids)])
        rows = cursor.fetchall()
    for channel, customer in rows:
        out.setdefault(channel, set()).add(customer)
    return out


def group_members(*, brand, customer_ids, at: datetime) -> pd.DataFrame:
    """community_id, customer_id: which of these customers are members, at `at`, of the brand's WeCom groups
    (the communities a follow-up can be posted in)."""
    members, communities = CommunityMembership._meta.db_table, Community._meta.db_table
    sql = (
        f"SELECT DISTINCT m.community_id, m.customer_id FROM {members} m "  # noqa: S608
        f"JOIN {communities} g ON g.brand_id = m.brand_id AND g.id = m.community_id "
        "WHERE m.brand_id = %s AND g.kind = %s AND m.customer_id = ANY(%s::bigint[]) AND m.joined_at <= %s "
        "AND (m.left_at IS NULL OR m.left_at > %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand.pk, CommunityKind.WECOM, id_array(customer_ids), at, at])
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=["community_id", "customer_id"]).astype("int64")


def group_posts_around(*, brand, start: datetime, end: datetime) -> pd.DataFrame:
    """id, community_id, scheduled_at (naive UTC), rule_id, occasion, status of the brand's group posts
    scheduled in [start, end] (those with ACTIVE_STATUSES count toward WeCom's monthly group limit)."""
    sql = (
        f"SELECT id, community_id, scheduled_at, rule_id, occasion, status FROM {GroupPost._meta.db_table} "  # noqa: S608
        "WHERE brand_id = %s AND scheduled_at >= %s AND scheduled_at <= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand.pk, start, end])
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(
        rows, columns=["id", "community_id", "scheduled_at", "rule_id", "occasion", "status"]
    )
    frame["community_id"] = frame["community_id"].astype("int64")
    frame["scheduled_at"] = pd.to_datetime(frame["scheduled_at"], utc=True).dt.tz_localize(None)
    return frame


def send_hour_evidence(*, brand) -> pd.DataFrame:
    """stage, send_hour, clicks, conversions (clicked touches that converted), rate: what the learned send
    hour rests on, from every clicked touch of the brand."""
    table = Touch._meta.db_table
    sql = (
        f"SELECT stage, send_hour, COUNT(*), COUNT(*) FILTER (WHERE converted_at IS NOT NULL) "  # noqa: S608
        f"FROM {table} WHERE brand_id = %s AND clicked_at IS NOT NULL AND NOT holdout "
        "GROUP BY stage, send_hour ORDER BY stage, send_hour"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand.pk])
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=["stage", "send_hour", "clicks", "conversions"])
    frame["rate"] = (
        (frame["conversions"] / frame["clicks"]).astype(float) if len(frame) else pd.Series(dtype=float)
    )
    return frame


def learned_send_hours(*, brand, min_clicks: int) -> dict[str, int]:
    """stage → the send hour with the best click-to-purchase rate among hours with at least `min_clicks`
    clicks (ties: the earlier hour). Stages without such an hour are absent (the rule's default applies)."""
    evidence = send_hour_evidence(brand=brand)
    enough = evidence[evidence["clicks"] >= min_clicks]
    best: dict[str, int] = {}
    for stage, group in enough.groupby("stage"):
        top = group.sort_values(["rate", "send_hour"], ascending=[False, True]).iloc[0]
        best[str(stage)] = int(top["send_hour"])
    return best


def paid_since(*, brand, customer_ids, since: np.ndarray, until: datetime) -> np.ndarray:
    """Whether each customer placed a paid order after since[i] (datetime64, UTC) and up to `until`."""
    ids = list(map(int, customer_ids))
    if not ids:
        return np.zeros(0, dtype=bool)
    stamps = pd.to_datetime(np.asarray(since, dtype="datetime64[ns]")).tz_localize("UTC")
    table = Order._meta.db_table
    sql = (
        "SELECT x.i FROM unnest(%s::bigint[], %s::timestamptz[]) WITH ORDINALITY AS x(customer_id, since, i) "
        f"WHERE EXISTS (SELECT 1 FROM {table} o WHERE o.brand_id = %s AND o.customer_id = x.customer_id "  # noqa: S608
        "AND o.status = 'paid' AND o.placed_at > x.since AND o.placed_at <= %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, [s.to_pydatetime() for s in stamps], brand.pk, until])
        hits = [int(r[0]) - 1 for r in cursor.fetchall()]
    out = np.zeros(len(ids), dtype=bool)
    out[hits] = True
    return out


def win_back_entrants(*, run, previous=None) -> list[int]:
    """Customers who entered win-back at `run`: in its at-risk list (analytics.selectors.at_risk_scores) but
    not in the previous published run's, or moved into the decline stage by it. Without a previous run every
    at-risk and declining customer enters."""
    from apps.analytics.models import Stage, StageChange
    from apps.analytics.selectors import at_risk_scores

    at_risk = set(at_risk_scores(run=run).values_list("customer_id", flat=True))
    if previous is not None:
        at_risk -= set(at_risk_scores(run=previous).values_list("customer_id", flat=True))
        declining = StageChange.objects.filter(brand_id=run.brand_id, run=run, to_stage=Stage.DECLINE)
        entered = set(declining.values_list("customer_id", flat=True))
    else:
        entered = set(
            CustomerScore.objects.filter(brand_id=run.brand_id, run=run, stage=Stage.DECLINE).values_list(
                "customer_id", flat=True
            )
        )
    return sorted(at_risk | entered)
