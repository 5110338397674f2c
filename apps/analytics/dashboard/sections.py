"""What the brand dashboard shows, one section at a time, so one that cannot be made never hides the others:
- figure cards: customers scored and the at-risk count (published scores); over the chosen date range, GMV,
  paid orders, new buyers, repeat orders, repurchase after streams and new customers, each beside the previous
  period of equal length and the same days a year earlier;
- customers by tier and lifecycle stage (stacked bars) from the published scores;
- the at-risk high-value customers (count and the first AT_RISK_ROWS, linked to their 360 pages);
- cohort retention by first-purchase month (heatmap, each cell linked to its customers);
- Kaplan-Meier curves of the time to the next purchase by stage, with the log-rank p-value;
- GMV and the repurchase rate by month (TREND_MONTHS months up to the latest paid order);
- the 72-hour repurchase rate after streams (STREAM_DAYS days up to the latest stream);
- the latest model run with its holdout metrics and data-sufficiency warnings (linked to the run page).

The figures come from the brand's dashboard snapshot (apps.analytics.snapshots: computed at publish, or on
the first view after the data changed), the new customers and the latest run from one query each; this module
only shapes them into server-side SVG charts (apps.core.charts: no JavaScript, no outside request), cards and
rows in the reader's language, applying what depends on the day (started cohort periods, the month to date,
the date range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from apps.analytics import reports, snapshots
from apps.analytics.dashboard.periods import DEFAULT, Period, preset_days
from apps.analytics.models import ModelRun, RunStatus, Stage
from apps.analytics.selectors import (
    AT_RISK_MIN_CHURN,
    AT_RISK_MIN_VALUE_PERCENTILE,
    RUN_READ_COLUMNS,
    STAGE_ORDER,
    published_run,
)
from apps.core import charts
from apps.loyalty.models import Tier

AT_RISK_ROWS = snapshots.AT_RISK_ROWS
# the rule in words: "top 20%", "50%" (kept out of the translatable strings, which hold no bare percent sign)
AT_RISK_RULE = {
    "top": charts.percent(1 - AT_RISK_MIN_VALUE_PERCENTILE / 100),
    "above": charts.percent(AT_RISK_MIN_VALUE_PERCENTILE / 100),
    "churn": charts.percent(AT_RISK_MIN_CHURN),
}
TREND_MONTHS = 12
COHORT_MONTHS = 12  # cohorts shown (the most recent) and periods per cohort
STREAM_DAYS = snapshots.STREAM_DAYS
STREAM_BARS = 12
STAGE_COLORS = dict(zip(STAGE_ORDER, charts.PALETTE, strict=False))


# --- what the page shows -------------------------------------------------------------------------------------


@dataclass
class Section:
    """One part of the page: its chart (an SVG), or a note saying why it could not be made."""

    chart: str = ""
    note: str = ""
    rows: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def dashboard_context(brand, *, now: datetime | None = None, period: Period | None = None) -> dict:
    """Everything the dashboard shows for one brand. `now` decides which cohort periods have started and
    which month is month to date (default: the current time); `period` the date range of the figure cards
    (default: the last 30 days)."""
    now = now or timezone.now()
    today = now.astimezone(brand.tzinfo).date()
    if period is None:
        period = Period(DEFAULT, *preset_days(DEFAULT, today))
    run = published_run(brand=brand, only=(*RUN_READ_COLUMNS, "customers_scored"))
    snapshot = snapshots.snapshot_current(brand=brand, run=run)
    data = snapshot.data
    tiers = {tier.pk: tier for tier in Tier.objects.filter(brand=brand)}
    activity = snapshots.activity_of(data)
    distribution = stage_tier_section(brand, run, tiers, data)
    at_risk = at_risk_section(brand, run, tiers, data)
    gmv, repurchase = trend_sections(brand, activity, now)
    streams = stream_section(brand, data)
    return {
        "published_run": run,
        "snapshot": snapshot,
        "distribution": distribution,
        "at_risk": at_risk,
        "cohorts": cohort_section(brand, activity.months, now),
        "survival": survival_section(brand, data),
        "gmv": gmv,
        "repurchase": repurchase,
        "streams": streams,
        "latest_run": latest_run_section(brand),
        "cards": _cards(brand, run, distribution, at_risk),
        "period": period,
        "period_cards": period_cards(brand, data, period, now),
        "at_risk_rule": AT_RISK_RULE,
    }


def _cards(brand, run, distribution, at_risk) -> list[dict]:
    """The published scores' figures: each card opens what it counts."""
    customers = reverse("admin:customers_customer_changelist")
    return [
        _card(
            _("Customers scored"),
            charts.number(distribution.figures.get("total", 0)) if run else "—",
            _("as of %(date)s") % {"date": run.as_of.isoformat()} if run else _("No published scores yet"),
            # the published run's scores, one per customer it counts (the customer list also has prospects)
            f"{reverse('admin:analytics_customerscore_changelist')}?run__id__exact={run.pk}"
            if run
            else customers,
        ),
        _card(
            _("At-risk high-value customers"),
            charts.number(at_risk.figures["count"]) if run else "—",
            _("Top %(top)s by spend to date, churn probability %(churn)s or more") % AT_RISK_RULE,
            f"{customers}?at_risk=yes",
        ),
    ]


def _card(label, value, note, link, *, key="", partial=False, changes=()) -> dict:
    return {
        "key": key,
        "label": label,
        "value": value,
        "note": note,
        "link": link,
        "partial": partial,
        "changes": list(changes),
    }


# --- the date range's figures ----------------------------------------------------------------------------


@dataclass
class Measure:
    """One figure of a period: how to read it, show it and compare it (a rate changes in points)."""

    key: str
    label: str
    read: object  # PeriodFigures -> value or None
    show: object  # value -> text
    rate: bool = False
    known: object = lambda figures: figures.has_data  # whether the data reach the period


def _money(value, currency: str = "") -> str:
    """An amount with thousands separators and 2 decimals, then the brand's currency code when given."""
    if value is None:
        return "—"
    return f"{value:,.2f} {currency}" if currency else f"{value:,.2f}"


def _day_start_text(brand, day: date) -> str:
    """An aware datetime as the admin's date filters write it (brand time zone), for their URLs."""
    return str(datetime.combine(day, datetime.min.time(), tzinfo=brand.tzinfo))


def _change(measure: Measure, current, other_figures, label: str) -> dict:
    """One comparison under a card: arrow and percent (points for a rate), or why there is none."""
    span = f"{other_figures.start.isoformat()} – {other_figures.end.isoformat()}"
    other = measure.read(other_figures)
    if not measure.known(other_figures):
        return {"label": label, "text": _("no data"), "direction": "none", "title": span, "partial": False}
    title = f"{span}: {measure.show(other)}" + (" *" if other_figures.partial else "")
    if current is None or other is None or (not measure.rate and other == 0):
        return {
            "label": label,
            "text": "—",
            "direction": "none",
            "title": title,
            "partial": other_figures.partial,
        }
    if measure.rate:
        delta = (current - other) * 100
        text = _("%(value)s pts") % {"value": f"{abs(delta):.1f}"}
    else:
        delta = (current - other) / abs(other) * 100
        text = f"{abs(delta):.1f}%"
    direction = "flat" if abs(delta) < 0.05 else ("up" if delta > 0 else "down")
    arrow = {"up": "▲", "down": "▼", "flat": "="}[direction]
    return {
        "label": label,
        "text": f"{arrow} {text}",
        "direction": direction,
        "title": title,
        "partial": other_figures.partial,
    }


def period_cards(brand, data: dict, period: Period, now: datetime) -> list[dict]:
    """The date range's figures, each beside the previous period of equal length and the same days a year
    earlier; a period the brand's data do not reach says "no data"; partial periods (not over yet, or only
    partly covered by the data) are marked *. Each card opens what it counts, the range carried into the
    list's own date filter where it has one."""
    today = now.astimezone(brand.tzinfo).date()
    read = snapshots.period_reader(data)
    spans = [(period.start, period.end), period.previous, period.year_before]
    figures = [read(start, end, today=today, now=now) for start, end in spans]
    seen = reports.customers_first_seen(brand=brand, periods=spans)
    for item, (count, known) in zip(figures, seen, strict=True):
        item.new_customers, item.customers_known = count, known
    current, previous, last_year = figures
    compare_labels = (
        _("vs previous %(days)d days") % {"days": period.days},
        _("vs a year earlier"),
    )
    after = period.end + timedelta(days=1)
    orders = reverse("admin:orders_order_changelist")
    customers = reverse("admin:customers_customer_changelist")
    paid_orders = f"{orders}?" + urlencode(
        {
            "status__exact": "paid",
            "placed_at__gte": _day_start_text(brand, period.start),
            "placed_at__lt": _day_start_text(brand, after),
        }
    )
    month = period.calendar_month
    new_buyers = (
        f"{customers}?" + urlencode({"cohort": f"m:{brand.pk}:{month:%Y-%m}"})
        if month
        else reverse("clv_dashboard_cohorts", args=[brand.pk])
    )
    measures = [
        (
            # the currency in the label: beside the card's large figure it wrapped to a line of its own
            Measure("gmv", f"{_('GMV')} ({brand.currency})", lambda f: f.gmv, _money),
            _("paid orders' total"),
            paid_orders,
        ),
        (
            Measure("orders", _("Paid orders"), lambda f: f.orders, charts.number),
            _("average order %(value)s") % {"value": _money(current.average_order, brand.currency)},
            paid_orders,
        ),
        (
            Measure("new_buyers", _("New buyers"), lambda f: f.new_buyers, charts.number),
            _("first paid purchase in the period"),
            new_buyers,
        ),
        (
            Measure(
                "repeat_orders", _("Repeat orders"), lambda f: f.repeat_order_share, charts.percent, True
            ),
            _("share of paid orders from buyers who had bought before"),
            paid_orders,
        ),
        (
            Measure(
                "streams_72h",
                _("72-hour repurchase after streams"),
                lambda f: f.stream_repurchase_rate,
                charts.percent,
                True,
            ),
            _("buyers of the period's streams who bought again within 72 hours"),
            reverse("clv_dashboard_funnel", args=[brand.pk])
            + "?"
            + urlencode({"by": "stream", "start": period.start.isoformat(), "end": period.end.isoformat()}),
        ),
        (
            Measure(
                "new_customers",
                _("New customers"),
                lambda f: f.new_customers,
                charts.number,
                known=lambda f: f.customers_known,
            ),
            _("first seen in the period"),
            f"{customers}?"
            + urlencode(
                {
                    "first_seen_at__gte": _day_start_text(brand, period.start),
                    "first_seen_at__lt": _day_start_text(brand, after),
                }
            ),
        ),
    ]
    cards = []
    for measure, note, link in measures:
        known = measure.known(current)
        value = measure.read(current)
        partial = current.partial or (measure.key == "streams_72h" and current.windows_open)
        changes = []
        if known:
            for other, label in zip((previous, last_year), compare_labels, strict=True):
                changes.append(_change(measure, value, other, label))
        cards.append(
            _card(
                measure.label,
                measure.show(value) if known else _("no data"),
                note,
                link,
                key=measure.key,
                partial=partial and known,
                changes=changes,
            )
        )
    return cards


def _stage_label(code: str) -> str:
    try:
        return str(Stage(code).label)
    except ValueError:
        return code


# customers by tier and stage


def stage_tier_section(brand, run, tiers, data: dict) -> Section:
    title = _("Customers by tier and lifecycle stage")
    counts = {(tier_id, stage): n for tier_id, stage, n in data.get("distribution", [])}
    if run is None:
        return Section(chart=charts.bar_chart([], [], title=title), note=_("No published scores yet."))
    tier_ids = sorted(
        {t for t, _s in counts if t is not None}, key=lambda t: (tiers[t].rank, t) if t in tiers else (0, t)
    )
    columns = [*tier_ids, None] if any(t is None for t, _s in counts) else tier_ids
    categories = [tiers[t].display_name if t in tiers else str(t) for t in tier_ids]
    if len(columns) > len(tier_ids):
        categories.append(_("No tier"))
    customers = reverse("admin:customers_customer_changelist")
    series = [
        charts.BarSeries(
            _stage_label(stage),
            [counts.get((t, stage), 0) for t in columns],
            STAGE_COLORS[stage],
            links=[f"{customers}?stage={stage}&tier={t if t is not None else 'none'}" for t in columns],
        )
        for stage in STAGE_ORDER
    ]
    by_stage = [
        (stage, _stage_label(stage), sum(counts.get((t, stage), 0) for t in columns)) for stage in STAGE_ORDER
    ]
    by_tier = [
        (label, sum(counts.get((t, s), 0) for s in STAGE_ORDER))
        for t, label in zip(columns, categories, strict=True)
    ]
    chart = charts.bar_chart(
        categories,
        series,
        title=title,
        x_label=_("tier"),
        y_label=_("customers"),
        description=_("Customers of each tier, by lifecycle stage, in the published scores."),
    )
    return Section(
        chart=chart,
        rows=by_stage,
        figures={
            "total": sum(counts.values()),
            "by_tier": by_tier,
            "by_stage": {s: n for s, _l, n in by_stage},
        },
    )


# at-risk high-value customers


@dataclass
class AtRiskRow:
    customer_id: int
    external_id: str
    stage: str
    tier: str
    spend_to_date: float | None
    purchases_to_date: int
    churn_probability: float
    value_at_risk: float | None
    url: str

    @property
    def churn_percent(self) -> str:
        return charts.percent(self.churn_probability)


def at_risk_section(brand, run, tiers, data: dict) -> Section:
    """The first AT_RISK_ROWS of reports.at_risk_customers (the at-risk rule of selectors.at_risk_scores),
    as the snapshot keeps them."""
    if run is None:
        return Section(note=_("No published scores yet."), figures={"count": 0})
    at_risk = data.get("at_risk") or {"count": 0, "rows": []}
    rows = []
    for customer_id, external_id, stage, tier_id, spend, purchases, churn, at_stake in at_risk["rows"]:
        rows.append(
            AtRiskRow(
                customer_id=customer_id,
                external_id=external_id,
                stage=_stage_label(stage),
                tier=tiers[tier_id].display_name if tier_id in tiers else "—",
                spend_to_date=spend,
                purchases_to_date=purchases,
                churn_probability=churn,
                value_at_risk=at_stake,
                url=reverse("admin:customers_customer_360", args=[customer_id]),
            )
        )
    return Section(rows=rows, figures={"count": at_risk["count"]})


# cohort retention


def cohort_section(brand, months, now) -> Section:
    title = _("Retention by first-purchase month")
    cohorts = reports.cohorts_from_months(
        months, periods=COHORT_MONTHS, now=now.astimezone(brand.tzinfo).date(), limit=COHORT_MONTHS
    )
    customers = reverse("admin:customers_customer_changelist")
    links = [
        [
            None
            if share is None
            else f"{customers}?{urlencode({'cohort': f'm:{brand.pk}:{c.key}', 'period': k})}"
            for k, share in enumerate(c.retention)
        ]
        for c in cohorts
    ]
    chart = charts.heatmap(
        [f"{c.key} ({charts.number(c.size)})" for c in cohorts],
        [str(k) for k in range(COHORT_MONTHS)],
        [c.retention for c in cohorts],
        title=title,
        x_label=_("months after the first purchase"),
        y_label=_("cohort (customers)"),
        description=_("Share of each month's new buyers who bought again in each later month."),
        links=links,
    )
    return Section(chart=chart, rows=cohorts)


# Kaplan-Meier by stage


def _survival_note(km: dict) -> str:
    if km.get("error") == "no_follow_up":
        return _("There is no follow-up after %(date)s yet; pick an earlier date.") % {"date": km.get("date")}
    return _("No published scores yet for these dates.")


def survival_section(brand, data: dict) -> Section:
    title = _("Time to the next purchase by lifecycle stage (Kaplan–Meier)")
    km = data.get("km") or {"error": "no_scores"}
    if "error" in km:
        return Section(note=_survival_note(km))
    curves = sorted(
        km["curves"], key=lambda c: STAGE_ORDER.index(c["group"]) if c["group"] in STAGE_ORDER else 99
    )
    series = [
        charts.Series(
            f"{_stage_label(curve['group'])} ({charts.number(curve['customers'])})",
            list(zip(curve["time"], curve["survival"], strict=True)),
            step=True,
            color=STAGE_COLORS.get(curve["group"]),
        )
        for curve in curves
    ]
    for item in series:  # every curve starts at 100% on day 0
        if item.points and item.points[0][0] > 0:
            item.points.insert(0, (0.0, 1.0))
    p_value = km["p_value"]
    if p_value is None:
        test = _("Log-rank test: not enough curves or purchases to compare.")
    else:
        test = _("Log-rank test that the stages' curves are equal: χ² = %(chi)s, %(p)s") % {
            "chi": f"{km['chi_square']:.2f}",
            "p": "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}",
        }
    origin = datetime.fromisoformat(km["origin"]).astimezone(brand.tzinfo).date().isoformat()
    chart = charts.line_chart(
        series,
        title=title,
        x_label=_("days after %(date)s") % {"date": origin},
        y_label=_("P(no purchase yet)"),
        y_range=(0.0, 1.0),
        y_format=charts.percent,
        description=test,
    )
    return Section(
        chart=chart,
        rows=[
            (
                _stage_label(c["group"]),
                c["customers"],
                c["events"],
                "—" if c["median_days"] is None else charts.number(c["median_days"]),
            )
            for c in km["curves"]
        ],
        figures={
            "p_value": p_value,
            "test": test,
            "origin": origin,
            "end": datetime.fromisoformat(km["end"]).astimezone(brand.tzinfo).date().isoformat(),
            "run_id": km["run_id"],
        },
    )


# GMV and repurchase by month


def trend_sections(brand, activity, now) -> tuple[Section, Section]:
    trend = reports.trend_from_activity(activity, count=TREND_MONTHS)
    # the current month is month to date: marked, so its lower GMV does not read as a fall
    this_month = now.astimezone(brand.tzinfo).strftime("%Y-%m")
    for row in trend:
        row["partial"] = row["label"] == this_month
    labels = [row["label"] + (" *" if row["partial"] else "") for row in trend]

    def month_label(value: float) -> str:
        index = round(value)
        return labels[index] if abs(value - index) < 1e-6 and 0 <= index < len(labels) else ""

    common = {"x_format": month_label, "x_range": (0, max(len(labels) - 1, 1)), "height": 260}
    gmv = charts.line_chart(
        [charts.Series(_("GMV"), [(i, row["gmv"]) for i, row in enumerate(trend)])],
        # the currency in the title: a longer axis label ran into the axis' figures
        title=f"{_('GMV by month')} ({brand.currency})",
        y_label=_("GMV"),
        description=_("Paid orders' total amount per month (* month to date)."),
        **common,
    )
    repurchase = charts.line_chart(
        [
            charts.Series(
                _("repurchase rate"),
                [(i, row["repurchase_rate"]) for i, row in enumerate(trend)],
                color=charts.PALETTE[1],
            )
        ],
        title=_("Repurchase rate by month"),
        y_range=(0.0, 1.0),
        y_format=charts.percent,
        description=_("Share of the month's buyers who had bought before."),
        **common,
    )
    last = next((row for row in reversed(trend) if row["orders"]), None)
    return (
        Section(chart=gmv, rows=trend, figures={"last": last}),
        Section(chart=repurchase, rows=trend),
    )


# 72-hour repurchase after streams


@dataclass
class StreamRow:
    stream_id: int
    title: str
    started_at: datetime
    buyers: int
    repurchasers_72h: int

    @property
    def repurchase_rate_72h(self) -> float | None:
        return self.repurchasers_72h / self.buyers if self.buyers else None


def stream_section(brand, data: dict) -> Section:
    title = _("72-hour repurchase rate after each stream")
    window = data.get("stream_window")
    if not window:
        return Section(chart=charts.bar_chart([], [], title=title), note=_("No streams yet."))
    rows = [
        StreamRow(stream_id, name, datetime.fromisoformat(started), buyers, repurchasers)
        for stream_id, name, started, buyers, repurchasers in window["rows"]
    ]
    shown = rows[:STREAM_BARS][::-1]  # oldest first
    funnel = reverse("clv_dashboard_funnel", args=[brand.pk])

    def day_of(row: StreamRow) -> str:
        return row.started_at.astimezone(brand.tzinfo).date().isoformat()

    chart = charts.bar_chart(
        [f"{row.started_at.astimezone(brand.tzinfo):%m-%d} {row.title}" for row in shown],
        [
            charts.BarSeries(
                _("repurchased within 72 hours"),
                [row.repurchase_rate_72h or 0 for row in shown],
                # each bar opens the funnel of its stream's day, stream by stream
                links=[
                    f"{funnel}?{urlencode({'by': 'stream', 'start': day_of(row), 'end': day_of(row)})}"
                    for row in shown
                ],
            )
        ],
        title=title,
        # the day under each bar (a title would be cut to a few characters); the title is in its tooltip
        tick_labels=[f"{row.started_at.astimezone(brand.tzinfo):%m-%d}" for row in shown],
        y_label=_("share of the stream's buyers"),
        y_format=charts.percent,
        description=_("Share of each stream's buyers who bought again within 72 hours of the stream's end."),
        empty_message=_("No buyer bought again within 72 hours of these streams."),
    )
    buyers, repurchasers = window["buyers"], window["repurchasers"]
    return Section(
        chart=chart,
        rows=rows[:STREAM_BARS],
        figures={
            "rate": repurchasers / buyers if buyers else None,
            "buyers": buyers,
            "repurchasers": repurchasers,
            "start": date.fromisoformat(window["start"]),
            "end": date.fromisoformat(window["end"]),
        },
    )


# the latest model run


def latest_run_section(brand) -> Section:
    from apps.analytics.admin_views import run_report

    # the run whose scores staff see (the published one), with its holdout metrics; a later run that was not
    # published (skipped, failed, running) is named beside it, not shown in its place. Both in one query.
    newest = ModelRun.objects.filter(brand=brand).order_by("-created_at", "-pk").values("pk")[:1]
    runs = list(
        ModelRun.objects.filter(brand=brand)
        .filter(Q(status=RunStatus.PUBLISHED) | Q(pk=Subquery(newest)))
        .defer("engine")
        .order_by("-created_at", "-pk")
    )
    if not runs:
        return Section(note=_("No model run yet."))
    latest = runs[0]
    published = next((r for r in runs if r.status == RunStatus.PUBLISHED), None)
    run = published or latest
    later = latest if published is not None and latest.pk != published.pk else None
    run.brand = brand
    report = run_report(run)
    overall = next((g for g in report["metric_groups"] if g["key"] == "overall"), None)
    return Section(
        rows=overall["rows"] if overall else [],
        figures={
            "run": run,
            "url": reverse("admin:analytics_modelrun_change", args=[run.pk]),
            "later_run": later,
            "later_url": reverse("admin:analytics_modelrun_change", args=[later.pk]) if later else "",
            "metric_columns": report["metric_columns"],
            "overall": overall,
            "warnings": report["warnings"],
        },
    )
