"""What the brand dashboard shows, one section at a time, so one that cannot be made never hides the others:
- customers by tier and lifecycle stage (stacked bars) from the published scores;
- the at-risk high-value customers (count and the first AT_RISK_ROWS, linked to their 360 pages);
- cohort retention by first-purchase month (heatmap);
- Kaplan-Meier curves of the time to the next purchase by stage, with the log-rank p-value;
- GMV and the repurchase rate by month (TREND_MONTHS months up to the latest paid order);
- the 72-hour repurchase rate after streams (STREAM_DAYS days up to the latest stream);
- the latest model run with its holdout metrics and data-sufficiency warnings (linked to the run page).

Every figure comes from apps.analytics.reports and selectors (the same reads GraphQL serves); this module only
shapes them into server-side SVG charts (apps.core.charts: no JavaScript, no outside request) and rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics import reports
from apps.analytics.models import ModelRun, Stage
from apps.analytics.selectors import (
    AT_RISK_MIN_CHURN,
    AT_RISK_MIN_VALUE_PERCENTILE,
    RUN_READ_COLUMNS,
    STAGE_ORDER,
    published_run,
)
from apps.core import charts
from apps.loyalty.models import Tier

AT_RISK_ROWS = 10
# the rule in words: "top 20%", "50%" (kept out of the translatable strings, which hold no bare percent sign)
AT_RISK_RULE = {
    "top": charts.percent(1 - AT_RISK_MIN_VALUE_PERCENTILE / 100),
    "above": charts.percent(AT_RISK_MIN_VALUE_PERCENTILE / 100),
    "churn": charts.percent(AT_RISK_MIN_CHURN),
}
TREND_MONTHS = 12
COHORT_MONTHS = 12  # cohorts shown (the most recent) and periods per cohort
STREAM_DAYS = 90
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


def dashboard_context(brand, *, now: datetime | None = None) -> dict:
    """Everything the dashboard shows for one brand. `now` ends the Kaplan-Meier follow-up and decides which
    cohort periods have started (default: the current time)."""
    now = now or timezone.now()
    run = published_run(brand=brand, only=(*RUN_READ_COLUMNS, "customers_scored"))
    tiers = {tier.pk: tier for tier in Tier.objects.filter(brand=brand)}
    distribution = stage_tier_section(brand, run, tiers)
    at_risk = at_risk_section(brand, run, tiers)
    gmv, repurchase = trend_sections(brand)
    streams = stream_section(brand)
    return {
        "published_run": run,
        "distribution": distribution,
        "at_risk": at_risk,
        "cohorts": cohort_section(brand, now),
        "survival": survival_section(brand, now),
        "gmv": gmv,
        "repurchase": repurchase,
        "streams": streams,
        "latest_run": latest_run_section(brand),
        "cards": _cards(brand, run, distribution, at_risk, gmv, streams),
        "at_risk_rule": AT_RISK_RULE,
    }


def _cards(brand, run, distribution, at_risk, gmv, streams) -> list[tuple[str, str, str, str]]:
    """(label, value, note, link) for the row of figures at the top: each opens what it counts."""
    customers = reverse("admin:customers_customer_changelist")
    cards = [
        (
            _("Customers scored"),
            charts.number(distribution.figures.get("total", 0)) if run else "—",
            _("as of %(date)s") % {"date": run.as_of.isoformat()} if run else _("No published scores yet"),
            customers,
        ),
        (
            _("At-risk high-value customers"),
            charts.number(at_risk.figures["count"]) if run else "—",
            _("Top %(top)s by spend to date, churn probability %(churn)s or more") % AT_RISK_RULE,
            f"{customers}?at_risk=yes",
        ),
    ]
    last = gmv.figures.get("last")
    if last:
        orders = reverse("admin:orders_order_changelist")
        cards.append(
            (
                _("GMV, %(month)s") % {"month": last["label"]},
                charts.number(last["gmv"]),
                _("paid orders, month to date") if last.get("partial") else _("paid orders"),
                f"{orders}?status__exact=paid&placed_at__year={last['label'][:4]}"
                f"&placed_at__month={int(last['label'][5:7])}"
                if len(last["label"]) >= 7 and last["label"][4] == "-"
                else orders,
            )
        )
    rate = streams.figures.get("rate")
    cards.append(
        (
            _("72-hour repurchase after streams"),
            charts.percent(rate) if rate is not None else "—",
            _("buyers of the streams of the last %(days)d days") % {"days": STREAM_DAYS},
            reverse("clv_dashboard_funnel", args=[brand.pk]) + "?by=stream",
        )
    )
    return cards


def _stage_label(code: str) -> str:
    try:
        return str(Stage(code).label)
    except ValueError:
        return code


# customers by tier and stage


def stage_tier_section(brand, run, tiers) -> Section:
    title = _("Customers by tier and lifecycle stage")
    _run, rows = reports.tier_stage_distribution(brand=brand)
    counts = {(tier_id, stage): n for tier_id, stage, n in rows}
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


def at_risk_section(brand, run, tiers) -> Section:
    """The first AT_RISK_ROWS of reports.at_risk_customers (the at-risk rule of selectors.at_risk_scores)."""
    from apps.customers.models import Customer

    if run is None:
        return Section(note=_("No published scores yet."), figures={"count": 0})
    _run, count, items = reports.at_risk_customers(brand=brand, first=AT_RISK_ROWS)
    external_ids = dict(
        Customer.objects.filter(brand=brand, pk__in=[i.customer_id for i in items]).values_list(
            "pk", "external_id"
        )
    )
    rows = [
        AtRiskRow(
            customer_id=item.customer_id,
            external_id=external_ids.get(item.customer_id, ""),
            stage=_stage_label(item.stage),
            tier=tiers[item.tier_id].display_name if item.tier_id in tiers else "—",
            spend_to_date=item.monetary_total,
            purchases_to_date=item.orders_count,
            churn_probability=item.churn_probability,
            value_at_risk=item.value_at_risk,
            url=reverse("admin:customers_customer_360", args=[item.customer_id]),
        )
        for item in items
    ]
    return Section(rows=rows, figures={"count": count})


# cohort retention


def cohort_section(brand, now) -> Section:
    title = _("Retention by first-purchase month")
    try:
        cohorts = reports.cohort_retention(
            brand=brand, by="first_order_month", periods=COHORT_MONTHS, now=now
        )
    except reports.ReportError as exc:
        return Section(note=str(exc))
    cohorts = cohorts[-COHORT_MONTHS:]
    chart = charts.heatmap(
        [f"{c.key} ({charts.number(c.size)})" for c in cohorts],
        [str(k) for k in range(COHORT_MONTHS)],
        [c.retention for c in cohorts],
        title=title,
        x_label=_("months after the first purchase"),
        y_label=_("cohort (customers)"),
        description=_("Share of each month's new buyers who bought again in each later month."),
    )
    return Section(chart=chart, rows=cohorts)


# Kaplan-Meier by stage


def survival_section(brand, now) -> Section:
    title = _("Time to the next purchase by lifecycle stage (Kaplan–Meier)")
    try:
        report = reports.kaplan_meier(brand=brand, group_by="stage", end=now)
    except reports.ReportError as exc:
        return Section(note=str(exc))
    series = [
        charts.Series(
            f"{_stage_label(curve.group)} ({charts.number(curve.customers)})",
            list(zip(curve.points["time"].tolist(), curve.points["survival"].tolist(), strict=True)),
            step=True,
            color=STAGE_COLORS.get(curve.group),
        )
        for curve in sorted(
            report.curves, key=lambda c: STAGE_ORDER.index(c.group) if c.group in STAGE_ORDER else 99
        )
    ]
    for item in series:  # every curve starts at 100% on day 0
        if item.points and item.points[0][0] > 0:
            item.points.insert(0, (0.0, 1.0))
    p_value = report.p_value
    if p_value is None:
        test = _("Log-rank test: not enough curves or purchases to compare.")
    else:
        test = _("Log-rank test that the stages' curves are equal: χ² = %(chi)s, p = %(p)s") % {
            "chi": f"{report.chi_square:.2f}",
            "p": "< 0.001" if p_value < 0.001 else f"{p_value:.3f}",
        }
    origin = report.origin.astimezone(brand.tzinfo).date().isoformat()
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
                _stage_label(c.group),
                c.customers,
                c.events,
                "—" if c.median_days is None else charts.number(c.median_days),
            )
            for c in report.curves
        ],
        figures={
            "p_value": p_value,
            "test": test,
            "origin": origin,
            "run_id": report.run.pk if report.run else None,
        },
    )


# GMV and repurchase by month


def trend_sections(brand) -> tuple[Section, Section]:
    trend = reports.monthly_trend(brand=brand, months=TREND_MONTHS)
    # the current month is month to date: marked, so its lower GMV does not read as a fall
    this_month = timezone.now().astimezone(brand.tzinfo).strftime("%Y-%m")
    for row in trend:
        row["partial"] = row["label"] == this_month
    labels = [row["label"] + (" *" if row["partial"] else "") for row in trend]

    def month_label(value: float) -> str:
        index = round(value)
        return labels[index] if abs(value - index) < 1e-6 and 0 <= index < len(labels) else ""

    common = {"x_format": month_label, "x_range": (0, max(len(labels) - 1, 1)), "height": 260}
    gmv = charts.line_chart(
        [charts.Series(_("GMV"), [(i, row["gmv"]) for i, row in enumerate(trend)])],
        title=_("GMV by month"),
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


def stream_section(brand) -> Section:
    from apps.streams.models import Stream

    title = _("72-hour repurchase rate after each stream")
    latest = Stream.objects.filter(brand=brand).aggregate(latest=Max("started_at"))["latest"]
    if latest is None:
        return Section(chart=charts.bar_chart([], [], title=title), note=_("No streams yet."))
    end = latest.astimezone(brand.tzinfo).date()
    start = end - timedelta(days=STREAM_DAYS - 1)
    try:
        streams, stats = reports.stream_performance(brand=brand, start=start, end=end)
    except reports.ReportError as exc:
        return Section(note=str(exc))
    total = stats[-1]
    shown = list(zip(streams, stats[:-1], strict=True))[:STREAM_BARS][::-1]  # oldest first
    labels = [
        f"{stream.started_at.astimezone(brand.tzinfo):%m-%d} {stream.title or stream.external_id}"
        for stream, _row in shown
    ]
    chart = charts.bar_chart(
        labels,
        [
            charts.BarSeries(
                _("repurchased within 72 hours"), [row.repurchase_rate_72h or 0 for _s, row in shown]
            )
        ],
        title=title,
        y_label=_("share of the stream's buyers"),
        y_format=charts.percent,
        description=_("Share of each stream's buyers who bought again within 72 hours of the stream's end."),
        empty_message=_("No buyer bought again within 72 hours of these streams."),
    )
    return Section(
        chart=chart,
        rows=[(stream, row) for stream, row in zip(streams, stats[:-1], strict=True)][:STREAM_BARS],
        figures={
            "rate": total.repurchase_rate_72h,
            "buyers": total.buyers,
            "repurchasers": total.repurchasers_72h,
            "start": start,
            "end": end,
        },
    )


# the latest model run


def latest_run_section(brand) -> Section:
    from apps.analytics.admin_views import run_report

    run = ModelRun.objects.filter(brand=brand).defer("engine").order_by("-created_at", "-pk").first()
    if run is None:
        return Section(note=_("No model run yet."))
    run.brand = brand
    report = run_report(run)
    overall = next((g for g in report["metric_groups"] if g["key"] == "overall"), None)
    return Section(
        rows=overall["rows"] if overall else [],
        figures={
            "run": run,
            "url": reverse("admin:analytics_modelrun_change", args=[run.pk]),
            "metric_columns": report["metric_columns"],
            "overall": overall,
            "warnings": report["warnings"],
        },
    )
