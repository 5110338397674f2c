"""Root query and mutation fields of the analytics app, merged into clvsite.schema.

Who may call what (the role in the brand asked about):
- viewer and up: model runs, the stage transition matrix, the tier × stage distribution and the at-risk
  list (reads of stored scores);
- analyst and up: cohort retention, Kaplan-Meier curves and stream performance (heavy queries over the
  raw orders and views), and refreshScores.
A brand the caller does not belong to is "No such brand.".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Annotated

import strawberry
from django.utils.translation import get_language, gettext
from strawberry import relay
from strawberry.types import Info

from apps.analytics import models, reports, selectors, snapshots
from apps.analytics.graphql.types import (
    AtRiskCustomer,
    AtRiskReport,
    CohortGrouping,
    CohortRetention,
    CohortRow,
    FunnelGrouping,
    FunnelRowType,
    KaplanMeierReport,
    ModelRunType,
    NodeBatch,
    PeriodUnit,
    RunKind,
    RunStatus,
    Stage,
    StageTransitionCell,
    StageTransitionMatrix,
    StreamPerformance,
    StreamPerformanceReport,
    SurvivalCurve,
    SurvivalGrouping,
    SurvivalPoint,
    TierStageCell,
    TierStageDistribution,
    WatchBand,
)
from apps.analytics.readcache import reads_cached
from apps.core.graphql.money import money
from apps.core.graphql.mutations import ClientError, brand_for, client_errors
from apps.core.graphql.relay import Connection, connection, node_pk

VIEWER, ANALYST = "viewer", "analyst"
MAX_LIST = 100


def _gid(type_name: str, pk) -> relay.GlobalID | None:
    return None if pk is None else relay.GlobalID(type_name, str(pk))


@strawberry.type(description="What refreshScores did.")
class RefreshScoresPayload:
    run: ModelRunType | None = strawberry.field(
        description="The run: finished (published when it succeeded) when it ran in the request; pending or "
        "running when it was queued (a request while another is waiting or running gets that run)."
    )
    queued: bool = strawberry.field(
        description="True when the refresh goes on in the background: follow `run.status` and `run.phase`."
    )


def _report(call, *, brand, name: str, params: dict | None = None):
    """Run a report, or read it from the read cache when the brand's data have not changed since (see
    readcache.py); its ReportErrors are validation errors the client sees."""
    try:
        return reads_cached(brand=brand, name=name, params=params or {}, compute=call)
    except reports.ReportError as exc:
        raise ClientError(str(exc)) from None


def _tier_names(brand, ids) -> dict[int, str]:
    from apps.loyalty.models import Tier

    return {t.pk: t.display_name for t in Tier.objects.filter(brand=brand, pk__in=[i for i in ids if i])}


def _stream_row(
    stats: reports.StreamStats, stream, batch: NodeBatch | None, currency: str
) -> StreamPerformance:
    bands = [
        WatchBand(
            band=label,
            viewers=stats.bands.get(label, (0, 0))[0],
            buyers=stats.bands.get(label, (0, 0))[1],
            conversion_rate=reports.StreamStats.rate(*reversed(stats.bands.get(label, (0, 0)))),
        )
        for label, _low in reports.WATCH_BANDS
    ]
    engaged, other = stats.engaged_buy_rate, stats.other_buy_rate
    return StreamPerformance(
        stream_id=_gid("Stream", stream.pk if stream else None),
        stream_pk=stream.pk if stream else None,
        batch=batch,
        title=(stream.title or stream.external_id) if stream else None,
        started_at=stream.started_at if stream else None,
        viewers=stats.viewers,
        buyers=stats.buyers,
        viewer_buyers=stats.viewer_buyers,
        orders=stats.orders,
        gmv=money(stats.gmv, currency),
        conversion_rate=stats.conversion_rate,
        by_watch_time=bands,
        repurchasers_72h=stats.repurchasers_72h,
        repurchase_rate_72h=stats.repurchase_rate_72h,
        engaged_viewers=stats.engaged_viewers,
        engaged_buy_rate=engaged,
        other_buy_rate=other,
        engagement_lift=(engaged / other) if engaged is not None and other else None,
    )


@strawberry.type
class Query:
    @connection(
        Connection[ModelRunType],
        description="Model runs (refreshes and backtests) of the caller's brands, newest first. Viewer role.",
    )
    def model_runs(
        self,
        brand: relay.GlobalID | None = None,
        kind: RunKind | None = None,
        status: RunStatus | None = None,
    ) -> Iterable[models.ModelRun]:
        queryset = models.ModelRun.objects.order_by("-created_at", "-pk")
        if brand is not None:
            queryset = queryset.filter(brand_id=node_pk(brand, type_name="Brand", field="brand"))
        if kind is not None:
            queryset = queryset.filter(kind=kind.value)
        if status is not None:
            queryset = queryset.filter(status=status.value)
        return queryset

    @strawberry.field(
        description="Cohort retention: per cohort (first-order month, or acquisition stream) its size and the "
        "share that bought in each later period (calendar months; 30-day periods from the stream's start for "
        "stream cohorts). Periods not started yet are null. At most 200 cohorts (the latest) and 36 periods. "
        "Analyst role."
    )
    def cohort_retention(
        self,
        info: Info,
        brand: relay.GlobalID,
        by: CohortGrouping,
        periods: int = 12,
        since: date | None = None,
        until: date | None = None,
    ) -> CohortRetention:
        owner = brand_for(info, brand, ANALYST)

        def compute():
            reports.cohort_arguments_check(periods=periods, since=since, until=until)
            # the paid orders folded by the dashboard snapshot (computed at publish, or now when the data
            # changed since; the dashboard's cohort page reads the same), not folded again per request; for
            # the current data exactly, since the read cache keeps the result under the current data version
            activity = (
                snapshots.paid_activity_current(brand=owner, fresh=False)
                if by == CohortGrouping.FIRST_ORDER_MONTH
                else None
            )
            return reports.cohort_retention(
                brand=owner, by=by.value, periods=periods, since=since, until=until, activity=activity
            )

        cohorts = _report(
            compute,
            brand=owner,
            name="cohort_retention",
            params={"by": by.value, "periods": periods, "since": since, "until": until},
        )
        return CohortRetention(
            by=by,
            period_unit=PeriodUnit("month" if by == CohortGrouping.FIRST_ORDER_MONTH else "30_days"),
            periods=periods,
            cohorts=[
                CohortRow(
                    key=str(_gid("Stream", c.stream_id)) if c.stream_id else c.key,
                    label=c.stream_title or c.key,
                    start=c.start,
                    size=c.size,
                    retained=c.retained,
                    retention=c.retention,
                )
                for c in cohorts
            ],
        )

    @strawberry.field(
        description="The live-stream funnel per stream, platform or host for the streams started from `start` to "
        "`end` (brand days, inclusive; at most 200 streams, the latest), the total last. Analyst role."
    )
    def stream_funnel(
        self,
        info: Info,
        brand: relay.GlobalID,
        start: date,
        end: date,
        by: FunnelGrouping = FunnelGrouping.STREAM,
    ) -> list[FunnelRowType]:
        owner = brand_for(info, brand, ANALYST)
        rows = _report(
            lambda: reports.stream_funnel(brand=owner, start=start, end=end, by=by.value),
            brand=owner,
            name="stream_funnel",
            # its labels are translated ("All streams", the platforms): one entry per language
            params={"start": start, "end": end, "by": by.value, "language": get_language()},
        )
        return [
            FunnelRowType(
                key=str(_gid("Stream", int(r.key))) if by == FunnelGrouping.STREAM and r.key else r.key,
                label=r.label,
                streams=r.streams,
                viewers=r.viewers,
                engaged=r.engaged,
                engaged_rate=r.engaged_rate,
                buyers=r.buyers,
                buyer_rate=r.buyer_rate,
                engaged_buyer_rate=r.engaged_buyer_rate,
                repeat_72h=r.repeat_72h,
                repeat_72h_rate=r.repeat_72h_rate,
                repeat_30d=r.repeat_30d,
                repeat_30d_rate=r.repeat_30d_rate,
            )
            for r in rows
        ]

    @strawberry.field(
        description="How many customers moved between stages from `start` to `end`, from the runs published as "
        "of those days. Viewer role."
    )
    def stage_transition_matrix(
        self, info: Info, brand: relay.GlobalID, start: date, end: date
    ) -> StageTransitionMatrix:
        owner = brand_for(info, brand, VIEWER)
        if start > end:
            raise ClientError(gettext("The start date is after the end date."))
        if selectors.published_run_as_of(brand=owner, day=end, only=("id",)) is None:
            raise ClientError(gettext("No published scores as of %(date)s.") % {"date": end})
        try:
            data = reads_cached(
                brand=owner,
                name="stage_transition_matrix",
                params={"start": start, "end": end},
                compute=lambda: selectors.stage_transition_matrix(brand=owner, start=start, end=end),
            )
        except ValueError:
            raise ClientError(
                gettext("The scores as of %(date)s are no longer kept.") % {"date": start}
            ) from None
        return StageTransitionMatrix(
            from_run_id=_gid("ModelRun", data["from_run"]),
            to_run_id=_gid("ModelRun", data["to_run"]),
            from_as_of=date.fromisoformat(data["from_as_of"]) if data["from_as_of"] else None,
            to_as_of=date.fromisoformat(data["to_as_of"]),
            cells=[
                StageTransitionCell(from_stage=Stage(src) if src else None, to_stage=Stage(dst), customers=n)
                for src, row in data["matrix"].items()
                for dst, n in row.items()
            ],
        )

    @strawberry.field(description="Customers per tier and stage in the published scores. Viewer role.")
    def tier_stage_distribution(self, info: Info, brand: relay.GlobalID) -> TierStageDistribution:
        owner = brand_for(info, brand, VIEWER)
        run, rows = _report(
            lambda: reports.tier_stage_distribution(brand=owner), brand=owner, name="tier_stage_distribution"
        )
        names = _tier_names(owner, {tier for tier, _s, _n in rows})
        return TierStageDistribution(
            run_id=_gid("ModelRun", run.pk if run else None),
            as_of=run.as_of if run else None,
            total=sum(n for _t, _s, n in rows),
            cells=[
                TierStageCell(
                    tier_id=_gid("Tier", tier), tier_name=names.get(tier), stage=Stage(stage), customers=n
                )
                for tier, stage, n in rows
            ],
        )

    @strawberry.field(
        description="Kaplan-Meier curves of the time to the next paid purchase after a refresh's cutoff (the "
        "refresh published as of `asOf`; by default the oldest one whose scores are kept), one per segment at "
        "that cutoff, with the log-rank test that they are equal. Follow-up is censored at `end` (default "
        "now). Grouping by experiment arm is not offered: the product records no experiments. Analyst role."
    )
    def kaplan_meier(
        self,
        info: Info,
        brand: relay.GlobalID,
        group_by: SurvivalGrouping,
        as_of: date | None = None,
    ) -> KaplanMeierReport:
        owner = brand_for(info, brand, ANALYST)
        report = _report(
            lambda: reports.kaplan_meier(brand=owner, group_by=group_by.value, as_of=as_of),
            brand=owner,
            name="kaplan_meier",
            params={"group_by": group_by.value, "as_of": as_of},
        )
        tier_names = _tier_names(owner, [int(c.group) for c in report.curves if c.group.isdigit()])

        def label(group: str) -> str:
            if group_by == SurvivalGrouping.STAGE:
                return str(models.Stage(group).label)
            if group_by == SurvivalGrouping.TIER:
                return tier_names.get(int(group), group) if group else gettext("No tier")
            return gettext("Community member") if group == "member" else gettext("Not in a community")

        return KaplanMeierReport(
            group_by=group_by,
            run_id=_gid("ModelRun", report.run.pk if report.run else None),
            origin=report.origin,
            end=report.end,
            curves=[
                SurvivalCurve(
                    group=str(_gid("Tier", curve.group))
                    if group_by == SurvivalGrouping.TIER and curve.group
                    else curve.group,
                    label=label(curve.group),
                    customers=curve.customers,
                    events=curve.events,
                    median_days=curve.median_days,
                    points=[
                        SurvivalPoint(
                            days=float(p.time),
                            survival=float(p.survival),
                            at_risk=int(p.at_risk),
                            events=int(p.events),
                            censored=int(p.censored),
                            ci_lower=None if p.ci_lower != p.ci_lower else float(p.ci_lower),
                            ci_upper=None if p.ci_upper != p.ci_upper else float(p.ci_upper),
                        )
                        for p in curve.points.itertuples()
                    ],
                )
                for curve in report.curves
            ],
            log_rank_chi_square=report.chi_square,
            log_rank_p_value=report.p_value,
        )

    @strawberry.field(
        description="Per stream started between `from` and `to` (brand days, inclusive; the `first` latest, at "
        "most 100) and in total: viewers, buyers, GMV, conversion by watch-time band, repurchase within 72 "
        "hours after the stream, and the buy rate of viewers with 5+ interactions against the others. "
        "Analyst role."
    )
    def stream_performance(
        self,
        info: Info,
        brand: relay.GlobalID,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        first: int = 50,
    ) -> StreamPerformanceReport:
        owner = brand_for(info, brand, ANALYST)
        if not 1 <= first <= MAX_LIST:
            raise ClientError(gettext("first must be between 1 and %(max)d.") % {"max": MAX_LIST})
        streams, stats = _report(
            lambda: reports.stream_performance(brand=owner, start=from_, end=to, limit=first),
            brand=owner,
            name="stream_performance",
            params={"start": from_, "end": to, "limit": first},
        )
        *rows, total = stats
        from apps.streams.models import Stream

        batch = NodeBatch(Stream, ("apps.streams.graphql.types", "StreamType"), [s.pk for s in streams])
        return StreamPerformanceReport(
            streams=[
                _stream_row(row, stream, batch, owner.currency)
                for row, stream in zip(rows, streams, strict=True)
            ],
            total=_stream_row(total, None, None, owner.currency),
        )

    @strawberry.field(
        description="The win-back list: customers who have been worth the most so far and are likely to leave, "
        "from the published scores. Value to date (spend, or paid purchases when the log has no amounts) above "
        "at least `minValuePercentile` % of the scored customers and churn probability ≥ `minChurnProbability`, "
        "most value at risk (spend to date × churn probability) first. Viewer role."
    )
    def at_risk_customers(
        self,
        info: Info,
        brand: relay.GlobalID,
        first: int = 50,
        min_churn_probability: float = selectors.AT_RISK_MIN_CHURN,
        min_value_percentile: float = selectors.AT_RISK_MIN_VALUE_PERCENTILE,
        min_clv_percentile: Annotated[
            float | None,
            strawberry.argument(
                description="Also require a CLV above this share (%) of the scored customers (unset: no floor).",
                deprecation_reason="CLV already discounts churn; the list ranks by value to date "
                "(minValuePercentile).",
            ),
        ] = None,
    ) -> AtRiskReport:
        owner = brand_for(info, brand, VIEWER)
        if not 1 <= first <= MAX_LIST:
            raise ClientError(gettext("first must be between 1 and %(max)d.") % {"max": MAX_LIST})
        if not 0 <= min_churn_probability <= 1:
            raise ClientError(gettext("minChurnProbability must be between 0 and 1."))
        if not 0 <= min_value_percentile <= 100:
            raise ClientError(gettext("minValuePercentile must be between 0 and 100."))
        if min_clv_percentile is not None and not 0 <= min_clv_percentile <= 100:
            raise ClientError(gettext("minClvPercentile must be between 0 and 100."))
        run, total, items = _report(
            lambda: reports.at_risk_customers(
                brand=owner,
                first=first,
                min_churn_probability=min_churn_probability,
                min_value_percentile=min_value_percentile,
                min_clv_percentile=min_clv_percentile,
            ),
            brand=owner,
            name="at_risk_customers",
            params={
                "first": first,
                "min_churn": min_churn_probability,
                "min_value": min_value_percentile,
                "min_clv": min_clv_percentile,
            },
        )
        from apps.customers.models import Customer

        batch = NodeBatch(
            Customer, ("apps.customers.graphql.types", "CustomerType"), [item.customer_id for item in items]
        )
        return AtRiskReport(
            run_id=_gid("ModelRun", run.pk if run else None),
            total_count=total,
            customers=[
                AtRiskCustomer(
                    customer_id=_gid("Customer", item.customer_id),
                    clv=money(item.clv, owner.currency),
                    churn_probability=item.churn_probability,
                    spend_to_date=money(item.monetary_total, owner.currency),
                    purchases_to_date=item.orders_count,
                    value_at_risk=money(item.value_at_risk, owner.currency),
                    value_percentile=item.value_percentile,
                    clv_percentile=item.clv_percentile,
                    stage=Stage(item.stage),
                    tier_id=_gid("Tier", item.tier_id),
                    days_since_last_purchase=item.days_since_last_purchase,
                    p_purchase_horizon=item.p_purchase_horizon,
                    customer_pk=item.customer_id,
                    batch=batch,
                )
                for item in items
            ],
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Refresh the brand's scores as of `asOf` (default today) for a horizon (default the brand's): "
        "fit, judge, score and publish. Runs in the request without a Celery broker (returns the finished run), "
        "else is queued for the workers (queued: true) and the pending run is returned at once; asking again "
        "while it waits or runs returns the same run. Analyst role."
    )
    def refresh_scores(
        self,
        info: Info,
        brand: relay.GlobalID,
        as_of: date | None = None,
        horizon_days: int | None = None,
    ) -> RefreshScoresPayload:
        from apps.analytics.services import RefreshSkipped
        from apps.analytics.tasks import BrokerUnavailable, scores_refresh_request

        owner = brand_for(info, brand, ANALYST)
        user = info.context.request.user
        who = f"graphql:{getattr(user, 'username', '') or getattr(user, 'pk', '')}"
        with client_errors():
            try:
                run = scores_refresh_request(
                    brand=owner, as_of=as_of, horizon_days=horizon_days, triggered_by=who
                )
            except (RefreshSkipped, BrokerUnavailable) as exc:
                raise ClientError(str(exc)) from None
        in_background = run.status in (models.RunStatus.PENDING, models.RunStatus.RUNNING)
        return RefreshScoresPayload(run=run, queued=in_background)
