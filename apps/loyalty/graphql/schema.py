"""Root query and mutation fields of the loyalty app, merged into clvsite.schema.

Reads: any member of the brand (viewer and up); lists are scoped to the caller's brands by the types.
Writes: the manager role in the row's brand; each mutation calls the service the admin calls
(apps.loyalty.services). A row of another brand is reported as not found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from enum import Enum

import strawberry
from django.utils.translation import gettext
from strawberry import UNSET, relay
from strawberry.types import Info

from apps.core.graphql.enums import codes_enum
from apps.core.graphql.mutations import (
    ClientError,
    brand_for,
    client_errors,
    pk_of,
    scoped_get,
)
from apps.core.graphql.permissions import request_user
from apps.core.graphql.relay import Connection, connection, node_pk
from apps.loyalty import models, services
from apps.loyalty.graphql.types import (
    BenefitGrantType,
    BenefitKind,
    BenefitType,
    GrantSource,
    GrantStatus,
    RfmSegment,
    TierBenefitType,
    TierRuleType,
    TierType,
)

MANAGER = "manager"


GrantSkipReason = codes_enum(
    (services.SKIP_OPTED_OUT, services.SKIP_QUOTA),
    "GrantSkipReason",
    "Why grantBenefit left a customer out: OPTED_OUT of automated decisions, or QUOTA_REACHED for the benefit.",
)


def _changes(data) -> dict:
    """The fields of a patch input that were given (UNSET ones are left alone), enums as their codes."""
    out = {}
    for name, value in vars(data).items():
        if value is UNSET:
            continue
        if isinstance(value, list):
            value = [v.value if isinstance(v, Enum) else v for v in value]
        out[name] = value.value if isinstance(value, Enum) else value
    return out


@strawberry.input(description="A new value tier.")
class TierInput:
    code: str = strawberry.field(
        description="Short identifier, unique in the brand (letters, digits, - and _)."
    )
    name: str
    rank: int = strawberry.field(description="1 is the most valuable tier.")
    description: str = ""
    is_active: bool = True
    demotion_grace_days: int = strawberry.field(
        default=0,
        description="Days a customer who stops meeting the tier's rule keeps it (0 to 3650; 0: moves at once).",
    )


@strawberry.input(description="Changes to a tier; fields left out stay as they are.")
class TierPatch:
    code: str | None = UNSET
    name: str | None = UNSET
    rank: int | None = UNSET
    description: str | None = UNSET
    is_active: bool | None = UNSET
    demotion_grace_days: int | None = UNSET


@strawberry.input(description="A new benefit.")
class BenefitInput:
    code: str
    name: str
    kind: BenefitKind
    value: Decimal = strawberry.field(
        default=Decimal("0"),
        description="Coupon amount or gift value (in the brand's currency), points multiplier; 0 where it does "
        "not apply.",
    )
    validity_days: int = strawberry.field(default=30, description="How long a grant of it stays usable.")
    description: str = ""
    is_active: bool = True


@strawberry.input(description="Changes to a benefit; fields left out stay as they are.")
class BenefitPatch:
    code: str | None = UNSET
    name: str | None = UNSET
    kind: BenefitKind | None = UNSET
    value: Decimal | None = UNSET
    validity_days: int | None = UNSET
    description: str | None = UNSET
    is_active: bool | None = UNSET


@strawberry.input(
    description="When a scored customer belongs to the tier: every condition that is set must hold "
    "(unset = no condition). Tiers are checked by rank; the first active rule that matches wins."
)
class TierRuleInput:
    min_clv: Decimal | None = strawberry.field(
        default=None, description="CLV at least this amount, in the brand's currency."
    )
    min_clv_percentile: int | None = strawberry.field(
        default=None, description="CLV above this share (1-99 %) of the brand's scored customers."
    )
    max_churn_probability: Decimal | None = strawberry.field(
        default=None, description="Churn probability ≤ (0-1)."
    )
    min_rfm_score: int | None = strawberry.field(
        default=None, description="R + F + M scores at least (3-15)."
    )
    rfm_segments: list[RfmSegment] = strawberry.field(
        default_factory=list, description="RFM segments (CHAMPIONS, LOYAL, …); empty = any segment."
    )
    is_active: bool = True


@strawberry.input(description="Changes to a tier rule; null clears a condition, fields left out stay.")
class TierRulePatch:
    min_clv: Decimal | None = UNSET
    min_clv_percentile: int | None = UNSET
    max_churn_probability: Decimal | None = UNSET
    min_rfm_score: int | None = UNSET
    rfm_segments: list[RfmSegment] | None = UNSET
    is_active: bool | None = UNSET


@strawberry.type(description="A customer grantBenefit left out, and why.")
class GrantSkip:
    index: int = strawberry.field(description="Position of the customer in the `customers` argument.")
    customer: relay.GlobalID
    code: GrantSkipReason
    message: str


@strawberry.type(description="What grantBenefit did.")
class GrantBenefitPayload:
    grants: list[BenefitGrantType]
    skipped: list[GrantSkip]


def _fresh(row):
    """The row as stored (decimals with their scale, defaults filled in)."""
    row.refresh_from_db()
    return row


def _tier(info, tier_id: relay.GlobalID, minimum: str = MANAGER) -> models.Tier:
    return scoped_get(info, models.Tier, tier_id, "Tier", not_found=gettext("No such tier."), minimum=minimum)


def _benefit(info, benefit_id: relay.GlobalID, minimum: str = MANAGER) -> models.Benefit:
    return scoped_get(
        info, models.Benefit, benefit_id, "Benefit", not_found=gettext("No such benefit."), minimum=minimum
    )


@strawberry.type
class Query:
    @connection(
        Connection[TierType],
        description="Value tiers of the caller's brands, most valuable first. Any member may read.",
    )
    def tiers(
        self, brand: relay.GlobalID | None = None, include_archived: bool = False
    ) -> Iterable[models.Tier]:
        queryset = models.Tier.objects.order_by("brand_id", "rank", "pk")
        if brand is not None:
            queryset = queryset.filter(brand_id=node_pk(brand, type_name="Brand", field="brand"))
        if not include_archived:
            queryset = queryset.filter(is_active=True)
        return queryset

    @connection(
        Connection[BenefitType],
        description="Benefits (权益) of the caller's brands. Any member may read.",
    )
    def benefits(
        self,
        brand: relay.GlobalID | None = None,
        kind: BenefitKind | None = None,
        include_archived: bool = False,
    ) -> Iterable[models.Benefit]:
        queryset = models.Benefit.objects.order_by("brand_id", "kind", "code")
        if brand is not None:
            queryset = queryset.filter(brand_id=node_pk(brand, type_name="Brand", field="brand"))
        if kind is not None:
            queryset = queryset.filter(kind=kind.value)
        if not include_archived:
            queryset = queryset.filter(is_active=True)
        return queryset

    @connection(
        Connection[BenefitGrantType],
        description="Benefit grants of the caller's brands, newest first, filtered by customer, benefit and "
        "status (OPEN = usable now). Any member may read.",
    )
    def benefit_grants(
        self,
        brand: relay.GlobalID | None = None,
        customer: relay.GlobalID | None = None,
        benefit: relay.GlobalID | None = None,
        status: GrantStatus | None = None,
    ) -> Iterable[models.BenefitGrant]:
        queryset = models.BenefitGrant.objects.order_by("-granted_at", "-pk")
        for value, type_name, column in (
            (brand, "Brand", "brand"),
            (customer, "Customer", "customer"),
            (benefit, "Benefit", "benefit"),
        ):
            if value is not None:
                queryset = queryset.filter(
                    **{f"{column}_id": node_pk(value, type_name=type_name, field=column)}
                )
        if status is not None:
            queryset = queryset.with_status(status.value)
        return queryset

    @connection(
        Connection[TierRuleType],
        description="Tier rules of the caller's brands, by tier rank. Any member may read.",
    )
    def tier_rules(
        self,
        brand: relay.GlobalID | None = None,
        tier: relay.GlobalID | None = None,
        include_archived: bool = False,
    ) -> Iterable[models.TierRule]:
        queryset = models.TierRule.objects.order_by("brand_id", "tier__rank", "pk")
        if brand is not None:
            queryset = queryset.filter(brand_id=node_pk(brand, type_name="Brand", field="brand"))
        if tier is not None:
            queryset = queryset.filter(tier_id=node_pk(tier, type_name="Tier", field="tier"))
        if not include_archived:
            queryset = queryset.filter(is_active=True)
        return queryset


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Add a value tier to a brand. Manager role.")
    def create_tier(self, info: Info, brand: relay.GlobalID, input: TierInput) -> TierType:
        owner = brand_for(info, brand, MANAGER)
        with client_errors():
            return _fresh(services.tier_create(brand=owner, actor=request_user(info), **_changes(input)))

    @strawberry.mutation(description="Change a tier. Manager role.")
    def update_tier(self, info: Info, id: relay.GlobalID, input: TierPatch) -> TierType:
        tier = _tier(info, id)
        with client_errors():
            return _fresh(services.tier_update(tier=tier, actor=request_user(info), **_changes(input)))

    @strawberry.mutation(
        description="Archive (deactivate) a tier: refreshes stop assigning it; history stays. Manager role."
    )
    def archive_tier(self, info: Info, id: relay.GlobalID) -> TierType:
        return services.tier_archive(tier=_tier(info, id), actor=request_user(info))

    @strawberry.mutation(description="Add a benefit (权益) to a brand. Manager role.")
    def create_benefit(self, info: Info, brand: relay.GlobalID, input: BenefitInput) -> BenefitType:
        owner = brand_for(info, brand, MANAGER)
        with client_errors():
            return _fresh(services.benefit_create(brand=owner, actor=request_user(info), **_changes(input)))

    @strawberry.mutation(description="Change a benefit. Manager role.")
    def update_benefit(self, info: Info, id: relay.GlobalID, input: BenefitPatch) -> BenefitType:
        benefit = _benefit(info, id)
        with client_errors():
            return _fresh(
                services.benefit_update(benefit=benefit, actor=request_user(info), **_changes(input))
            )

    @strawberry.mutation(
        description="Archive (deactivate) a benefit: it is no longer granted; open grants stay usable. Manager role."
    )
    def archive_benefit(self, info: Info, id: relay.GlobalID) -> BenefitType:
        return services.benefit_archive(benefit=_benefit(info, id), actor=request_user(info))

    @strawberry.mutation(
        description="Let a tier carry a benefit with a quota per customer per validity period (0 = unlimited), "
        "or change the quota. Manager role."
    )
    def set_tier_benefit(
        self, info: Info, tier: relay.GlobalID, benefit: relay.GlobalID, quota: int = 1
    ) -> TierBenefitType:
        found_tier = _tier(info, tier)
        found_benefit = _benefit(info, benefit)
        with client_errors():
            return _fresh(
                services.tier_benefit_set(
                    tier=found_tier, benefit=found_benefit, quota=quota, actor=request_user(info)
                )
            )

    @strawberry.mutation(description="A tier stops carrying a benefit (grants made stay). Manager role.")
    def remove_tier_benefit(self, info: Info, tier: relay.GlobalID, benefit: relay.GlobalID) -> bool:
        return services.tier_benefit_remove(
            tier=_tier(info, tier), benefit=_benefit(info, benefit), actor=request_user(info)
        )

    @strawberry.mutation(description="Give a tier its rule (one per tier). Manager role.")
    def create_tier_rule(self, info: Info, tier: relay.GlobalID, input: TierRuleInput) -> TierRuleType:
        found = _tier(info, tier)
        with client_errors():
            return _fresh(services.tier_rule_create(tier=found, actor=request_user(info), **_changes(input)))

    @strawberry.mutation(description="Change a tier rule; it applies from the next refresh. Manager role.")
    def update_tier_rule(self, info: Info, id: relay.GlobalID, input: TierRulePatch) -> TierRuleType:
        rule = scoped_get(
            info, models.TierRule, id, "TierRule", not_found=gettext("No such tier rule."), minimum=MANAGER
        )
        with client_errors():
            return _fresh(services.tier_rule_update(rule=rule, actor=request_user(info), **_changes(input)))

    @strawberry.mutation(
        description="Archive (deactivate) a tier rule: its tier matches nobody. Manager role."
    )
    def archive_tier_rule(self, info: Info, id: relay.GlobalID) -> TierRuleType:
        rule = scoped_get(
            info, models.TierRule, id, "TierRule", not_found=gettext("No such tier rule."), minimum=MANAGER
        )
        return services.tier_rule_archive(rule=rule, actor=request_user(info))

    @strawberry.mutation(
        description="Grant an active benefit to up to 1,000 customers of its brand, valid for the benefit's "
        "validity from now. Customers at their tier's quota of it are skipped; a CAMPAIGN grant (an automated "
        "decision) also skips customers who opted out of automated decisions, a MANUAL one does not. "
        "Manager role."
    )
    def grant_benefit(
        self,
        info: Info,
        benefit: relay.GlobalID,
        customers: list[relay.GlobalID],
        source: GrantSource = GrantSource.MANUAL,
        note: str = "",
    ) -> GrantBenefitPayload:
        found = _benefit(info, benefit)
        no_such = gettext("No such customer.")
        ids = []
        for index, customer in enumerate(customers):
            try:
                ids.append(pk_of(customer, "Customer", no_such))
            except ClientError:
                raise ClientError(
                    gettext("customers[%(index)d]: No such customer.") % {"index": index}
                ) from None
        with client_errors():
            result = services.benefit_grant(
                brand=found.brand,
                benefit=found,
                customer_ids=ids,
                source=source.value,
                note=note,
                actor=request_user(info),
            )
        position = {}
        for index, pk in enumerate(ids):
            position.setdefault(pk, index)
        return GrantBenefitPayload(
            grants=result.grants,
            skipped=[
                GrantSkip(
                    index=position[skip["customer_id"]],
                    customer=relay.GlobalID("Customer", str(skip["customer_id"])),
                    code=GrantSkipReason(skip["code"]),
                    message=str(skip["message"]),
                )
                for skip in result.skipped
            ],
        )

    @strawberry.mutation(description="Withdraw a benefit grant that was not redeemed. Manager role.")
    def revoke_benefit_grant(self, info: Info, id: relay.GlobalID) -> BenefitGrantType:
        grant = scoped_get(
            info,
            models.BenefitGrant,
            id,
            "BenefitGrant",
            not_found=gettext("No such grant."),
            minimum=MANAGER,
        )
        with client_errors():
            return services.benefit_grant_revoke(grant=grant, actor=request_user(info))

    @strawberry.mutation(
        description="Record that the customer used a benefit grant at `redeemedAt` (default now); redemption is "
        "an outcome experiments measure. Refused when the grant was revoked, had expired by then, or the time "
        "is before the grant; the same redemption sent twice changes nothing. Manager role."
    )
    def redeem_benefit_grant(
        self, info: Info, id: relay.GlobalID, redeemed_at: dt.datetime | None = None
    ) -> BenefitGrantType:
        grant = scoped_get(
            info,
            models.BenefitGrant,
            id,
            "BenefitGrant",
            not_found=gettext("No such grant."),
            minimum=MANAGER,
        )
        if redeemed_at is not None and redeemed_at.tzinfo is None:
            raise ClientError(
                gettext("redeemedAt: give the time with its offset, e.g. 2026-05-01T21:30:00+08:00.")
            )
        with client_errors():
            return services.benefit_grant_redeem(grant=grant, when=redeemed_at, actor=request_user(info))
