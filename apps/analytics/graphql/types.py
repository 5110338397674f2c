"""GraphQL types of the analytics app: model runs (with their judged metrics and hazard factors), stage
history, and the report shapes of apps.analytics.reports."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.optimizer import optimize

from apps.analytics import models, selectors, sufficiency
from apps.core.graphql.brand_values import brand_currency
from apps.core.graphql.enums import codes_enum
from apps.core.graphql.money import Money, money
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType

if TYPE_CHECKING:
    from apps.customers.graphql.types import CustomerType
    from apps.streams.graphql.types import StreamType

StreamRef = Annotated["StreamType", strawberry.lazy("apps.streams.graphql.types")]
CustomerRef = Annotated["CustomerType", strawberry.lazy("apps.customers.graphql.types")]


class NodeBatch:
    """The rows behind the items of a report (its customers, its streams), loaded once for all items in one
    query that the optimizer shapes for what the client selected, so a report of 100 rows costs the same
    number of queries as one of 10. `type_path`: module and class of the node type."""

    def __init__(self, model, type_path: tuple[str, str], ids):
        self.model, self.type_path, self.ids = model, type_path, list(ids)
        self.rows: dict | None = None

    def get(self, info: Info, pk):
        if pk is None:
            return None
        if self.rows is None:
            import importlib

            node_type = getattr(importlib.import_module(self.type_path[0]), self.type_path[1])
            queryset = node_type.get_queryset(self.model.objects.filter(pk__in=self.ids), info)
            self.rows = {row.pk: row for row in optimize(queryset, info)}
        return self.rows.get(pk)


def _enum_of(choices, name: str, description: str):
    """A GraphQL enum with the members of a Django TextChoices (values are the stored codes)."""
    return strawberry.enum(Enum(name, {m.name: m.value for m in choices}), name=name, description=description)


Stage = _enum_of(
    models.Stage,
    "Stage",
    "Lifecycle stage: prospect (never bought), introduction, growth, maturity, decline, churned.",
)
StageRule = _enum_of(models.StageRule, "StageRule", "Which of the brand's stage rules placed a customer.")
RunKind = _enum_of(models.RunKind, "RunKind", "A scheduled or manual refresh, or a backtest.")
RunStatus = _enum_of(models.RunStatus, "RunStatus", "Where a model run stands.")
Estimator = _enum_of(models.Estimator, "Estimator", "The survival model a run fitted.")

SufficiencyOutcome = codes_enum(
    (
        sufficiency.FITTED,
        sufficiency.FALLBACK,
        sufficiency.JUDGED,
        sufficiency.SHORTENED,
        sufficiency.NOT_JUDGED,
        sufficiency.SKIPPED,
        sufficiency.UNKNOWN,
    ),
    "SufficiencyOutcome",
    "What the data allowed for one part of a run: fitted, a fallback, judged, judged on a shortened window, "
    "not judged, skipped, or unknown (an older run).",
)
HazardScale = codes_enum(
    ("unit", "sd"), "HazardScale", "A hazard ratio per unit (yes/no features) or per SD."
)
HazardDirection = codes_enum(
    ("more_likely_to_buy", "less_likely_to_buy"),
    "HazardDirection",
    "Which way a covariate moves buying again.",
)
PeriodUnit = strawberry.enum(
    Enum("CohortPeriodUnit", {"MONTH": "month", "DAYS_30": "30_days"}),
    name="CohortPeriodUnit",
    description="Cohort periods: calendar months (MONTH), or 30 days from the cohort's start (DAYS_30).",
)

GROUPS = ("overall", *selectors.STAGE_ORDER)


@strawberry.type(description="How well one set of predictions matched what happened in the holdout window.")
class PredictionMetrics:
    customers: int | None = None
    buyers_in_horizon: int | None = None
    harrell_c: float | None = None
    uno_c: float | None = None
    auc_horizon: float | None = strawberry.field(
        default=None, description="AUC of P(purchase within horizon)."
    )
    brier_horizon: float | None = None
    ece_horizon: float | None = strawberry.field(default=None, description="Expected calibration error.")
    integrated_brier: float | None = None
    top_decile_revenue_capture: float | None = None
    revenue_actual: Money | None = strawberry.field(default=None, description="Paid revenue in the holdout.")
    revenue_forecast: Money | None = strawberry.field(
        default=None, description="The revenue the predictions expected in the holdout."
    )
    revenue_error: float | None = strawberry.field(default=None, description="(forecast − actual) / actual.")
    spearman_purchases: float | None = strawberry.field(
        default=None, description="Spearman's rank correlation of expected against actual purchases."
    )
    mae_purchases: float | None = strawberry.field(
        default=None, description="Mean absolute error of the expected purchases per customer."
    )
    purchases_error: float | None = strawberry.field(
        default=None, description="(forecast − actual) / actual of the total purchases."
    )
    available: bool = strawberry.field(
        default=True,
        description="False when this model or baseline could not be judged at all (see reasons).",
    )
    reasons: list[MetricReason] = strawberry.field(
        default_factory=list,
        description="Why each absent (null) figure could not be computed on these data.",
    )

    @strawberry.field(deprecation_reason="Use reasons: one per absent figure, with a code.")
    def note(self) -> str | None:
        return "; ".join(sorted({r.message for r in self.reasons})) or None

    @classmethod
    def of(cls, data: dict | None, currency: str | None = None) -> PredictionMetrics | None:
        from apps.analytics.evaluation import reason_text

        if not isinstance(data, dict):
            return None
        names = cls.__annotations__
        values = {k: v for k, v in data.items() if k in names and not isinstance(v, dict | list | bool)}
        for key in ("revenue_actual", "revenue_forecast"):
            if key in values:
                values[key] = money(values[key], currency)
        reasons = [
            MetricReason(metric=metric, code=code, message=reason_text(code))
            for metric, code in sorted((data.get("reasons") or {}).items())
        ]
        return cls(**values, available=data.get("available", True) is not False, reasons=reasons)


@strawberry.type(description="Why one figure of a model's holdout metrics is absent.")
class MetricReason:
    metric: str = strawberry.field(description="The figure, e.g. auc_horizon.")
    code: str = strawberry.field(description="A stable code, e.g. ipcw_support or no_previous_window.")
    message: str = strawberry.field(description="The reason in the caller's language.")


@strawberry.type(
    description="One part of a run (the history, the engine, a stage's model, the holdout, a baseline, the "
    "recalibration, the amounts): whether it could be fitted or judged with the data, and why."
)
class SufficiencyCheck:
    part: str = strawberry.field(description="history, engine, stage:<stage>, holdout, baseline:<name>, ...")
    label: str = strawberry.field(description="The part in the caller's language.")
    outcome: SufficiencyOutcome
    message: str = strawberry.field(description="What the data allowed and why, in the caller's language.")


@strawberry.type(
    description="Holdout metrics of one group (all customers, or one stage at the holdout start)."
)
class GroupMetrics:
    group: str = strawberry.field(description="overall or a stage code.")
    model: PredictionMetrics | None
    kaplan_meier_by_stage: PredictionMetrics | None = strawberry.field(description="Baseline: KM per stage.")
    naive_rfm: PredictionMetrics | None = strawberry.field(description="Baseline: naive RFM cell rates.")
    classic: PredictionMetrics | None = strawberry.field(
        description="Baseline: the classic BG/NBD + Gamma-Gamma model fitted on the same customers."
    )

    @classmethod
    def of(cls, group: str, data: dict | None, currency: str | None = None) -> GroupMetrics | None:
        if not isinstance(data, dict):
            return None
        return cls(
            group=group,
            model=PredictionMetrics.of(data.get("model"), currency),
            kaplan_meier_by_stage=PredictionMetrics.of(data.get("kaplan_meier_by_stage"), currency),
            naive_rfm=PredictionMetrics.of(data.get("naive_rfm"), currency),
            classic=PredictionMetrics.of(data.get("classic"), currency),
        )


@strawberry.type(description="How much data one stage model was fitted on.")
class StageSufficiency:
    stage: str
    rows: int | None
    events: int | None
    model: str | None = strawberry.field(description="The model used: the estimator, pooled or kaplan_meier.")
    features_dropped: list[str]


@strawberry.type(description="Seconds one phase of a run took.")
class PhaseTiming:
    phase: str
    seconds: float


@strawberry.type(description="A covariate of a stage model in words staff read.")
class HazardFactor:
    feature: str
    label: str = strawberry.field(description="What the feature is, in the caller's language.")
    hazard_ratio: float = strawberry.field(
        description="Change in the rate of buying again per unit (yes/no features) or per standard deviation."
    )
    per: HazardScale
    effect_percent: float
    direction: HazardDirection


@strawberry_django.type(
    models.ModelRun,
    name="ModelRun",
    description="One fit-and-score of a brand's survival model (a refresh) or a backtest. Any member may read.",
    only=BRAND_COLUMN,
)
class ModelRunType(BrandScopedType, relay.Node):
    as_of: strawberry.auto = strawberry_django.field(
        description="Data up to the end of this day (brand time zone)."
    )
    cutoff: strawberry.auto
    horizon_days: strawberry.auto
    customers_scored: strawberry.auto
    started_at: strawberry.auto
    finished_at: strawberry.auto
    published_at: strawberry.auto
    message: strawberry.auto
    triggered_by: strawberry.auto
    created_at: strawberry.auto
    phase: str = strawberry_django.field(
        description="The step a pending or running refresh is at (queued, fit, predict, publish…); empty once "
        "it has finished. Poll the run (node query) to follow a refresh."
    )

    @strawberry_django.field(only=["kind"])
    def kind(self) -> RunKind:
        return RunKind(self.kind)

    @strawberry_django.field(only=["status"])
    def status(self) -> RunStatus:
        return RunStatus(self.status)

    @strawberry_django.field(only=["status"], description="True for the run whose scores readers see now.")
    def published(self) -> bool:
        return self.status == models.RunStatus.PUBLISHED

    @strawberry_django.field(only=["estimator"])
    def estimator(self) -> Estimator:
        return Estimator(self.estimator)

    @strawberry_django.field(
        only=["params"], description="What was fitted: hyperparameters, tuning, features."
    )
    def params(self) -> JSON:
        return self.params

    @strawberry_django.field(
        only=["settings_snapshot"], description="The brand's scoring settings at the run."
    )
    def settings_snapshot(self) -> JSON:
        return self.settings_snapshot

    @strawberry_django.field(
        only=["data_sufficiency"], description="Rows and events behind each stage model."
    )
    def data_sufficiency(self) -> list[StageSufficiency]:
        return [
            StageSufficiency(
                stage=stage,
                rows=info.get("rows"),
                events=info.get("events"),
                model=info.get("model"),
                features_dropped=list(info.get("features_dropped", [])),
            )
            for stage, info in (self.data_sufficiency or {}).items()
            if isinstance(info, dict)  # a skipped run records only its purchase count
        ]

    @strawberry_django.field(
        only=["data_sufficiency", "params", "metrics", "status", "message", "kind", "settings_snapshot"],
        description="What could be fitted and judged with the data, part by part, and why.",
    )
    def sufficiency_checks(self) -> list[SufficiencyCheck]:
        from apps.analytics.sufficiency import sufficiency_checks

        return [
            SufficiencyCheck(**{**vars(check), "outcome": SufficiencyOutcome(check.outcome)})
            for check in sufficiency_checks(self)
        ]

    @strawberry_django.field(only=["timings"], description="Seconds per phase.")
    def timings(self) -> list[PhaseTiming]:
        return [PhaseTiming(phase=k, seconds=float(v)) for k, v in (self.timings or {}).items()]

    @strawberry_django.field(only=["metrics"], description="All holdout metrics as stored.")
    def metrics(self) -> JSON:
        return self.metrics

    @strawberry_django.field(only=["metrics"], description="Holdout metrics over all customers.")
    def metrics_overall(self, info: Info) -> GroupMetrics | None:
        currency = brand_currency(info, self)
        return GroupMetrics.of("overall", (self.metrics or {}).get("overall"), currency)

    @strawberry_django.field(
        only=["metrics"], description="Holdout metrics per stage (stage at the holdout start)."
    )
    def metrics_by_stage(self, info: Info) -> list[GroupMetrics]:
        metrics, currency = self.metrics or {}, brand_currency(info, self)
        found = (GroupMetrics.of(stage, metrics.get(stage), currency) for stage in selectors.STAGE_ORDER)
        return [m for m in found if m is not None]

    @strawberry_django.field(
        only=["stage_models"],
        description="Hazard ratios of a stage's model (Cox family), strongest first: what makes buying again "
        "more or less likely.",
    )
    def hazard_factors(self, stage: Stage) -> list[HazardFactor]:
        return [
            HazardFactor(
                **{**row, "per": HazardScale(row["per"]), "direction": HazardDirection(row["direction"])}
            )
            for row in selectors.hazard_factors(run=self, stage=stage.value)
        ]


@strawberry_django.type(
    models.StageChange,
    name="StageChange",
    description="A customer's move between lifecycle stages.",
    only=BRAND_COLUMN,
)
class StageChangeType(BrandScopedType, relay.Node):
    customer: CustomerRef
    changed_on: strawberry.auto = strawberry_django.field(
        description="The as-of day of the run that moved them."
    )
    run: ModelRunType

    @strawberry_django.field(only=["from_stage"], description="Null: not a buyer before.")
    def from_stage(self) -> Stage | None:
        return Stage(self.from_stage) if self.from_stage else None

    @strawberry_django.field(only=["to_stage"])
    def to_stage(self) -> Stage:
        return Stage(self.to_stage)

    @strawberry_django.field(only=["rule"])
    def rule(self) -> StageRule:
        return StageRule(self.rule)


# --- Report shapes ---------------------------------------------------------------------------------------


@strawberry.enum(name="CohortGrouping")
class CohortGrouping(Enum):
    FIRST_ORDER_MONTH = "first_order_month"
    ACQUISITION_STREAM = "acquisition_stream"


@strawberry.enum(name="SurvivalGrouping")
class SurvivalGrouping(Enum):
    STAGE = "stage"
    TIER = "tier"
    COMMUNITY_MEMBERSHIP = "community_membership"


@strawberry.type(description="One cohort and how many of it bought in each period after joining.")
class CohortRow:
    key: str = strawberry.field(
        description="YYYY-MM for month cohorts; the stream's global id for stream cohorts."
    )
    label: str
    start: date
    size: int
    retained: list[int | None] = strawberry.field(description="Buyers per period; null: not started yet.")
    retention: list[float | None] = strawberry.field(description="retained / size; null: not started yet.")


@strawberry.enum(name="FunnelGrouping")
class FunnelGrouping(Enum):
    STREAM = "stream"
    PLATFORM = "platform"
    HOST = "host"


@strawberry.type(
    name="FunnelRow",
    description="One group's live-stream funnel: viewers → engaged viewers (commented, or 5+ comments, likes "
    "and shares) → viewers who bought in the stream → buyers with another paid order within 72 hours / 30 "
    "days of the stream's end. Repeat counts are null until a stream of the group has had its window; the "
    "rates divide by the buyers of the streams whose window has passed.",
)
class FunnelRowType:
    key: str = strawberry.field(
        description="The stream's global id, the platform code or the host; '' for the total."
    )
    label: str
    streams: int
    viewers: int
    engaged: int
    engaged_rate: float | None = strawberry.field(description="Engaged viewers / viewers.")
    buyers: int
    buyer_rate: float | None = strawberry.field(description="Buyers / viewers.")
    engaged_buyer_rate: float | None = strawberry.field(
        description="Buyers among engaged viewers / engaged viewers."
    )
    repeat_72h: int | None
    repeat_72h_rate: float | None
    repeat_30d: int | None
    repeat_30d_rate: float | None


@strawberry.type(description="Cohort retention table.")
class CohortRetention:
    by: CohortGrouping
    period_unit: PeriodUnit
    periods: int
    cohorts: list[CohortRow]


@strawberry.type(description="Customers who moved from one stage to another between two dates.")
class StageTransitionCell:
    from_stage: Stage | None = strawberry.field(description="Null: not yet a buyer at the start.")
    to_stage: Stage
    customers: int


@strawberry.type(description="Stage transition matrix between the runs published as of two dates.")
class StageTransitionMatrix:
    from_run_id: relay.GlobalID | None
    to_run_id: relay.GlobalID
    from_as_of: date | None
    to_as_of: date
    cells: list[StageTransitionCell]


@strawberry.type(description="Customers of one tier in one stage.")
class TierStageCell:
    tier_id: relay.GlobalID | None = strawberry.field(description="Null: no tier.")
    tier_name: str | None = strawberry.field(
        description="The tier's displayName (its name in the caller's language, as Tier.displayName gives it, not "
        "Tier.name as staff typed it); null: no tier."
    )
    stage: Stage
    customers: int


@strawberry.type(description="Tier × stage counts in the published scores.")
class TierStageDistribution:
    run_id: relay.GlobalID | None = strawberry.field(
        description="The published run; null before the first one."
    )
    as_of: date | None
    total: int
    cells: list[TierStageCell]


@strawberry.type(description="One step of a Kaplan-Meier curve.")
class SurvivalPoint:
    days: float
    survival: float = strawberry.field(description="Share not yet bought again.")
    at_risk: int
    events: int
    censored: int
    ci_lower: float | None
    ci_upper: float | None


@strawberry.type(description="A Kaplan-Meier curve of one segment.")
class SurvivalCurve:
    group: str = strawberry.field(
        description="Stage code, tier global id ('' = no tier), or member / not_member."
    )
    label: str
    customers: int
    events: int
    median_days: float | None = strawberry.field(
        description="Days until half have bought again; null if not reached."
    )
    points: list[SurvivalPoint]


@strawberry.type(description="Time to the next purchase per segment, with the log-rank test of equal curves.")
class KaplanMeierReport:
    group_by: SurvivalGrouping
    run_id: relay.GlobalID | None
    origin: datetime = strawberry.field(description="Time 0: the cutoff of the run whose segments are used.")
    end: datetime = strawberry.field(description="Follow-up ends (censoring) here.")
    curves: list[SurvivalCurve]
    log_rank_chi_square: float | None
    log_rank_p_value: float | None = strawberry.field(
        description="Null with fewer than two curves or no events."
    )


@strawberry.type(description="Conversion of the viewers in one watch-time band.")
class WatchBand:
    band: str = strawberry.field(description="<1m, 1-5m, 5-15m, 15-30m or 30m+ of watch time.")
    viewers: int
    buyers: int
    conversion_rate: float | None


@strawberry.type(description="Performance of one stream (or the total over the streams reported).")
class StreamPerformance:
    stream_id: relay.GlobalID | None = strawberry.field(description="Null on the total row.")
    title: str | None
    started_at: datetime | None
    viewers: int
    buyers: int = strawberry.field(description="Customers with a paid order attributed to the stream.")
    viewer_buyers: int
    orders: int
    gmv: Money = strawberry.field(description="Paid order value attributed to the stream(s).")
    conversion_rate: float | None = strawberry.field(description="Share of viewers who bought.")
    by_watch_time: list[WatchBand]
    repurchasers_72h: int
    repurchase_rate_72h: float | None = strawberry.field(
        description="Share of buyers with another paid order up to 72 hours after the stream ended."
    )
    engaged_viewers: int = strawberry.field(description="Viewers with 5+ interactions in the stream.")
    engaged_buy_rate: float | None
    other_buy_rate: float | None = strawberry.field(description="Buy rate of viewers with fewer than 5.")
    engagement_lift: float | None = strawberry.field(description="engagedBuyRate / otherBuyRate.")
    stream_pk: strawberry.Private[int | None] = None
    batch: strawberry.Private[NodeBatch | None] = None

    @strawberry.field(description="The stream (null on the total row).")
    def stream(self, info: Info) -> StreamRef | None:
        return self.batch.get(info, self.stream_pk) if self.batch else None


@strawberry.type(description="Stream performance report.")
class StreamPerformanceReport:
    streams: list[StreamPerformance]
    total: StreamPerformance


@strawberry.type(
    description="A customer who has been worth a lot so far and is likely to leave, from the published scores."
)
class AtRiskCustomer:
    customer_id: relay.GlobalID
    clv: Money | None = strawberry.field(description="Null when the purchase log has no amounts.")
    churn_probability: float
    spend_to_date: Money | None = strawberry.field(
        description="Total paid spend up to the scores' date; null when the purchase log has no amounts."
    )
    purchases_to_date: int = strawberry.field(description="Paid purchases up to the scores' date.")
    value_at_risk: Money | None = strawberry.field(
        description="Spend to date × churn probability; null when the purchase log has no amounts."
    )
    value_percentile: float = strawberry.field(
        description="Share (%) of scored customers worth less so far (by spend, or purchases without amounts)."
    )
    clv_percentile: float | None = strawberry.field(
        description="Share (%) of scored customers with a lower CLV; null when the log has no amounts."
    )
    stage: Stage
    tier_id: relay.GlobalID | None
    days_since_last_purchase: float
    p_purchase_horizon: float
    customer_pk: strawberry.Private[int]
    batch: strawberry.Private[NodeBatch]

    @strawberry.field(description="The customer (the whole list is loaded in one query).")
    def customer(self, info: Info) -> CustomerRef | None:
        return self.batch.get(info, self.customer_pk)


@strawberry.type(description="The at-risk list.")
class AtRiskReport:
    run_id: relay.GlobalID | None
    total_count: int = strawberry.field(
        description="How many customers qualify (the list holds the first ones)."
    )
    customers: list[AtRiskCustomer]


__all__ = ["ModelRunType", "StageChangeType"]
