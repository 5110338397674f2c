"""Read-side analytics for dashboards and the API: cohort retention, Kaplan-Meier curves by segment, stream
performance, tier × stage distribution and the at-risk list.

Set-based SQL (PostgreSQL): the database aggregates, Python only shapes the few rows that come back; no
loop over customers. Every query filters on brand_id first, so it is served by the brand-leading indexes.
Dates are days in the brand's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.models import CustomerScore, ModelRun
from apps.analytics.selectors import (
    AT_RISK_MIN_CHURN,
    AT_RISK_MIN_VALUE_PERCENTILE,
    RUN_READ_COLUMNS,
    at_risk_scores,
    published_run,
    published_run_as_of,
)
from apps.analytics.survival.kaplan_meier import km_table, logrank_test

DAY_SECONDS = 86400.0
MAX_PERIODS = 36
MAX_COHORTS = 200
MAX_CURVE_POINTS = 400
STREAM_WINDOW_HOURS = 72
ENGAGED_INTERACTIONS = 5
# watch-time bands (seconds): label, lower bound (inclusive); the upper bound is the next band's lower bound
WATCH_BANDS = [("<1m", 0), ("1-5m", 60), ("5-15m", 300), ("15-30m", 900), ("30m+", 1800)]


class ReportError(ValueError):
    """The report cannot be made with these arguments; the message says why, for staff, and `code` names the
    reason for callers that word it later (e.g. "no_scores", "no_follow_up"), with its `params`."""

    def __init__(self, message, code: str = "", **params):
        super().__init__(message)
        self.code = code
        self.params = params


def _tables():
    from apps.communities.models import CommunityMembership
    from apps.customers.models import Customer
    from apps.orders.models import Order
    from apps.streams.models import Stream, StreamView

    return {
        "customer": Customer._meta.db_table,
        "order": Order._meta.db_table,
        "stream": Stream._meta.db_table,
        "view": StreamView._meta.db_table,
        "membership": CommunityMembership._meta.db_table,
        "score": CustomerScore._meta.db_table,
    }


def _rows(sql: str, params, *, jit: bool = True) -> list[tuple]:
    """The rows of one query. jit=False turns PostgreSQL's JIT compilation off for it: a query whose plan
    looks costly but finds little to do (the funnel of a quiet period at a million customers) otherwise
    spends a second or two compiling before it runs."""
    if not jit:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(sql, params)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _day_start(brand, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=brand.tzinfo)


# --- Cohort retention -----------------------------------------------------------------------------------


@dataclass
class Cohort:
    key: str  # "2026-01" or the stream's database id
    start: date  # first day of the month, or the stream's start day
    size: int
    retained: list[int | None]  # customers active in each period; None: the period has not started yet
    stream_id: int | None = None
    stream_title: str = ""

    @property
    def retention(self) -> list[float | None]:
        return [None if n is None else (n / self.size if self.size else 0.0) for n in self.retained]


def cohort_retention(
    *,
    brand,
    by: str,
    periods: int = 12,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    activity: PaidActivity | None = None,
) -> list[Cohort]:
    """Cohorts of customers and the share of each that bought (a paid order) in each period after joining.

    by="first_order_month": a cohort is the calendar month (brand time zone) of the customer's first paid
      order; period k is the k-th calendar month after it (period 0, the first month, is 100%).
    by="acquisition_stream": a cohort is the customers acquired by one stream; period k is days
      [30k, 30k + 30) after the stream started; size counts every acquired customer, buyers or not.
    Periods that have not started by `now` are None. `since`/`until` bound the cohort start dates
    (inclusive); at most MAX_COHORTS cohorts, the most recent. `activity`: the brand's paid_activity when the
    caller has it already (the dashboard snapshot's), for first-order-month cohorts.
    """
    cohort_arguments_check(periods=periods, since=since, until=until)
    now = now or timezone.now()
    if by == "first_order_month":
        return _cohorts_by_month(
            brand=brand, periods=periods, since=since, until=until, now=now, activity=activity
        )
    if by == "acquisition_stream":
        return _cohorts_by_stream(brand=brand, periods=periods, since=since, until=until, now=now)
    raise ReportError(f"unknown cohort grouping: {by}")


def cohort_arguments_check(*, periods: int, since: date | None, until: date | None) -> None:
    """ReportError for cohort_retention arguments it refuses (before anything is read)."""
    if not 1 <= periods <= MAX_PERIODS:
        raise ReportError(_("Ask for 1 to %(max)d periods.") % {"max": MAX_PERIODS})
    if since and until and since > until:
        raise ReportError(_("The start date is after the end date."))


def _cohorts_by_month(*, brand, periods, since, until, now, activity=None) -> list[Cohort]:
    months = (activity if activity is not None else paid_activity(brand=brand)).months
    return cohorts_from_months(
        months, periods=periods, now=now.astimezone(brand.tzinfo).date(), since=since, until=until
    )


def cohorts_from_months(
    months: list[MonthActivity],
    *,
    periods: int,
    now: date,
    since: date | None = None,
    until: date | None = None,
    limit: int = MAX_COHORTS,
) -> list[Cohort]:
    """The first-order-month cohorts of `paid_activity` months (the latest `limit` starting between `since`
    and `until`, inclusive), periods not started by the brand day `now` None."""
    first_month = date(since.year, since.month, 1) if since else None
    counts: dict[date, dict[int, int]] = {}
    for row in months:
        if (first_month and row.cohort < first_month) or (until and row.cohort > until):
            continue
        period = (row.month.year - row.cohort.year) * 12 + row.month.month - row.cohort.month
        if period < periods:
            counts.setdefault(row.cohort, {})[period] = row.customers
    current = now.year * 12 + now.month - 1
    cohorts = []
    for start in sorted(counts)[-limit:] if limit else []:
        by_period = counts[start]
        first = start.year * 12 + start.month - 1
        retained = [by_period.get(k, 0) if first + k <= current else None for k in range(periods)]
        cohorts.append(
            Cohort(key=start.strftime("%Y-%m"), start=start, size=by_period.get(0, 0), retained=retained)
        )
    return cohorts


def _cohorts_by_stream(*, brand, periods, since, until, now) -> list[Cohort]:
    t = _tables()
    bounds, params = "", []
    if since:
        bounds += " AND s.started_at >= %s"
        params.append(_day_start(brand, since))
    if until:
        bounds += " AND s.started_at < %s"
        params.append(_day_start(brand, until + timedelta(days=1)))
    sql = f"""
        WITH chosen AS (
            SELECT s.id, s.started_at FROM {t["stream"]} s
            WHERE s.brand_id = %s {bounds}
              AND EXISTS (SELECT 1 FROM {t["customer"]} c WHERE c.brand_id = s.brand_id AND c.acquisition_stream_id = s.id)
            ORDER BY s.started_at DESC, s.id DESC LIMIT %s
        ),
        members AS (
            SELECT c.id AS customer_id, ch.id AS stream_id, ch.started_at
            FROM {t["customer"]} c JOIN chosen ch ON ch.id = c.acquisition_stream_id
            WHERE c.brand_id = %s
        ),
        active AS (
            SELECT DISTINCT m.stream_id, m.customer_id,
                   FLOOR(EXTRACT(EPOCH FROM (o.placed_at - m.started_at)) / (30 * 86400.0))::int AS period
            FROM {t["order"]} o JOIN members m ON m.customer_id = o.customer_id
            WHERE o.brand_id = %s AND o.status = 'paid' AND o.placed_at >= m.started_at
        )
        SELECT stream_id, -1, COUNT(*) FROM members GROUP BY stream_id
        UNION ALL
        SELECT stream_id, period, COUNT(*) FROM active WHERE period < %s GROUP BY stream_id, period
    """
    rows = _rows(sql, [brand.pk, *params, MAX_COHORTS, brand.pk, brand.pk, periods])
    from apps.streams.models import Stream

    counts: dict[int, dict[int, int]] = {}
    for stream_id, period, n in rows:
        counts.setdefault(int(stream_id), {})[int(period)] = int(n)
    streams = Stream.objects.filter(brand=brand, pk__in=list(counts)).only(
        "pk", "title", "external_id", "started_at"
    )
    cohorts = []
    for stream in sorted(streams, key=lambda s: (s.started_at, s.pk)):
        by_period = counts[stream.pk]
        elapsed = (now - stream.started_at).total_seconds() / DAY_SECONDS
        retained = [by_period.get(k, 0) if elapsed >= 30 * k else None for k in range(periods)]
        cohorts.append(
            Cohort(
                key=str(stream.pk),
                start=stream.started_at.astimezone(brand.tzinfo).date(),
                size=by_period.get(-1, 0),
                retained=retained,
                stream_id=stream.pk,
                stream_title=stream.title or stream.external_id,
            )
        )
    return cohorts


# --- Kaplan-Meier curves by segment -------------------------------------------------------------------------


@dataclass
class Curve:
    group: str  # stage code, tier id ("" = no tier), "member" / "not_member"
    customers: int
    events: int
    points: pd.DataFrame  # time (days), at_risk, events, censored, survival, ci_lower, ci_upper
    median_days: float | None


@dataclass
class KaplanMeierReport:
    origin: datetime  # time 0 of every curve
    end: datetime  # follow-up ends here (censoring)
    run: ModelRun | None  # whose stages / tiers group the customers
    curves: list[Curve] = field(default_factory=list)
    chi_square: float | None = None
    p_value: float | None = None


def kaplan_meier(
    *, brand, group_by: str, as_of: date | None = None, end: datetime | None = None
) -> KaplanMeierReport:
    """Time to the next paid purchase after a date, one Kaplan-Meier curve per segment, and the log-rank
    test that the curves are equal.

    Time 0 is the cutoff of the refresh published as of `as_of` (end of its as-of day); without `as_of`,
    the oldest refresh whose scores are still kept (the longest follow-up). Every customer scored then is
    followed until their first paid purchase after time 0 (an event) or until `end` (default now:
    censored). Segments are taken at time 0: group_by "stage" or "tier" (from that run's scores, "" = no
    tier), or "community_membership" ("member": in a community at time 0, else "not_member").
    """
    run = _run_for_curves(brand=brand, as_of=as_of)
    origin = run.cutoff
    end = min(end or timezone.now(), timezone.now())
    if end <= origin:
        raise ReportError(
            _("There is no follow-up after %(date)s yet; pick an earlier date.") % {"date": run.as_of},
            code="no_follow_up",
            date=run.as_of.isoformat(),
        )
    t = _tables()
    group_sql = {
        "stage": "s.stage",
        "tier": "COALESCE(s.tier_id::text, '')",
        "community_membership": f"""CASE WHEN EXISTS (
                SELECT 1 FROM {t["membership"]} cm WHERE cm.brand_id = s.brand_id AND cm.customer_id = s.customer_id
                  AND cm.joined_at <= %(origin)s AND (cm.left_at IS NULL OR cm.left_at > %(origin)s))
            THEN 'member' ELSE 'not_member' END""",
    }.get(group_by)
    if group_sql is None:
        raise ReportError(f"unknown Kaplan-Meier grouping: {group_by}")
    # one row per (segment, duration rounded to ~9 s, event) with its count: the database does the work.
    # The first purchases after time 0 come from one pass over the orders since then (a hash joined to the
    # scores), not from a probe of each scored customer's orders (a million probes at 1M customers).
    sql = f"""
        WITH next_purchase AS (
            SELECT customer_id, MIN(placed_at) AS next_at FROM {t["order"]}
            WHERE brand_id = %(brand)s AND status = 'paid' AND placed_at > %(origin)s AND placed_at <= %(end)s
            GROUP BY customer_id
        ),
        followed AS (
            SELECT {group_sql} AS segment, n.next_at
            FROM {t["score"]} s LEFT JOIN next_purchase n ON n.customer_id = s.customer_id
            WHERE s.brand_id = %(brand)s AND s.run_id = %(run)s
        )
        SELECT segment,
               ROUND((EXTRACT(EPOCH FROM (COALESCE(next_at, %(end)s) - %(origin)s)) / 86400.0)::numeric, 4),
               next_at IS NOT NULL, COUNT(*)
        FROM followed GROUP BY 1, 2, 3
    """
    rows = _rows(sql, {"origin": origin, "end": end, "brand": brand.pk, "run": run.pk})
    report = KaplanMeierReport(origin=origin, end=end, run=run)
    if not rows:
        return report
    frame = pd.DataFrame.from_records(rows, columns=["segment", "duration", "event", "n"])
    n = frame["n"].to_numpy(dtype="int64")
    durations = np.repeat(frame["duration"].to_numpy(dtype=float), n)
    events = np.repeat(frame["event"].to_numpy(dtype=bool), n)
    groups = np.repeat(frame["segment"].to_numpy(dtype=object), n)
    for segment in sorted(set(groups)):
        mask = groups == segment
        table = km_table(durations[mask], events[mask])
        report.curves.append(
            Curve(
                group=str(segment),
                customers=int(mask.sum()),
                events=int(events[mask].sum()),
                points=_thinned(table),
                median_days=_median(table),
            )
        )
    if len(report.curves) >= 2 and events.any():
        report.chi_square, report.p_value = logrank_test(durations, events, groups.astype(str))
    return report


def _run_for_curves(*, brand, as_of: date | None) -> ModelRun:
    from django.db.models import BooleanField
    from django.db.models.expressions import RawSQL

    runs, scores = ModelRun._meta.db_table, CustomerScore._meta.db_table
    # one index probe per published run (OFFSET 0 keeps PostgreSQL from turning it into a semi-join that
    # reads every score kept: a million rows per run)
    has_scores = RawSQL(
        f"EXISTS (SELECT 1 FROM {scores} s WHERE s.brand_id = {runs}.brand_id AND s.run_id = {runs}.id "  # noqa: S608
        "OFFSET 0)",
        [],
        output_field=BooleanField(),
    )
    kept = ModelRun.objects.filter(brand=brand).ever_published().alias(has_scores=has_scores)
    kept = kept.filter(has_scores=True)
    if as_of is None:
        run = kept.only(*RUN_READ_COLUMNS).order_by("as_of", "published_at").first()
    else:
        run = published_run_as_of(brand=brand, day=as_of, only=RUN_READ_COLUMNS)
        if run is not None and not kept.filter(pk=run.pk).exists():
            raise ReportError(_("The scores as of %(date)s are no longer kept.") % {"date": as_of})
    if run is None:
        raise ReportError(_("No published scores yet for these dates."), code="no_scores")
    return run


def _thinned(table: pd.DataFrame) -> pd.DataFrame:
    """At most MAX_CURVE_POINTS rows: every row when the curve is short, else evenly spaced rows (the last
    one kept) so the step shape survives."""
    if len(table) <= MAX_CURVE_POINTS:
        return table.reset_index(drop=True)
    keep = np.unique(
        np.r_[np.linspace(0, len(table) - 1, MAX_CURVE_POINTS).round().astype(int), len(table) - 1]
    )
    return table.iloc[keep].reset_index(drop=True)


def _median(table: pd.DataFrame) -> float | None:
    below = table.loc[table["survival"] <= 0.5, "time"]
    return float(below.iloc[0]) if len(below) else None


# --- Stream performance -------------------------------------------------------------------------------


@dataclass
class StreamStats:
    stream_id: int | None  # None: the total over the streams reported
    viewers: int = 0
    viewer_buyers: int = 0
    buyers: int = 0
    orders: int = 0
    gmv: float = 0.0
    repurchasers_72h: int = 0
    engaged_viewers: int = 0
    engaged_buyers: int = 0
    bands: dict[str, tuple[int, int]] = field(default_factory=dict)  # band → (viewers, buyers among them)

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def conversion_rate(self):
        return self.rate(self.viewer_buyers, self.viewers)

    @property
    def repurchase_rate_72h(self):
        return self.rate(self.repurchasers_72h, self.buyers)

    @property
    def engaged_buy_rate(self):
        return self.rate(self.engaged_buyers, self.engaged_viewers)

    @property
    def other_buy_rate(self):
        return self.rate(self.viewer_buyers - self.engaged_buyers, self.viewers - self.engaged_viewers)


def stream_performance(*, brand, start: date, end: date, limit: int = 50) -> tuple[list, list[StreamStats]]:
    """Per stream started between `start` and `end` (brand days, inclusive; the `limit` most recent) and in
    total over them:

    - viewers: customers with a view of the stream; buyers: customers with a paid order attributed to it;
      orders and GMV: those paid orders; conversion: share of viewers who are buyers;
    - conversion by watch-time band (WATCH_BANDS): viewers in the band and the share of them who bought;
    - repurchase within 72 hours: share of buyers with another paid order (any channel) placed from their
      first order of the stream up to 72 hours after the stream ended (ended_at, else started_at);
    - 5+ interactions (comments + likes + shares in the stream): buy rate of those viewers against the rest.
    Totals sum over the streams: a customer counts once per stream. Returns (streams, stats), stats last
    row the total.
    """
    if end < start:
        raise ReportError(_("The start date is after the end date."))
    t = _tables()
    band_case = (
        "CASE "
        + " ".join(f"WHEN v.watch_seconds >= {low} THEN '{label}'" for label, low in reversed(WATCH_BANDS))
        + " END"
    )
    common = f"""
        WITH chosen AS (
            SELECT id, COALESCE(ended_at, started_at) AS ended_at FROM {t["stream"]}
            WHERE brand_id = %(brand)s AND started_at >= %(start)s AND started_at < %(end)s
            ORDER BY started_at DESC, id DESC LIMIT %(limit)s
        ),
        buy AS (
            SELECT o.stream_id, o.customer_id, MIN(o.placed_at) AS first_at, COUNT(*) AS orders,
                   SUM(o.total_amount) AS gmv, MAX(ch.ended_at) AS ended_at
            FROM {t["order"]} o JOIN chosen ch ON ch.id = o.stream_id
            WHERE o.brand_id = %(brand)s AND o.status = 'paid'
            GROUP BY o.stream_id, o.customer_id
        )
    """
    params = {
        "brand": brand.pk,
        "start": _day_start(brand, start),
        "end": _day_start(brand, end + timedelta(days=1)),
        "limit": limit,
        "engaged": ENGAGED_INTERACTIONS,
    }
    buyers_sql = (
        common
        + f"""
        SELECT b.stream_id, COUNT(*), SUM(b.orders), SUM(b.gmv),
               COUNT(*) FILTER (WHERE (
                   SELECT COUNT(*) FROM {t["order"]} o2
                   WHERE o2.brand_id = %(brand)s AND o2.customer_id = b.customer_id AND o2.status = 'paid'
                     AND o2.placed_at >= b.first_at
                     AND o2.placed_at <= b.ended_at + interval '{STREAM_WINDOW_HOURS} hours') >= 2)
        FROM buy b GROUP BY GROUPING SETS ((b.stream_id), ())
    """
    )
    viewers_sql = (
        common
        + f"""
        , seen AS (
            SELECT v.stream_id, {band_case} AS band, b.customer_id IS NOT NULL AS bought,
                   v.comments + v.likes + v.shares >= %(engaged)s AS engaged
            FROM {t["view"]} v JOIN chosen ch ON ch.id = v.stream_id
            LEFT JOIN buy b ON b.stream_id = v.stream_id AND b.customer_id = v.customer_id
            WHERE v.brand_id = %(brand)s
        )
        SELECT stream_id, band, COUNT(*), COUNT(*) FILTER (WHERE bought), COUNT(*) FILTER (WHERE engaged),
               COUNT(*) FILTER (WHERE engaged AND bought), GROUPING(band)
        FROM seen GROUP BY GROUPING SETS ((stream_id), (stream_id, band), (), (band))
    """
    )
    from apps.streams.models import Stream

    stats: dict[int | None, StreamStats] = {}

    def of(stream_id):
        return stats.setdefault(stream_id, StreamStats(stream_id=stream_id))

    for stream_id, buyers, orders, gmv, repurchasers in _rows(buyers_sql, params):
        row = of(stream_id)
        row.buyers, row.orders, row.gmv = buyers, int(orders or 0), float(gmv or 0)
        row.repurchasers_72h = repurchasers
    for stream_id, band, viewers, bought, engaged, engaged_bought, all_bands in _rows(viewers_sql, params):
        row = of(stream_id)
        if all_bands:
            row.viewers, row.viewer_buyers = viewers, bought
            row.engaged_viewers, row.engaged_buyers = engaged, engaged_bought
        else:
            row.bands[band] = (viewers, bought)
    streams = list(
        Stream.objects.filter(
            brand=brand, started_at__gte=params["start"], started_at__lt=params["end"]
        ).order_by("-started_at", "-pk")[:limit]
    )
    total = of(None)
    ordered = [of(stream.pk) for stream in streams] + [total]
    return streams, ordered


@dataclass
class StreamRepurchase:
    """One stream's buyers and how many of them bought again within 72 hours (stream_performance's rule)."""

    stream_id: int
    title: str
    started_at: datetime
    ended_at: datetime  # ended_at, else started_at
    buyers: int = 0
    orders: int = 0
    gmv: float = 0.0
    repurchasers_72h: int = 0

    @property
    def window_end(self) -> datetime:
        return self.ended_at + timedelta(hours=STREAM_WINDOW_HOURS)

    @property
    def repurchase_rate_72h(self) -> float | None:
        return self.repurchasers_72h / self.buyers if self.buyers else None


def stream_repurchase(*, brand) -> list[StreamRepurchase]:
    """Every stream of the brand (oldest first) with its buyers, their paid orders and GMV, and the buyers
    with another paid order (any channel) from their first order of the stream up to 72 hours after the
    stream ended: the buyer half of stream_performance for all streams, without the viewers (the dashboard
    adds these up over any period). The orders attributed to streams are read through the (brand, stream)
    index; a buyer's second order is looked for only among their own orders and stops at the first found."""
    t = _tables()
    sql = f"""
        WITH buy AS (
            SELECT stream_id, customer_id, MIN(placed_at) AS first_at, COUNT(*) AS orders,
                   SUM(total_amount) AS gmv
            FROM {t["order"]}
            WHERE brand_id = %(brand)s AND status = 'paid' AND stream_id IS NOT NULL
            GROUP BY stream_id, customer_id
        ),
        stats AS (
            SELECT b.stream_id, COUNT(*) AS buyers, SUM(b.orders) AS orders, SUM(b.gmv) AS gmv,
                   COUNT(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM {t["order"]} o2
                       WHERE o2.brand_id = %(brand)s AND o2.customer_id = b.customer_id AND o2.status = 'paid'
                         AND o2.placed_at >= b.first_at
                         AND o2.placed_at <= COALESCE(s.ended_at, s.started_at)
                                             + interval '{STREAM_WINDOW_HOURS} hours'
                       OFFSET 1)) AS repurchasers
            FROM buy b JOIN {t["stream"]} s ON s.brand_id = %(brand)s AND s.id = b.stream_id
            GROUP BY b.stream_id
        )
        SELECT s.id, COALESCE(NULLIF(s.title, ''), s.external_id), s.started_at,
               COALESCE(s.ended_at, s.started_at), COALESCE(x.buyers, 0), COALESCE(x.orders, 0),
               COALESCE(x.gmv, 0), COALESCE(x.repurchasers, 0)
        FROM {t["stream"]} s LEFT JOIN stats x ON x.stream_id = s.id
        WHERE s.brand_id = %(brand)s
        ORDER BY s.started_at, s.id
    """
    return [
        StreamRepurchase(
            stream_id=row[0],
            title=row[1],
            started_at=row[2],
            ended_at=row[3],
            buyers=int(row[4]),
            orders=int(row[5]),
            gmv=float(row[6]),
            repurchasers_72h=int(row[7]),
        )
        for row in _rows(sql, {"brand": brand.pk})
    ]


# --- Paid orders by month and by day: GMV, buyers, repeat buyers, cohorts -----------------------------------


@dataclass
class MonthActivity:
    """The buyers of one first-order-month cohort in one calendar month (brand time zone)."""

    cohort: date  # first day of the month of the customers' first paid order
    month: date  # first day of the month
    customers: int  # of the cohort, with a paid order in the month
    repeaters: int  # of those, with a paid order in the month after their very first one


@dataclass
class DayActivity:
    day: date  # brand time zone
    orders: int = 0  # paid orders placed that day
    gmv: float = 0.0
    new_buyers: int = 0  # customers whose first paid order was placed that day


@dataclass
class PaidActivity:
    months: list[MonthActivity]  # every (cohort, month) with a buyer, in order
    days: list[DayActivity]  # every day with a paid order, in order

    def month_totals(self) -> dict[date, tuple[int, float]]:
        """Paid orders and GMV per month (the days added up)."""
        totals: dict[date, list] = {}
        for day in self.days:
            total = totals.setdefault(day.day.replace(day=1), [0, 0.0])
            total[0] += day.orders
            total[1] += day.gmv
        return {month: (orders, round(gmv, 2)) for month, (orders, gmv) in totals.items()}


BITS = 63  # months per bigint word of a customer's active months


def _month_starts(first: date, last: date) -> list[date]:
    """The first days of the months from `first`'s to the one after `last`'s."""
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    out.append(month)
    return out


def paid_activity(*, brand) -> PaidActivity:
    """Every paid order of the brand folded: per (first-order-month cohort, month) the buyers and repeat
    buyers (what cohort retention and the monthly trend read), and per day the paid orders, GMV and new buyers
    (what the dashboard's date-range figures add up). Months and days are the brand's.

    Two passes over the orders, each a hash aggregate the workers share: per customer (first purchase,
    the latest purchase of the first month, and the months with a purchase as bits of bigints), then per
    day. The local month and day of an order are found by binary search among the instants the months and
    days start (width_bucket over a sorted array), not by a time-zone conversion per order; the bits are
    added up per cohort in SQL. At a million customers (9M orders) this replaces grouping the orders per
    (customer, month), 6M groups, and a window over them."""
    t = _tables()
    tz = brand.tzinfo
    lo, hi = _rows(
        f"SELECT MIN(placed_at), MAX(placed_at) FROM {t['order']} WHERE brand_id = %s AND status = 'paid'",
        [brand.pk],
    )[0]
    if lo is None:
        return PaidActivity(months=[], days=[])
    first_day, last_day = lo.astimezone(tz).date(), hi.astimezone(tz).date()
    months = _month_starts(first_day, last_day)
    days = [first_day + timedelta(days=k) for k in range((last_day - first_day).days + 2)]
    span = len(months) - 1  # months with orders possible: width_bucket gives 1..span
    words = -(-span // BITS)
    bits = ", ".join(
        f"BIT_OR(CASE WHEN %(span)s - m BETWEEN {w * BITS} AND {w * BITS + BITS - 1} "
        f"THEN 1::bigint << (%(span)s - m - {w * BITS}) ELSE 0 END) AS a{w}"
        for w in range(words)
    )
    # buyers of the cohort in its k-th month before the last: bit k of the customer's words
    sums = ", ".join(f"SUM((a{k // BITS} >> {k % BITS}) & 1)" for k in range(span))
    zeros = ", ".join("0" for _k in range(span))
    # a customer's key: month index, then the reversed microseconds since the first order, so the smallest
    # key is the first month and the latest purchase in it
    mask = (1 << 52) - 1  # 142 years of microseconds; the month index takes the 11 bits above
    micros = "((date_part('epoch', placed_at) * 1000000)::bigint - %(lo_micros)s)"
    sql = f"""
        WITH per_customer AS MATERIALIZED (
            SELECT MIN(placed_at) AS first_at,
                   MIN((m::bigint << 52) | ({mask} - {micros})) AS first_month_key,
                   {bits}
            FROM (
                SELECT customer_id, placed_at, width_bucket(placed_at, %(months)s::timestamptz[]) AS m
                FROM {t["order"]}
                WHERE brand_id = %(brand)s AND status = 'paid' AND placed_at >= %(lo)s AND placed_at <= %(hi)s
            ) paid
            GROUP BY customer_id
        )
        SELECT 'c', (first_month_key >> 52)::int,
               COUNT(*) FILTER (WHERE {mask} - (first_month_key & {mask})
                                      > (date_part('epoch', first_at) * 1000000)::bigint - %(lo_micros)s),
               {sums}
        FROM per_customer GROUP BY 2
        UNION ALL
        SELECT 'f', width_bucket(first_at, %(days)s::timestamptz[]), COUNT(*), {zeros}
        FROM per_customer GROUP BY 2
    """
    bounds = {
        "brand": brand.pk,
        "lo": lo,
        "lo_micros": round(lo.timestamp() * 1_000_000),
        "hi": hi,
        "span": span,
        "months": [datetime.combine(m, time.min, tzinfo=tz) for m in months],
        "days": [datetime.combine(d, time.min, tzinfo=tz) for d in days],
    }
    cells: list[MonthActivity] = []
    by_day: dict[int, DayActivity] = {}
    for kind, index, count, *active in _rows(sql, bounds):
        if kind == "f":
            by_day.setdefault(index, DayActivity(day=days[index - 1])).new_buyers = int(count)
            continue
        for k, customers in enumerate(active):  # k months before the last
            m = span - k
            if m < index or not customers:
                continue
            # repeat buyers: all of them after the first month, those who bought again in the first month
            repeaters = int(count) if m == index else int(customers)
            cells.append(MonthActivity(months[index - 1], months[m - 1], int(customers), repeaters))
    for index, orders, gmv in _rows(
        f"""SELECT width_bucket(placed_at, %(days)s::timestamptz[]), COUNT(*), SUM(total_amount)
            FROM {t["order"]}
            WHERE brand_id = %(brand)s AND status = 'paid' AND placed_at >= %(lo)s AND placed_at <= %(hi)s
            GROUP BY 1""",
        bounds,
    ):
        row = by_day.setdefault(index, DayActivity(day=days[index - 1]))
        row.orders, row.gmv = int(orders), float(gmv or 0)
    cells.sort(key=lambda r: (r.cohort, r.month))
    return PaidActivity(months=cells, days=[by_day[i] for i in sorted(by_day)])


def trend_from_activity(activity: PaidActivity, *, count: int = 12) -> list[dict]:
    """Per calendar month, the `count` months up to the latest with a paid order (months without orders
    zero): GMV and paid orders, buyers, and repeat buyers (buyers of the month with an earlier paid order,
    that month or before)."""
    totals = activity.month_totals()
    if not totals:
        return []
    buyers: dict[date, list[int]] = {}
    for row in activity.months:
        pair = buyers.setdefault(row.month, [0, 0])
        pair[0] += row.customers
        pair[1] += row.repeaters
    last = max(totals)
    index = last.year * 12 + last.month - 1
    out = []
    for k in range(index - count + 1, index + 1):
        month = date(k // 12, k % 12 + 1, 1)
        orders, gmv = totals.get(month, (0, 0.0))
        month_buyers, repeat_buyers = buyers.get(month, (0, 0))
        out.append(
            {
                "month": month,
                "label": month.strftime("%Y-%m"),
                "gmv": gmv,
                "orders": orders,
                "buyers": month_buyers,
                "repeat_buyers": repeat_buyers,
                "repurchase_rate": repeat_buyers / month_buyers if month_buyers else None,
            }
        )
    return out


def monthly_trend(*, brand, months: int = 12) -> list[dict]:
    """Per calendar month (brand time zone), the `months` months up to the latest paid order: GMV and paid
    orders, buyers, and repeat buyers (buyers of the month with an earlier paid order, that month or before)."""
    if not 1 <= months <= MAX_PERIODS:
        raise ReportError(_("Ask for 1 to %(max)d periods.") % {"max": MAX_PERIODS})
    return trend_from_activity(paid_activity(brand=brand), count=months)


def customers_first_seen(*, brand, periods: list[tuple[date, date]]) -> list[tuple[int, bool]]:
    """Per period (brand days, inclusive): how many of the brand's customers were first seen in it, and
    whether the customers' first-seen days reach it at all (else its count means "no data", not 0). One
    query through the (brand, first_seen_at) index."""
    if not periods:
        return []
    t = _tables()
    bounds = [
        (_day_start(brand, start), _day_start(brand, end + timedelta(days=1))) for start, end in periods
    ]
    counts = ", ".join("COUNT(*) FILTER (WHERE first_seen_at >= %s AND first_seen_at < %s)" for _b in bounds)
    ranges = " OR ".join("(first_seen_at >= %s AND first_seen_at < %s)" for _b in bounds)
    sql = f"""
        SELECT (SELECT MIN(first_seen_at) FROM {t["customer"]} WHERE brand_id = %s),
               (SELECT MAX(first_seen_at) FROM {t["customer"]} WHERE brand_id = %s),
               {counts}
        FROM {t["customer"]} WHERE brand_id = %s AND ({ranges})
    """
    flat = [value for pair in bounds for value in pair]
    first, last, *numbers = _rows(sql, [brand.pk, brand.pk, *flat, brand.pk, *flat])[0]
    return [
        (int(n), first is not None and lo <= last and hi > first)
        for n, (lo, hi) in zip(numbers, bounds, strict=True)
    ]


# --- Published scores: tier × stage, the at-risk list ------------------------------------------------------


def tier_stage_distribution(
    *, brand, run: ModelRun | None = None
) -> tuple[ModelRun | None, list[tuple[int | None, str, int]]]:
    """Customers per (tier id or None, stage) in the published run's scores (`run`, when the caller has it)."""
    run = run or published_run(brand=brand, only=RUN_READ_COLUMNS)
    if run is None:
        return None, []
    rows = _rows(
        f"SELECT tier_id, stage, COUNT(*) FROM {CustomerScore._meta.db_table} WHERE brand_id = %s AND run_id = %s "
        "GROUP BY tier_id, stage ORDER BY tier_id NULLS LAST, stage",
        [brand.pk, run.pk],
    )
    return run, [(tier, stage, int(n)) for tier, stage, n in rows]


def _rounded(value, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass
class AtRisk:
    customer_id: int
    clv: float | None  # None when the log has no amounts
    churn_probability: float
    monetary_total: float | None  # spend to date; None when the log has no amounts
    orders_count: int
    value_at_risk: float | None  # spend to date × churn probability
    value_percentile: float  # share (%) of the run's scored customers worth less so far
    clv_percentile: float | None  # share (%) of the run's scored customers with a lower CLV
    stage: str
    tier_id: int | None
    days_since_last_purchase: float
    p_purchase_horizon: float


def at_risk_customers(
    *,
    brand,
    first: int = 50,
    min_churn_probability: float = AT_RISK_MIN_CHURN,
    min_value_percentile: float = AT_RISK_MIN_VALUE_PERCENTILE,
    min_clv_percentile: float | None = None,
    run: ModelRun | None = None,
) -> tuple[ModelRun | None, int, list[AtRisk]]:
    """Most valuable so far × likely to leave, in the published scores (the rule of
    selectors.at_risk_scores; `run` is the published run when the caller has it). Returns (run, how many
    customers qualify, the first `first`)."""
    run = run or published_run(brand=brand, only=RUN_READ_COLUMNS)
    if run is None:
        return None, 0, []
    scores = at_risk_scores(
        run=run,
        min_churn_probability=min_churn_probability,
        min_value_percentile=min_value_percentile,
        min_clv_percentile=min_clv_percentile,
    )
    rows = list(
        scores.values_list(
            "customer_id",
            "clv",
            "churn_probability",
            "monetary_total",
            "orders_count",
            "value_at_risk",
            "value_percentile",
            "clv_percentile",
            "stage",
            "tier_id",
            "days_since_last_purchase",
            "p_purchase_horizon",
        )[:first]
    )
    total = scores.count() if len(rows) >= first else len(rows)  # one query when the list is short
    items = [
        AtRisk(
            customer_id=int(r[0]),
            clv=_rounded(r[1]),
            churn_probability=float(r[2]),
            monetary_total=_rounded(r[3]),
            orders_count=int(r[4]),
            value_at_risk=_rounded(r[5]),
            value_percentile=round(float(r[6]), 2),
            clv_percentile=_rounded(r[7]),
            stage=r[8],
            tier_id=r[9],
            days_since_last_purchase=float(r[10]),
            p_purchase_horizon=float(r[11]),
        )
        for r in rows
    ]
    return run, total, items


# --- the live-stream funnel ---------------------------------------------------------------------------------

FUNNEL_GROUPS = ("stream", "platform", "host")
FUNNEL_STEPS = ("viewers", "engaged", "buyers", "repeat_72h", "repeat_30d")


@dataclass
class FunnelRow:
    """One group's funnel: viewers → engaged viewers (commented, or 5+ comments, likes and shares) → viewers
    who bought in the stream → buyers with another paid order within 72 hours / 30 days of the stream's end.
    Repeat counts are None while no stream of the group has had its 72 hours / 30 days yet; otherwise they
    count the streams whose window has passed, over the buyers of those streams (`buyers_72h_base`,
    `buyers_30d_base`)."""

    key: str  # stream id, platform code, host name; "" for the total
    label: str
    streams: int
    viewers: int
    engaged: int
    buyers: int
    engaged_buyers: int
    repeat_72h: int | None
    buyers_72h_base: int
    repeat_30d: int | None
    buyers_30d_base: int

    @staticmethod
    def _rate(part, whole):
        return None if part is None or not whole else part / whole

    @property
    def engaged_rate(self):  # of viewers
        return self._rate(self.engaged, self.viewers)

    @property
    def buyer_rate(self):  # of viewers
        return self._rate(self.buyers, self.viewers)

    @property
    def engaged_buyer_rate(self):  # of engaged viewers
        return self._rate(self.engaged_buyers, self.engaged)

    @property
    def repeat_72h_rate(self):  # of the buyers whose 72 hours have passed
        return self._rate(self.repeat_72h, self.buyers_72h_base)

    @property
    def repeat_30d_rate(self):  # of the buyers whose 30 days have passed
        return self._rate(self.repeat_30d, self.buyers_30d_base)


def stream_funnel(
    *, brand, start: date, end: date, by: str = "stream", now: datetime | None = None, limit: int = 200
) -> list[FunnelRow]:
    """The funnel per stream, platform or host for the streams started between `start` and `end` (brand days,
    inclusive; at most `limit` streams, the most recent), the total last. A customer counts once per stream;
    the total and the groups sum over streams. One query."""
    if by not in FUNNEL_GROUPS:
        raise ReportError(_("Group the funnel by stream, platform or host."))
    if end < start:
        raise ReportError(_("The start date is after the end date."))
    now = now or timezone.now()
    t = _tables()
    sql = f"""
        WITH chosen AS (
            SELECT id, platform, host_name, title, external_id, COALESCE(ended_at, started_at) AS ended_at
            FROM {t["stream"]}
            WHERE brand_id = %(brand)s AND started_at >= %(start)s AND started_at < %(end)s
            ORDER BY started_at DESC, id DESC LIMIT %(limit)s
        ), viewers AS (
            SELECT v.stream_id, v.customer_id,
                   (v.comments > 0 OR v.comments + v.likes + v.shares >= %(engaged)s) AS engaged
            FROM {t["view"]} v JOIN chosen c ON c.id = v.stream_id
            WHERE v.brand_id = %(brand)s
        ), firsts AS (
            SELECT o.stream_id, o.customer_id, MIN(o.placed_at) AS first_at
            FROM {t["order"]} o JOIN chosen c ON c.id = o.stream_id
            WHERE o.brand_id = %(brand)s AND o.status = 'paid'
            GROUP BY o.stream_id, o.customer_id
        ), people AS (
            SELECT v.stream_id, v.customer_id, v.engaged, f.first_at, c.ended_at,
                   c.ended_at + interval '72 hours' <= %(now)s AS done_72h,
                   c.ended_at + interval '30 days' <= %(now)s AS done_30d
            FROM viewers v JOIN chosen c ON c.id = v.stream_id
            LEFT JOIN firsts f ON f.stream_id = v.stream_id AND f.customer_id = v.customer_id
        ), repeats AS (
            SELECT p.stream_id, p.customer_id,
                   COUNT(*) FILTER (WHERE o.placed_at <= p.ended_at + interval '72 hours') >= 2 AS r72,
                   COUNT(*) FILTER (WHERE o.placed_at <= p.ended_at + interval '30 days') >= 2 AS r30
            FROM people p JOIN {t["order"]} o
              ON o.brand_id = %(brand)s AND o.customer_id = p.customer_id AND o.status = 'paid'
             AND o.placed_at >= p.first_at AND o.placed_at <= p.ended_at + interval '30 days'
            WHERE p.first_at IS NOT NULL
            GROUP BY p.stream_id, p.customer_id
        )
        SELECT c.id, c.platform, c.host_name, COALESCE(NULLIF(c.title, ''), c.external_id),
               COUNT(p.customer_id), COUNT(*) FILTER (WHERE p.engaged),
               COUNT(p.first_at), COUNT(p.first_at) FILTER (WHERE p.engaged),
               COUNT(*) FILTER (WHERE r.r72 AND p.done_72h), COUNT(p.first_at) FILTER (WHERE p.done_72h),
               COUNT(*) FILTER (WHERE r.r30 AND p.done_30d), COUNT(p.first_at) FILTER (WHERE p.done_30d),
               BOOL_OR(p.done_72h), BOOL_OR(p.done_30d)
        FROM chosen c
        LEFT JOIN people p ON p.stream_id = c.id
        LEFT JOIN repeats r ON r.stream_id = p.stream_id AND r.customer_id = p.customer_id
        GROUP BY c.id, c.platform, c.host_name, c.title, c.external_id
    """
    params = {
        "brand": brand.pk,
        "start": _day_start(brand, start),
        "end": _day_start(brand, end + timedelta(days=1)),
        "limit": limit,
        "engaged": ENGAGED_INTERACTIONS,
        "now": now,
    }
    rows = _rows(sql, params, jit=False)
    from apps.streams.models import Platform

    platforms = dict(Platform.choices)

    def key_of(row):
        if by == "stream":
            return str(row[0]), row[3]
        if by == "platform":
            return row[1], str(platforms.get(row[1], row[1]))
        return row[2], row[2] or _("(no host)")

    groups: dict[str, list] = {}
    labels: dict[str, str] = {}
    for row in rows:
        key, label = key_of(row)
        groups.setdefault(key, []).append(row)
        labels[key] = label

    def fold(key: str, label: str, members: list) -> FunnelRow:
        done_72h = any(r[12] for r in members)
        done_30d = any(r[13] for r in members)
        return FunnelRow(
            key=key,
            label=label,
            streams=len(members),
            viewers=sum(r[4] for r in members),
            engaged=sum(r[5] for r in members),
            buyers=sum(r[6] for r in members),
            engaged_buyers=sum(r[7] for r in members),
            repeat_72h=sum(r[8] for r in members) if done_72h else None,
            buyers_72h_base=sum(r[9] for r in members),
            repeat_30d=sum(r[10] for r in members) if done_30d else None,
            buyers_30d_base=sum(r[11] for r in members),
        )

    out = [fold(k, labels[k], members) for k, members in sorted(groups.items(), key=lambda kv: labels[kv[0]])]
    if by == "stream":
        out.sort(key=lambda r: -int(r.key))
    out.append(fold("", _("All streams"), rows))
    return out
