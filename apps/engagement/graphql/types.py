"""GraphQL types of the action layer: follow-up rules, message templates, the contact policy, touches and the
holdout results. Brand-owned nodes are scoped to the caller's brands (BrandScopedType). Money is in the
brand's currency."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.types import Info

from apps.analytics.graphql.types import Stage
from apps.core.graphql.enums import choices_enum, codes_enum, enum_or_none
from apps.core.graphql.money import Money, brand_money
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType
from apps.engagement import models

if TYPE_CHECKING:
    from apps.communities.graphql.types import CommunityType
    from apps.customers.graphql.types import CustomerType
    from apps.loyalty.graphql.types import BenefitType, TierType
    from apps.orders.graphql.types import OrderType
    from apps.streams.graphql.types import StreamType

CommunityRef = Annotated["CommunityType", strawberry.lazy("apps.communities.graphql.types")]
CustomerRef = Annotated["CustomerType", strawberry.lazy("apps.customers.graphql.types")]
StreamRef = Annotated["StreamType", strawberry.lazy("apps.streams.graphql.types")]
OrderRef = Annotated["OrderType", strawberry.lazy("apps.orders.graphql.types")]
TierRef = Annotated["TierType", strawberry.lazy("apps.loyalty.graphql.types")]
BenefitRef = Annotated["BenefitType", strawberry.lazy("apps.loyalty.graphql.types")]


Channel = choices_enum(models.Channel, "TouchChannel", "A channel a touch goes out on.")
Trigger = choices_enum(models.Trigger, "FollowupTrigger", "What starts a follow-up rule.")
Audience = choices_enum(models.Audience, "FollowupAudience", "Whom a stream-end rule follows up.")
TouchStatus = choices_enum(models.TouchStatus, "TouchStatus", "Where a touch stands.")
TouchReason = choices_enum(
    models.Reason, "TouchReason", "Why an eligible customer got no touch (suppressed), or why a send failed."
)
Language = choices_enum(
    models.Language, "TemplateLanguage", "The language a template is written and sent in."
)
Gateway = choices_enum(models.Gateway, "TouchGateway", "How SMS, WeChat, WeCom and app-push touches leave.")
NextActionKind = choices_enum(models.ActionKind, "NextActionKind", "What to do next for a customer.")
NextActionBasis = choices_enum(
    models.ActionBasis,
    "NextActionBasis",
    "What a next action rests on: an uplift model from a finished experiment, the measured effect of "
    "follow-ups (holdout), or the lifecycle policy alone.",
)
ExperimentStatus = choices_enum(models.ExperimentStatus, "ExperimentStatus", "Where an experiment stands.")
ExperimentMetric = choices_enum(models.Metric, "ExperimentMetric", "What an experiment measures.")
ArmTreatment = choices_enum(
    models.ArmTreatment, "ArmTreatment", "What an experiment arm does to its customers."
)
ComparisonReason = codes_enum(
    ("no_treated", "no_control", "too_few"),
    "FollowupComparisonReason",
    "Why a follow-up comparison has null figures: no touched customers, no held-out customers, or too few "
    "conversions for an interval.",
)


@strawberry_django.type(
    models.MessageTemplate,
    name="MessageTemplate",
    description="A message rules reuse; placeholders {brand}, {stream}, {benefit}, {tier}, {link}.",
    only=BRAND_COLUMN,
)
class MessageTemplateType(BrandScopedType, relay.Node):
    code: strawberry.auto
    name: strawberry.auto
    subject: strawberry.auto
    body: strawberry.auto
    is_active: strawberry.auto

    @strawberry_django.field(only=["language"])
    def language(self) -> Language:
        return Language(self.language)


@strawberry_django.type(
    models.FollowupRule,
    name="FollowupRule",
    description="Who is touched after an occasion (a stream that ended, or entering win-back), how and when.",
    only=BRAND_COLUMN,
)
class FollowupRuleType(BrandScopedType, relay.Node):
    name: strawberry.auto
    is_active: strawberry.auto
    priority: strawberry.auto
    tiers: list[TierRef] = strawberry_django.field(description="Tiers; empty = any tier.")
    min_churn_probability: strawberry.auto
    max_churn_probability: strawberry.auto
    min_watch_minutes: strawberry.auto
    min_interactions: strawberry.auto
    min_prospect_propensity: strawberry.auto
    template: MessageTemplateType
    benefit: BenefitRef | None
    delay_min_hours: strawberry.auto
    delay_max_hours: strawberry.auto
    window_hours: strawberry.auto
    skip_if_bought: strawberry.auto
    wecom_sender: strawberry.auto
    link_url: str = strawberry_django.field(description="Where {link} leads; empty: the brand landing page.")
    post_to_groups: bool = strawberry_django.field(
        description="Also posts the message once in each WeCom group with a member the rule takes."
    )

    @strawberry_django.field(only=["stages"], description="Lifecycle stages; empty = any stage.")
    def stages(self) -> list[Stage]:
        return [Stage(code) for code in self.stages or ()]

    @strawberry_django.field(only=["trigger"])
    def trigger(self) -> Trigger:
        return Trigger(self.trigger)

    @strawberry_django.field(only=["audience"])
    def audience(self) -> Audience:
        return Audience(self.audience)

    @strawberry_django.field(
        only=["channels"], description="Tried in this order after the preferred channel."
    )
    def channels(self) -> list[Channel]:
        return [Channel(c) for c in self.channels]


@strawberry_django.type(
    models.Touch,
    name="Touch",
    description="One planned contact of a customer by a rule for an occasion, and what became of it; held-out "
    "and suppressed customers have one too, with the reason.",
    only=BRAND_COLUMN,
)
class TouchType(BrandScopedType, relay.Node):
    customer: CustomerRef
    rule: FollowupRuleType
    stream: StreamRef | None
    occasion: strawberry.auto
    sender: strawberry.auto
    mass_send: strawberry.auto
    tier_code: strawberry.auto
    scheduled_at: strawberry.auto
    window_ends_at: strawberry.auto
    send_hour: int = strawberry_django.field(description="Local hour (brand time) it was planned for.")
    holdout: bool = strawberry_django.field(description="In the holdout: held back as the control group.")
    attempts: strawberry.auto
    sent_at: strawberry.auto
    delivered_at: strawberry.auto
    clicked_at: strawberry.auto
    converted_at: strawberry.auto
    converted_order: OrderRef | None

    @strawberry_django.field(only=["stage"], description="The customer's lifecycle stage when planned.")
    def stage(self) -> Stage | None:
        return enum_or_none(Stage, self.stage)

    @strawberry_django.field(
        only=["converted_amount"],
        description="The paid order it converted into (within the attribution window), in the brand's currency.",
    )
    def converted_amount(self, info: Info) -> Money | None:
        return brand_money(info, self, self.converted_amount)

    @strawberry_django.field(only=["channel"], description="Null when no channel could reach the customer.")
    def channel(self) -> Channel | None:
        return Channel(self.channel) if self.channel else None

    @strawberry_django.field(only=["status"])
    def status(self) -> TouchStatus:
        return TouchStatus(self.status)

    @strawberry_django.field(only=["reason"])
    def reason(self) -> TouchReason | None:
        return TouchReason(self.reason) if self.reason else None


@strawberry_django.type(
    models.GroupPost,
    name="GroupPost",
    description="A follow-up message posted in one of the brand's WeCom groups; a group gets at most as many "
    "messages a month as the month has days (suppressed otherwise, with the reason).",
    only=BRAND_COLUMN,
)
class GroupPostType(BrandScopedType, relay.Node):
    community: CommunityRef
    rule: FollowupRuleType
    stream: StreamRef | None
    occasion: strawberry.auto
    members_taken: int = strawberry_django.field(description="Members of the group the rule takes.")
    scheduled_at: strawberry.auto
    window_ends_at: strawberry.auto
    attempts: strawberry.auto
    sent_at: strawberry.auto

    @strawberry_django.field(only=["status"])
    def status(self) -> TouchStatus:
        return TouchStatus(self.status)

    @strawberry_django.field(only=["reason"])
    def reason(self) -> TouchReason | None:
        return TouchReason(self.reason) if self.reason else None


@strawberry.type(name="ContactPolicy", description="How and how often a brand may contact its customers.")
class ContactPolicyType:
    quiet_start: str = strawberry.field(description="HH:MM, brand time.")
    quiet_end: str
    cap_72h: int = strawberry.field(
        name="cap72h", description="At most touches in any 72 hours, every channel."
    )
    cap_month: int
    holdout_percent: float
    attribution_hours: int
    wecom_daily_per_sender: int
    wecom_mass_max: int
    gateway: Gateway
    webhook_url: str
    webhook_secret_set: bool = strawberry.field(description="The secret itself is never returned.")
    webhook_timeout_seconds: int
    webhook_max_attempts: int
    landing_url: str
    click_ttl_days: int
    learn_send_hour: bool
    min_timing_clicks: int

    @classmethod
    def of(cls, policy: models.ContactPolicy) -> ContactPolicyType:
        return cls(
            quiet_start=policy.quiet_start.strftime("%H:%M"),
            quiet_end=policy.quiet_end.strftime("%H:%M"),
            cap_72h=policy.cap_72h,
            cap_month=policy.cap_month,
            holdout_percent=float(policy.holdout_percent),
            attribution_hours=policy.attribution_hours,
            wecom_daily_per_sender=policy.wecom_daily_per_sender,
            wecom_mass_max=policy.wecom_mass_max,
            gateway=Gateway(policy.gateway),
            webhook_url=policy.webhook_url,
            webhook_secret_set=bool(policy.webhook_secret),
            webhook_timeout_seconds=policy.webhook_timeout_seconds,
            webhook_max_attempts=policy.webhook_max_attempts,
            landing_url=policy.landing_url,
            click_ttl_days=policy.click_ttl_days,
            learn_send_hour=policy.learn_send_hour,
            min_timing_clicks=policy.min_timing_clicks,
        )


@strawberry.enum(name="FollowupResultDimension", description="How follow-up results are grouped.")
class Dimension(Enum):
    RULE = "rule"
    CHANNEL = "channel"
    STAGE = "stage"
    SEND_HOUR = "send_hour"


@strawberry.type(
    name="FollowupComparison",
    description="Touched customers against the holdout: paid-order conversion within the attribution window "
    "after the (planned) send time and revenue per customer, with the difference and its 95% interval "
    "(Newcombe's hybrid score for rates, a normal interval for revenue; both widened for customers touched on several occasions). Null figures come with a reason.",
)
class Comparison:
    key: str = strawberry.field(
        description="The group: a rule id, channel, stage or send hour; 'all' for the total."
    )
    label: str
    treated: int
    treated_conversions: int
    control: int
    control_conversions: int
    treated_rate: float | None
    control_rate: float | None
    uplift: float | None = strawberry.field(description="Treated rate − control rate.")
    uplift_low: float | None
    uplift_high: float | None
    treated_revenue: Money | None = strawberry.field(description="Revenue per touched customer.")
    control_revenue: Money | None = strawberry.field(description="Revenue per held-out customer.")
    revenue_uplift: Money | None = strawberry.field(description="Treated revenue − control revenue.")
    revenue_low: Money | None = strawberry.field(description="Lower bound of the revenue uplift's interval.")
    revenue_high: Money | None = strawberry.field(description="Upper bound of the revenue uplift's interval.")
    significant: bool = strawberry.field(description="The rate interval excludes 0.")
    reason: ComparisonReason | None = strawberry.field(description="Why a figure is null.")


@strawberry.type(name="FollowupResults")
class Results:
    total: Comparison
    groups: list[Comparison]


@strawberry.type(
    name="SendHourEvidence",
    description="Clicked touches by lifecycle stage and local send hour, and how many of them led to a purchase: "
    "what the learned send hour rests on.",
)
class SendHourEvidence:
    stage: Stage | None = strawberry.field(description="Null for touches planned without a stage.")
    send_hour: int
    clicks: int
    conversions: int
    rate: float
    chosen: bool = strawberry.field(description="The hour planning uses for this stage.")


@strawberry.type(name="TouchReasonCount")
class ReasonCount:
    reason: TouchReason
    count: int


@strawberry.type(name="FollowupPlanRule")
class PlanRule:
    rule_id: relay.GlobalID
    name: str
    eligible: int
    planned: int
    suppressed: list[ReasonCount]
    group_posts_planned: int = strawberry.field(description="Posts planned in WeCom groups.")
    group_posts_suppressed: list[ReasonCount]


@strawberry.type(name="FollowupPlan", description="What planning a stream's follow-ups did.")
class Plan:
    occasion: str
    audience: int = strawberry.field(description="Customers who watched or bought.")
    written: int = strawberry.field(
        description="Touch rows added now (planning again adds only new customers)."
    )
    planned: int
    rules: list[PlanRule]
