"""The Customer type: profile (phone masked unless the caller may see personal data), what they did (orders,
stream views, communities, benefit grants) and what the published scores say about them.

Score fields read columns the optimizer annotates onto the customers' own query (apps.customers.graphql.scores),
and the nested connections are prefetched per page with window functions (apps.core.graphql.relay), so a
page of customers costs a fixed number of queries whatever its size.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import Prefetch
from django.utils.translation import gettext
from strawberry import relay
from strawberry.types import Info

from apps.analytics import selectors
from apps.analytics.graphql.types import Stage, StageRule
from apps.analytics.models import CustomerRecommendation
from apps.analytics.survival.scoring import GRID_DAYS
from apps.core.graphql.brand_values import brand_currency
from apps.core.graphql.enums import choices_enum, enum_or_none
from apps.core.graphql.money import Money, brand_money
from apps.core.graphql.permissions import request_user
from apps.core.graphql.relay import ArgumentError, Connection, connection
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType
from apps.core.scoping import user_may
from apps.customers import models
from apps.customers.graphql import scores
from apps.engagement.graphql.types import NextActionBasis, NextActionKind
from apps.loyalty.graphql.types import RfmSegment
from apps.loyalty.models import RFM_SEGMENT_LABELS

if TYPE_CHECKING:
    from apps.analytics.graphql.types import StageChangeType
    from apps.communities.graphql.types import CommunityMembershipType
    from apps.loyalty.graphql.types import BenefitGrantType, TierChangeType, TierType
    from apps.orders.graphql.types import OrderType
    from apps.streams.graphql.types import StreamType, StreamViewType

OrderRef = Annotated["OrderType", strawberry.lazy("apps.orders.graphql.types")]
StreamRef = Annotated["StreamType", strawberry.lazy("apps.streams.graphql.types")]
StreamViewRef = Annotated["StreamViewType", strawberry.lazy("apps.streams.graphql.types")]
CommunityMembershipRef = Annotated[
    "CommunityMembershipType", strawberry.lazy("apps.communities.graphql.types")
]
BenefitGrantRef = Annotated["BenefitGrantType", strawberry.lazy("apps.loyalty.graphql.types")]
TierRef = Annotated["TierType", strawberry.lazy("apps.loyalty.graphql.types")]
TierChangeRef = Annotated["TierChangeType", strawberry.lazy("apps.loyalty.graphql.types")]
StageChangeRef = Annotated["StageChangeType", strawberry.lazy("apps.analytics.graphql.types")]

PII_PERMISSION = "customers.view_customer_pii"
# Hazard factors run the feature SQL for each customer: meant for a customer's page, not for long lists.
MAX_HAZARD_FACTOR_CUSTOMERS = 10

Gender = choices_enum(models.Gender, "Gender", "A customer's gender as the brand recorded it.")
AgeBand = choices_enum(models.AgeBand, "AgeBand", "An age band: UNDER_18, A18_24 (18–24), … A55_PLUS (55+).")
AcquisitionChannel = choices_enum(
    models.AcquisitionChannel, "AcquisitionChannel", "How a customer first came to the brand."
)
PreferredTouchChannel = choices_enum(
    models.TouchChannel,
    "PreferredTouchChannel",
    "The channel a customer prefers to be contacted on (NONE: none).",
)


def _tier_names(info: Info, brand_id: int) -> dict:
    """The brand's tier names, read once per request."""
    from apps.loyalty.models import Tier

    cache = getattr(info.context, "_tier_names", None)
    if cache is None:
        cache = {}
        info.context._tier_names = cache
    if brand_id not in cache:
        cache[brand_id] = {
            pk: gettext(name) for pk, name in Tier.objects.filter(brand_id=brand_id).values_list("pk", "name")
        }
    return cache[brand_id]


@strawberry.type(name="RecommendedProduct", description="A product (SKU) to offer, best first.")
class RecommendedProduct:
    sku: str
    category: str
    score: float = strawberry.field(description="Co-purchase score (comparable within one customer).")


@strawberry.type(
    name="Recommendations",
    description="Products and categories to offer, from co-purchase within the brand (recency-weighted), "
    "computed at the last refresh and judged on held-out time (the run's metrics).",
)
class RecommendationsType:
    products: list[RecommendedProduct]
    categories: list[str]


@strawberry.type(name="NextAction", description="The suggested next action for a customer, with why.")
class NextActionType:
    action: NextActionKind
    action_label: str
    basis: NextActionBasis = strawberry.field(description="What the action and its figures rest on.")
    benefit_code: str | None
    benefit_name: str | None
    uplift: float | None = strawberry.field(description="Estimated increase in P(purchase).")
    expected_gain: Money | None = strawberry.field(
        description="Incremental gross margin less the benefit's expected cost, in the brand's currency."
    )
    reasons: list[str]


@strawberry.type(
    name="ScoreCurvePoint", description="P(no purchase yet) a number of days after the scores' cutoff."
)
class ScoreCurvePoint:
    days: int
    survival: float


@strawberry.enum(name="ChurnEffect", description="How a covariate moves this customer's churn risk.")
class ChurnEffect(Enum):
    RAISES_CHURN = "raises_churn"
    LOWERS_CHURN = "lowers_churn"


@strawberry.type(
    name="CustomerHazardFactor",
    description="A covariate that moves this customer's chance of buying again, against the average customer "
    "of their stage (Cox-family models).",
)
class CustomerHazardFactor:
    feature: str
    label: str = strawberry.field(description="What the covariate is, in the caller's language.")
    value: float = strawberry.field(description="The customer's value at the scores' cutoff.")
    average: float = strawberry.field(description="The stage model's average value.")
    hazard_ratio: float = strawberry.field(
        description="Factor on the rate of buying again from this covariate alone (> 1: sooner)."
    )
    effect: ChurnEffect


def _score_field(key: str, description: str, **extra):
    """A resolver hint that asks the optimizer for one annotated score column."""
    return strawberry_django.field(
        annotate={key: scores.SCORE_ANNOTATIONS[key]}, description=description, **extra
    )


@strawberry_django.type(
    models.Customer,
    name="Customer",
    description="A brand's customer, with the published scores (null before the brand's first published run "
    "or for customers without a paid purchase by its cutoff). Money is in the brand's currency.",
    only=BRAND_COLUMN,
)
class CustomerType(BrandScopedType, relay.Node):
    external_id: strawberry.auto
    province: strawberry.auto
    city: strawberry.auto
    first_seen_at: strawberry.auto
    marketing_consent: strawberry.auto
    automated_decisions_opt_out: strawberry.auto
    erased_at: strawberry.auto = strawberry_django.field(description="When their personal data was erased.")

    @strawberry_django.field(only=["gender"])
    def gender(self) -> Gender:
        return Gender(self.gender)

    @strawberry_django.field(only=["age_band"], description="Null when unknown.")
    def age_band(self) -> AgeBand | None:
        return enum_or_none(AgeBand, self.age_band)

    @strawberry_django.field(only=["acquisition_channel"])
    def acquisition_channel(self) -> AcquisitionChannel:
        return AcquisitionChannel(self.acquisition_channel)

    @strawberry_django.field(only=["preferred_touch_channel"], description="Null when not recorded.")
    def preferred_touch_channel(self) -> PreferredTouchChannel | None:
        return enum_or_none(PreferredTouchChannel, self.preferred_touch_channel)

    # Joined in the customers' own query (same brand by the composite same-brand key).
    @strawberry_django.field(
        select_related=["acquisition_stream"], description="The live stream that won them."
    )
    def acquisition_stream(self) -> StreamRef | None:
        return self.acquisition_stream

    # -- personal data ------------------------------------------------------------------------------------
    @strawberry_django.field(
        only=["display_name", "brand_id"],
        description="The name; masked (张**) unless the caller may see personal data.",
    )
    def display_name(self, info: Info) -> str:
        if user_may(request_user(info), self.brand_id, PII_PERMISSION):
            return self.display_name
        return self.masked_display_name

    @strawberry_django.field(
        only=["phone", "brand_id"],
        description="The phone number; masked (138****5678) unless the caller may see personal data.",
    )
    def phone(self, info: Info) -> str:
        if user_may(request_user(info), self.brand_id, PII_PERMISSION):
            return self.phone
        return self.masked_phone

    @strawberry_django.field(
        only=["email", "brand_id"],
        description="The e-mail address; masked (z***@example.com) unless the caller may see personal data.",
    )
    def email(self, info: Info) -> str:
        if user_may(request_user(info), self.brand_id, PII_PERMISSION):
            return self.email
        return self.masked_email

    @strawberry_django.field(
        only=["brand_id"], description="True when `phone` and `email` are masked for the caller."
    )
    def phone_masked(self, info: Info) -> bool:
        return not user_may(request_user(info), self.brand_id, PII_PERMISSION)

    # -- what they did --------------------------------------------------------------------------------------
    orders: Connection[OrderRef] = connection(description="Their orders, newest first.")
    stream_views: Connection[StreamViewRef] = connection(description="Streams they watched, latest first.")
    communities: Connection[CommunityMembershipRef] = connection(
        field_name="community_memberships", description="Their community membership spells, latest first."
    )
    benefit_grants: Connection[BenefitGrantRef] = connection(
        description="Benefits granted to them, newest first."
    )

    @strawberry_django.field(
        annotate={"last_order_at": scores.SCORE_ANNOTATIONS["last_order_at"]},
        description="When they last placed a paid order (live, not as of the scores).",
    )
    def last_order_at(self) -> datetime | None:
        return scores.score_value(self, "last_order_at")

    # -- published scores -----------------------------------------------------------------------------------
    @_score_field("score_as_of", "As-of day of the published run the scores come from.")
    def scores_as_of(self) -> date | None:
        return scores.score_value(self, "score_as_of")

    @_score_field("score_horizon_days", "The horizon (days) of pPurchaseHorizon and expectedRevenueHorizon.")
    def horizon_days(self) -> int | None:
        return scores.score_value(self, "score_horizon_days")

    @strawberry_django.field(
        annotate={k: scores.SCORE_ANNOTATIONS[k] for k in ("score_stage", "prospect_propensity")},
        description="Lifecycle stage; PROSPECT for a viewer who never bought and has a first-purchase propensity.",
    )
    def stage(self) -> Stage | None:
        value = scores.score_value(self, "score_stage")
        if value is None and scores.score_value(self, "prospect_propensity") is not None:
            return Stage("prospect")
        return Stage(value) if value else None

    @_score_field(
        "prospect_propensity",
        "Prospects only: P(first paid purchase within the horizon) from their viewing and interactions, in the "
        "published run; null for buyers and before the first refresh.",
    )
    def prospect_propensity(self) -> float | None:
        return scores.score_value(self, "prospect_propensity")

    @_score_field("score_stage_rule", "Which of the brand's stage rules placed them.")
    def stage_rule(self) -> StageRule | None:
        value = scores.score_value(self, "score_stage_rule")
        return StageRule(value) if value else None

    @_score_field("score_tier", "Their value tier in the published scores.")
    def tier(self) -> TierRef | None:
        return scores.score_tier(self)

    @_score_field("score_rfm_segment", "RFM segment in the published scores.")
    def rfm_segment(self) -> RfmSegment | None:
        return enum_or_none(RfmSegment, scores.score_value(self, "score_rfm_segment"))

    @_score_field("score_rfm_segment", "The RFM segment in the caller's language.")
    def rfm_segment_label(self) -> str | None:
        value = scores.score_value(self, "score_rfm_segment")
        return str(RFM_SEGMENT_LABELS.get(value, value)) if value else None

    @_score_field("score_rfm_recency", "R quintile score, 1–5.")
    def rfm_recency(self) -> int | None:
        return scores.score_value(self, "score_rfm_recency")

    @_score_field("score_rfm_frequency", "F quintile score, 1–5.")
    def rfm_frequency(self) -> int | None:
        return scores.score_value(self, "score_rfm_frequency")

    @_score_field("score_rfm_monetary", "M quintile score, 1–5.")
    def rfm_monetary(self) -> int | None:
        return scores.score_value(self, "score_rfm_monetary")

    @_score_field("score_churn_probability", "1 − P(purchase within the horizon).")
    def churn_probability(self) -> float | None:
        return scores.score_value(self, "score_churn_probability")

    @_score_field("score_p_purchase_horizon", "P(another paid purchase within horizonDays of the cutoff).")
    def p_purchase_horizon(self) -> float | None:
        return scores.score_value(self, "score_p_purchase_horizon")

    @_score_field("score_expected_revenue_horizon", "Expected paid revenue within the horizon.")
    def expected_revenue_horizon(self, info: Info) -> Money | None:
        return brand_money(info, self, scores.score_value(self, "score_expected_revenue_horizon"))

    @_score_field("score_clv", "Customer lifetime value: discounted margin over the brand's CLV horizon.")
    def clv(self, info: Info) -> Money | None:
        return brand_money(info, self, scores.score_value(self, "score_clv"))

    @_score_field(
        "score_median_days_to_next_purchase", "Median days to the next purchase (null: beyond a year)."
    )
    def median_days_to_next_purchase(self) -> float | None:
        return scores.score_value(self, "score_median_days_to_next_purchase")

    @strawberry_django.field(
        annotate={
            "score_as_of": scores.SCORE_ANNOTATIONS["score_as_of"],
            "score_median_days_to_next_purchase": scores.SCORE_ANNOTATIONS[
                "score_median_days_to_next_purchase"
            ],
        },
        description="The expected date of their next order: the scores' as-of day plus the median days to the "
        "next purchase given the time already elapsed (null: not within a year). Unlike last order + average "
        "gap, never a date already past at scoring time.",
    )
    def expected_next_order_on(self) -> date | None:
        as_of = scores.score_value(self, "score_as_of")
        median = scores.score_value(self, "score_median_days_to_next_purchase")
        if as_of is None or median is None:
            return None
        return as_of + timedelta(days=int(median))

    @_score_field("score_rhythm_days", "Their usual days between purchases (the brand's where unknown).")
    def rhythm_days(self) -> float | None:
        return scores.score_value(self, "score_rhythm_days")

    @_score_field("score_orders_count", "Paid purchases up to the cutoff.")
    def paid_orders(self) -> int | None:
        return scores.score_value(self, "score_orders_count")

    @_score_field("score_monetary_total", "Paid spend up to the cutoff.")
    def total_spend(self, info: Info) -> Money | None:
        return brand_money(info, self, scores.score_value(self, "score_monetary_total"))

    @_score_field("score_days_since_last_purchase", "Days from the last paid purchase to the cutoff.")
    def days_since_last_purchase(self) -> float | None:
        return scores.score_value(self, "score_days_since_last_purchase")

    @_score_field("score_survival_curve", "P(no purchase yet) at 7 to 365 days after the cutoff.")
    def survival_curve(self) -> list[ScoreCurvePoint]:
        curve = scores.score_value(self, "score_survival_curve") or []
        return [
            ScoreCurvePoint(days=int(d), survival=float(s)) for d, s in zip(GRID_DAYS, curve, strict=False)
        ]

    stage_history: list[StageChangeRef] = strawberry_django.field(
        field_name="stage_changes", description="Stage changes written by published runs, newest first."
    )
    tier_history: list[TierChangeRef] = strawberry_django.field(
        field_name="tier_changes", description="Tier changes, newest first."
    )

    @strawberry_django.field(
        only=["id"],
        annotate={
            key: scores.SCORE_ANNOTATIONS[key]
            for key in ("score_run_id", "score_stage", "score_top_covariates")
        },
        description="The covariates that move this customer's chance of buying again most (top 5), under "
        "their stage's model, as the published run scored them. Scores published before the refresh kept "
        f"them cost a feature query per customer: at most {MAX_HAZARD_FACTOR_CUSTOMERS} such customers per "
        "request.",
    )
    def hazard_factors(self, info: Info) -> list[CustomerHazardFactor]:
        run_id, stage = scores.score_value(self, "score_run_id"), scores.score_value(self, "score_stage")
        if run_id is None or not stage:
            return []
        stored = scores.score_value(self, "score_top_covariates")
        if stored is None:
            _count_hazard_request(info)
        rows = scores.customer_hazard_factors(customer_id=self.pk, run_id=run_id, stage=stage, stored=stored)
        return [
            CustomerHazardFactor(
                feature=row["feature"],
                label=row["label"],
                value=row["value"],
                average=row["average"],
                hazard_ratio=row["hazard_ratio"],
                effect=ChurnEffect.LOWERS_CHURN if row["hazard_ratio"] >= 1 else ChurnEffect.RAISES_CHURN,
            )
            for row in rows
        ]

    @strawberry_django.field(
        only=["brand_id"],
        prefetch_related=["next_actions__benefit"],
        description="What to do next for this customer (computed at the last refresh): the action, the benefit, "
        "the estimated uplift in P(purchase), the expected gain (incremental gross margin less the benefit's "
        "expected cost; null when no experiment or holdout measured the action), and the reasons in words.",
    )
    def next_action(self, info: Info) -> NextActionType | None:
        from apps.engagement.next_action import reason_texts

        rows = list(self.next_actions.all())
        if not rows:
            return None
        row = rows[0]
        names = _tier_names(info, self.brand_id)
        return NextActionType(
            action=NextActionKind(row.action),
            action_label=row.get_action_display(),
            basis=NextActionBasis(row.basis),
            benefit_code=row.benefit.code if row.benefit else None,
            benefit_name=gettext(row.benefit.name) if row.benefit else None,
            uplift=row.uplift,
            expected_gain=brand_money(info, self, row.expected_gain),
            reasons=reason_texts(row.reasons, tier_names=names, currency=brand_currency(info, self) or ""),
        )

    @strawberry_django.field(
        prefetch_related=[
            lambda info: Prefetch(
                "recommendations", queryset=CustomerRecommendation.objects.filter(run__status="published")
            )
        ],
        description="Products and categories to offer this customer (null before a refresh has computed them).",
    )
    def recommendations(self) -> RecommendationsType | None:
        rows = list(self.recommendations.all())
        if not rows:
            return None
        row = rows[0]
        return RecommendationsType(
            products=[
                RecommendedProduct(sku=s, category=c, score=v)
                for s, c, v in zip(row.skus, row.sku_categories, row.scores, strict=False)
            ],
            categories=list(row.categories),
        )

    @classmethod
    def get_queryset(cls, queryset, info, **kwargs):
        queryset = selectors.customers_with_published_score(
            super().get_queryset(queryset, info, **kwargs), scores.brand_ids_of_caller(info)
        )
        if not queryset.query.order_by:
            queryset = queryset.order_by("brand_id", "external_id")
        return queryset


def _count_hazard_request(info: Info) -> None:
    request = getattr(info.context, "request", None)
    holder = request if request is not None else info.context
    count = getattr(holder, "_clv_hazard_customers", 0) + 1
    holder._clv_hazard_customers = count
    if count > MAX_HAZARD_FACTOR_CUSTOMERS:
        raise ArgumentError(
            gettext("Hazard factors are available for at most %(n)d customers per request.")
            % {"n": MAX_HAZARD_FACTOR_CUSTOMERS},
            code="too_many",
        )
