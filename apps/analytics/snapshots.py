"""The dashboard snapshot: the brand dashboard's figures that change only when a run is published or new
orders or streams arrive, computed once and kept in one row per brand (models.DashboardSnapshot).

    snapshot_current(brand=…, run=…)     the valid snapshot, computed first when missing or stale (lazily)
    paid_activity_current(brand=…)       its paid orders by (cohort, month) and by day, for the published run
    snapshot_refresh(run=…)              compute it for a run just published (the publish path calls it)
    snapshot_forget(brand=…)             drop it (an order import changed orders in place)
    period_figures(data, start, end, …)  GMV, orders, new buyers, repurchase after streams over brand days

A snapshot is valid while (1) its run is the brand's published run, (2) its data version equals the brand's
(data_version: the newest order id, and the count, newest id and latest change of the streams, read from
brand-leading indexes in one query), or it was computed at most FRESH_SECONDS ago, and (3) its format is
FORMAT. Order imports that change existing orders drop it, since that leaves the newest id alone; new orders
alone do not: during a live stream they move the data version every few seconds, and a snapshot that takes
seconds at a million customers would otherwise be computed again by every page that shows it. So the figures
trail new orders by at most FRESH_SECONDS, never a publish, an erasure or a changed order.

What it holds are figures only, no words (the page puts them in the reader's language): the tier × stage
counts and the at-risk list of the published scores; paid orders per (first-order month, month) and per day;
the Kaplan-Meier curves by stage; repurchase within 72 hours after the streams. What depends on the day the
page is read (which cohort periods have started, the month to date, the date range) is applied when it is
shown, so a snapshot stays right until the data change.
"""

from __future__ import annotations

import bisect
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.analytics import reports
from apps.analytics.models import DashboardSnapshot, ModelRun

logger = logging.getLogger(__name__)

FORMAT = 2  # bump when the shape of `data` changes: older snapshots are then recomputed
AT_RISK_ROWS = 10
STREAM_DAYS = 90  # the stream chart: streams of the last 90 days up to the latest stream
STREAM_LIMIT = 50  # at most this many of them (the latest), as reports.stream_performance
LOCK_KEY = 0x44534E50  # "DSNP": one computation per brand at a time (advisory lock with the brand id)
# Figures computed at most this long ago stand when only new orders or streams arrived since (here and in the
# read cache, readcache.py): what a live stream's orders cost the pages that show them. The read cache reads the
# snapshot exactly (fresh=False): what it keeps is keyed by the brand's data version.
FRESH_SECONDS = 30


def _version_sql() -> tuple[str, int]:
    """SQL for the brand's data version (one text column) and how many times it takes the brand id."""
    from apps.orders.models import Order
    from apps.streams.models import Stream

    sql = (
        f"SELECT 'o' || COALESCE((SELECT MAX(id) FROM {Order._meta.db_table} WHERE brand_id = %s), 0) "  # noqa: S608
        f"|| '.s' || (SELECT COUNT(*) || '.' || COALESCE(MAX(id), 0) || '.' "
        f"|| COALESCE(EXTRACT(EPOCH FROM MAX(updated_at))::text, '') "
        f"FROM {Stream._meta.db_table} WHERE brand_id = %s)"
    )
    return sql, 2


def data_version(brand) -> str:
    """What the snapshot's figures were computed from, besides the run: the newest order id (a new order
    changes it) and the streams' count, newest id and latest change. Index reads only: a millisecond at a
    million customers."""
    sql, n = _version_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand.pk] * n)
        return cursor.fetchone()[0]


def _run_id(run) -> int | None:
    return run.pk if run is not None else None


def _valid(snapshot: DashboardSnapshot | None, run, version: str | None, fresh: bool = True) -> bool:
    if snapshot is None or snapshot.format != FORMAT or snapshot.run_id != _run_id(run):
        return False
    if snapshot.data_version == version:
        return True
    # new orders or streams since (what changes them in place drops the snapshot): it stands while fresh
    return fresh and timezone.now() - snapshot.computed_at <= timedelta(seconds=FRESH_SECONDS)


def _with_version(brand):
    sql, n = _version_sql()
    return DashboardSnapshot.objects.filter(brand_id=brand.pk).annotate(
        current_version=RawSQL(sql, [brand.pk] * n)  # noqa: S611 - constant SQL, parameters bound
    )


def snapshot_current(*, brand, run, fresh: bool = True) -> DashboardSnapshot:
    """The brand's snapshot for its published `run` (None: none yet) and its current data: one query when
    it is valid; else computed (under a per-brand lock, so two readers do not compute it twice) and kept.
    `fresh`: one computed at most FRESH_SECONDS ago stands though new orders or streams arrived since; False
    for a caller that keeps what it derives under the brand's current data version (the read cache)."""
    snapshot = _with_version(brand).first()
    if snapshot is not None and _valid(snapshot, run, snapshot.current_version, fresh):
        return snapshot
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_KEY, brand.pk])
        snapshot = _with_version(brand).first()  # another reader may have computed it meanwhile
        version = snapshot.current_version if snapshot is not None else data_version(brand)
        if _valid(snapshot, run, version, fresh):
            return snapshot
        return _compute_and_keep(brand=brand, run=run, version=version)


def paid_activity_current(*, brand, fresh: bool = True) -> reports.PaidActivity:
    """The brand's paid orders folded as reports.paid_activity gives them, from the snapshot of its published
    run (computed first when missing or stale; `fresh` as snapshot_current): what cohort retention by
    first-order month reads."""
    from apps.analytics.selectors import RUN_READ_COLUMNS, published_run

    run = published_run(brand=brand, only=RUN_READ_COLUMNS)
    return activity_of(snapshot_current(brand=brand, run=run, fresh=fresh).data)


def snapshot_refresh(*, run: ModelRun, activity_ahead=None) -> DashboardSnapshot:
    """Compute the snapshot of a run just published (its brand's dashboard then opens at once).
    `activity_ahead` (from paid_activity_ahead, started beside the publish) gives the paid orders' part, the
    longest, computed meanwhile; the snapshot then keeps the data version read before it, so orders that
    arrived since make it stale as usual."""
    brand = run.brand
    ahead = None
    if activity_ahead is not None:
        try:
            ahead = activity_ahead()
        except Exception:
            logger.exception("paid activity of brand %s computed ahead failed", brand.pk)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_KEY, brand.pk])
        if ahead is None:
            return _compute_and_keep(brand=brand, run=run, version=data_version(brand))
        version, activity, seconds = ahead
        snapshot = _compute_and_keep(brand=brand, run=run, version=version, activity=(activity, seconds))
        snapshot.seconds_ahead = round(seconds, 3)  # of its `seconds`, those spent beside the publish
        return snapshot


def paid_activity_ahead(*, brand):
    """Start folding the brand's paid orders for its next snapshot (reports.paid_activity: they do not depend
    on a run) in a thread with its own database connection, and return what waits for (the data version read
    before it, the activity, its seconds). A refresh starts it beside its publish, which leaves a core idle
    while it waits for the next actions."""
    from apps.core.threads import run_beside

    def work():
        version = data_version(brand)  # before the orders are read: a later import makes it stale
        began = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '256MB'")
            activity = reports.paid_activity(brand=brand)
        return version, activity, time.perf_counter() - began

    return run_beside(work, name=f"paid-activity-{brand.pk}")


def snapshot_forget(*, brand) -> None:
    """Drop the brand's snapshot (its data changed in a way the data version does not see)."""
    DashboardSnapshot.objects.filter(brand_id=brand.pk).delete()


def _compute_and_keep(*, brand, run, version: str, activity=None) -> DashboardSnapshot:
    """`activity`: the paid orders' part already computed (reports.PaidActivity, its seconds), else computed
    here; `seconds` counts it either way."""
    now = timezone.now()
    began = time.perf_counter()
    data = snapshot_compute(brand=brand, run=run, now=now, activity=activity[0] if activity else None)
    seconds = round(time.perf_counter() - began + (activity[1] if activity else 0.0), 3)
    (snapshot,) = DashboardSnapshot.objects.bulk_create(
        [
            DashboardSnapshot(
                brand_id=brand.pk,
                run_id=_run_id(run),
                data_version=version,
                format=FORMAT,
                computed_at=now,
                seconds=seconds,
                data=data,
            )
        ],
        update_conflicts=True,
        unique_fields=["brand"],
        update_fields=["run_id", "data_version", "format", "computed_at", "seconds", "data", "updated_at"],
    )
    logger.info("dashboard snapshot of brand %s computed in %.2f s", brand.pk, seconds)
    return snapshot


# --- computing it ----------------------------------------------------------------------------------------


def snapshot_compute(*, brand, run, now: datetime, activity: reports.PaidActivity | None = None) -> dict:
    """Every figure of the snapshot (JSON-ready). `now` ends the Kaplan-Meier follow-up; `activity` is the
    paid orders folded (reports.paid_activity), computed here when not given."""
    with connection.cursor() as cursor:
        # the folds of a million customers' orders stay in memory (as imports do); this transaction only
        cursor.execute("SET LOCAL work_mem = '256MB'")
    if activity is None:
        activity = reports.paid_activity(brand=brand)
    return {
        **_scores_part(brand, run),
        "months": [
            [m.cohort.isoformat(), m.month.isoformat(), m.customers, m.repeaters] for m in activity.months
        ],
        "days": [[d.day.isoformat(), d.orders, round(d.gmv, 2), d.new_buyers] for d in activity.days],
        "km": _km_part(brand, now),
        **_streams_part(brand),
    }


def _scores_part(brand, run) -> dict:
    if run is None:
        return {"distribution": [], "at_risk": {"count": 0, "rows": []}}
    from apps.customers.models import Customer

    _run, distribution = reports.tier_stage_distribution(brand=brand, run=run)
    _run, count, items = reports.at_risk_customers(brand=brand, first=AT_RISK_ROWS, run=run)
    external_ids = dict(
        Customer.objects.filter(brand=brand, pk__in=[i.customer_id for i in items]).values_list(
            "pk", "external_id"
        )
    )
    return {
        "distribution": [list(row) for row in distribution],
        "at_risk": {
            "count": count,
            "rows": [
                [
                    i.customer_id,
                    external_ids.get(i.customer_id, ""),
                    i.stage,
                    i.tier_id,
                    i.monetary_total,
                    i.orders_count,
                    i.churn_probability,
                    i.value_at_risk,
                ]
                for i in items
            ],
        },
    }


def _km_part(brand, now: datetime) -> dict:
    try:
        report = reports.kaplan_meier(brand=brand, group_by="stage", end=now)
    except reports.ReportError as exc:
        # the reason is worded in the reader's language when shown
        return {"error": exc.code or "error", **exc.params}
    return {
        "origin": report.origin.isoformat(),
        "end": report.end.isoformat(),
        "run_id": report.run.pk if report.run else None,
        "run_as_of": report.run.as_of.isoformat() if report.run else None,
        "chi_square": report.chi_square,
        "p_value": report.p_value,
        "curves": [
            {
                "group": curve.group,
                "customers": curve.customers,
                "events": curve.events,
                "median_days": curve.median_days,
                "time": [round(float(x), 4) for x in curve.points["time"].tolist()],
                "survival": [round(float(x), 6) for x in curve.points["survival"].tolist()],
            }
            for curve in report.curves
        ],
    }


def _streams_part(brand) -> dict:
    """Per start day (brand time zone): streams, buyers, buyers who bought again within 72 hours and the
    latest end of those streams' 72-hour windows; and the chart's streams (the last STREAM_DAYS days up to
    the latest stream, at most STREAM_LIMIT of them, the latest) with their total."""
    streams = reports.stream_repurchase(brand=brand)
    if not streams:
        return {"stream_days": [], "stream_window": None}
    tz = brand.tzinfo
    days: dict[str, list] = {}
    for s in streams:
        day = days.setdefault(s.started_at.astimezone(tz).date().isoformat(), [0, 0, 0, 0.0])
        day[0] += 1
        day[1] += s.buyers
        day[2] += s.repurchasers_72h
        day[3] = max(day[3], s.window_end.timestamp())
    end = max(s.started_at for s in streams).astimezone(tz).date()
    start = end - timedelta(days=STREAM_DAYS - 1)
    chosen = [s for s in streams if start <= s.started_at.astimezone(tz).date() <= end][-STREAM_LIMIT:]
    return {
        "stream_days": [[day, *figures] for day, figures in sorted(days.items())],
        "stream_window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "buyers": sum(s.buyers for s in chosen),
            "repurchasers": sum(s.repurchasers_72h for s in chosen),
            # newest first, as stream_performance lists them
            "rows": [
                [s.stream_id, s.title, s.started_at.isoformat(), s.buyers, s.repurchasers_72h]
                for s in reversed(chosen)
            ],
        },
    }


# --- reading it ------------------------------------------------------------------------------------------


def activity_of(data: dict) -> reports.PaidActivity:
    """The snapshot's paid orders by (cohort, month) and by day, as reports.paid_activity gave them."""
    return reports.PaidActivity(
        months=[
            reports.MonthActivity(date.fromisoformat(c), date.fromisoformat(m), n, r)
            for c, m, n, r in data.get("months", [])
        ],
        days=[reports.DayActivity(date.fromisoformat(d), o, g, n) for d, o, g, n in data.get("days", [])],
    )


@dataclass
class PeriodFigures:
    """The snapshot's figures over brand days start..end (inclusive)."""

    start: date
    end: date
    has_data: bool  # the period meets the span of the brand's paid orders
    partial: bool  # the period is not over yet, or the paid orders cover only part of it
    gmv: float = 0.0
    orders: int = 0
    new_buyers: int = 0
    streams: int = 0
    stream_buyers: int = 0
    stream_repurchasers: int = 0
    windows_open: bool = False  # some stream's 72 hours have not passed yet
    new_customers: int = 0  # first seen in the period (read live: reports.customers_first_seen)
    customers_known: bool = False  # the customers' first-seen days reach the period

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def average_order(self) -> float | None:
        return self.gmv / self.orders if self.orders else None

    @property
    def repeat_order_share(self) -> float | None:
        """Share of the period's paid orders placed by buyers who had bought before."""
        return (self.orders - self.new_buyers) / self.orders if self.orders else None

    @property
    def stream_repurchase_rate(self) -> float | None:
        return self.stream_repurchasers / self.stream_buyers if self.stream_buyers else None


class _Series:
    """Prefix sums over sorted days: the sum over any period in two bisections."""

    def __init__(self, rows: list[list], columns: int):
        self.days = [row[0] for row in rows]
        self.sums = [[0.0] * columns]
        for row in rows:
            self.sums.append([a + b for a, b in zip(self.sums[-1], row[1 : columns + 1], strict=True)])
        self.rows = rows

    def between(self, start: date, end: date) -> tuple[int, int]:
        return bisect.bisect_left(self.days, start.isoformat()), bisect.bisect_right(
            self.days, end.isoformat()
        )

    def total(self, start: date, end: date) -> list[float]:
        lo, hi = self.between(start, end)
        return [b - a for a, b in zip(self.sums[lo], self.sums[hi], strict=True)]


def period_reader(data: dict):
    """A function (start, end, today, now) -> PeriodFigures over this snapshot's days."""
    orders = _Series(data.get("days", []), 3)
    streams = _Series([row[:4] for row in data.get("stream_days", [])], 3)
    windows = data.get("stream_days", [])
    first = date.fromisoformat(orders.days[0]) if orders.days else None
    last = date.fromisoformat(orders.days[-1]) if orders.days else None

    def read(start: date, end: date, *, today: date, now: datetime) -> PeriodFigures:
        has_data = first is not None and start <= last and end >= first
        figures = PeriodFigures(
            start=start,
            end=end,
            has_data=has_data,
            partial=end >= today or (has_data and (start < first or end > last)),
        )
        if not has_data:
            return figures
        order_count, gmv, new_buyers = orders.total(start, end)
        stream_count, buyers, repurchasers = streams.total(start, end)
        lo, hi = streams.between(start, end)
        figures.orders, figures.gmv, figures.new_buyers = int(order_count), round(gmv, 2), int(new_buyers)
        figures.streams, figures.stream_buyers = int(stream_count), int(buyers)
        figures.stream_repurchasers = int(repurchasers)
        figures.windows_open = any(row[4] > now.timestamp() for row in windows[lo:hi])
        return figures

    return read
