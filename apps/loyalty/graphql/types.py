"""GraphQL types of the loyalty app: tiers, benefits, their links, grants to customers, tier rules and history.

Every type is a relay Node scoped to the caller's brands (BrandScopedType), so nested lists and prefetches
never show another brand's rows. Money is in the brand's currency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.types import Info

from apps.core.graphql.enums import choices_enum, codes_enum
from apps.core.graphql.money import Money, brand_money
from apps.core.graphql.scoping import BRAND_COLUMN, BrandScopedType
from apps.loyalty import models

if TYPE_CHECKING:
    from apps.customers.graphql.types import CustomerType

CustomerRef = Annotated["CustomerType", strawberry.lazy("apps.customers.graphql.types")]


BenefitKind = choices_enum(models.BenefitKind, "BenefitKind", "What a benefit gives the customer.")
GrantSource = choices_enum(
    models.GrantSource, "GrantSource", "Who made a grant: tier changes, staff by hand, a campaign, an import."
)
TierChangeSource = choices_enum(
    models.TierChangeSource, "TierChangeSource", "What moved a customer between tiers."
)
GrantStatus = choices_enum(models.GrantStatus, "GrantStatus", "Where a grant stands now.")
RfmSegment = codes_enum(
    models.RFM_SEGMENT_LABELS,
    "RfmSegment",
    "A customer's RFM segment (recency, frequency and monetary quintiles), e.g. CHAMPIONS, AT_RISK.",
)
# Kinds whose value is an amount of money (a coupon's face value, a gift's value); a points multiplier is not.
MONEY_BENEFIT_KINDS = {models.BenefitKind.COUPON, models.BenefitKind.GIFT}


@strawberry_django.type(
    models.Tier, name="Tier", description="A value tier of a brand (1 = most valuable).", only=BRAND_COLUMN
)
class TierType(BrandScopedType, relay.Node):
    code: strawberry.auto
    name: strawberry.auto
    rank: strawberry.auto
    description: strawberry.auto
    is_active: strawberry.auto = strawberry_django.field(description="False once the tier is archived.")
    demotion_grace_days: strawberry.auto = strawberry_django.field(
        description="Days a customer who stops meeting the tier's rule keeps the tier and its benefits."
    )

    @strawberry_django.field(only=["name", "code"], description="The name in the caller's language.")
    def display_name(self) -> str:
        return self.display_name

    tier_benefits: list[TierBenefitType] = strawberry_django.field(
        description="The benefits this tier carries, with their quotas."
    )


@strawberry_django.type(
    models.Benefit,
    name="Benefit",
    description="A benefit (权益) customers can be granted.",
    only=BRAND_COLUMN,
)
class BenefitType(BrandScopedType, relay.Node):
    code: strawberry.auto
    name: strawberry.auto

    @strawberry_django.field(only=["kind"])
    def kind(self) -> BenefitKind:
        return BenefitKind(self.kind)

    value: strawberry.auto = strawberry_django.field(
        description="The number as entered: a coupon's or gift's amount, a points multiplier; 0 where it does "
        "not apply. `amount` gives the money with its currency."
    )

    @strawberry_django.field(
        only=["kind", "value"],
        description="A coupon's face value or a gift's value, in the brand's currency; null for other kinds.",
    )
    def amount(self, info: Info) -> Money | None:
        if self.kind not in MONEY_BENEFIT_KINDS:
            return None
        return brand_money(info, self, self.value)

    validity_days: strawberry.auto
    description: strawberry.auto
    is_active: strawberry.auto = strawberry_django.field(description="False once the benefit is archived.")

    @strawberry_django.field(only=["name", "code"], description="The name in the caller's language.")
    def display_name(self) -> str:
        return self.display_name

    @strawberry_django.field(only=["kind"], description="The kind's name in the caller's language.")
    def kind_label(self) -> str:
        return str(self.get_kind_display())


@strawberry_django.type(
    models.TierBenefit, name="TierBenefit", description="A benefit a tier carries.", only=BRAND_COLUMN
)
class TierBenefitType(BrandScopedType, relay.Node):
    tier: TierType
    benefit: BenefitType
    quota: int = strawberry_django.field(
        description="Grants per customer per validity period; 0 = unlimited."
    )


@strawberry_django.type(
    models.BenefitGrant,
    name="BenefitGrant",
    description="A benefit granted to a customer.",
    only=BRAND_COLUMN,
)
class BenefitGrantType(BrandScopedType, relay.Node):
    customer: CustomerRef
    benefit: BenefitType
    granted_at: strawberry.auto
    expires_at: strawberry.auto
    redeemed_at: strawberry.auto
    revoked_at: strawberry.auto
    note: strawberry.auto

    @strawberry_django.field(only=["source"])
    def source(self) -> GrantSource:
        return GrantSource(self.source)

    @strawberry_django.field(
        only=["redeemed_at", "revoked_at", "expires_at"],
        description="OPEN (usable now), REDEEMED, REVOKED or EXPIRED (not used in time).",
    )
    def status(self) -> GrantStatus:
        return GrantStatus(self.status_at())


@strawberry_django.type(
    models.TierRule,
    name="TierRule",
    description="When a scored customer belongs to a tier.",
    only=BRAND_COLUMN,
)
class TierRuleType(BrandScopedType, relay.Node):
    tier: TierType
    min_clv_percentile: strawberry.auto
    max_churn_probability: strawberry.auto
    min_rfm_score: strawberry.auto
    is_active: strawberry.auto

    @strawberry_django.field(only=["min_clv"], description="CLV at least this amount; null: no condition.")
    def min_clv(self, info: Info) -> Money | None:
        return brand_money(info, self, self.min_clv)

    @strawberry_django.field(only=["rfm_segments"], description="RFM segments; empty = any segment.")
    def rfm_segments(self) -> list[RfmSegment]:
        return [RfmSegment(code) for code in self.rfm_segments or ()]


@strawberry_django.type(
    models.TierChange, name="TierChange", description="A customer's move between tiers.", only=BRAND_COLUMN
)
class TierChangeType(BrandScopedType, relay.Node):
    customer: CustomerRef
    from_tier: TierType | None
    to_tier: TierType | None
    changed_at: strawberry.auto
    run_id: strawberry.auto
    reason: strawberry.auto = strawberry_django.field(
        description="rule:<tier code>, no_rule_matched, opted_out_kept or manual."
    )

    @strawberry_django.field(only=["source"])
    def source(self) -> TierChangeSource:
        return TierChangeSource(self.source)


__all__ = [
    "BenefitGrantType",
    "BenefitKind",
    "GrantSource",
    "GrantStatus",
    "RfmSegment",
    "TierChangeSource",
    "BenefitType",
    "TierBenefitType",
    "TierChangeType",
    "TierRuleType",
    "TierType",
]
