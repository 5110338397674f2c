"""Filters and orderings of the customer list, as staff need them (explicit inputs, checked with clear errors)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import Enum

import strawberry
from django.db.models import Exists, F, OuterRef, Q
from strawberry import relay

from apps.analytics.graphql.types import Stage
from apps.analytics.models import ProspectScore, RunStatus
from apps.brands.models import Brand
from apps.communities.models import CommunityMembership
from apps.core.graphql.enums import enum_codes
from apps.core.graphql.permissions import caller_brand_ids, request_user
from apps.core.graphql.relay import (
    DateRange,
    DecimalRange,
    FloatRange,
    SortDirection,
    node_pk,
    order_expression,
    range_bounds,
    search_text,
)
from apps.core.scoping import user_may
from apps.customers.graphql import scores
from apps.loyalty.graphql.types import RfmSegment


@strawberry.input(name="CustomerFilter", description="Every filter given must hold (AND).")
class CustomerFilter:
    stages: list[Stage] | None = strawberry.field(
        default=None, description="Lifecycle stage is one of these."
    )
    tiers: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="Tier (ids) is one of these."
    )
    rfm_segments: list[RfmSegment] | None = strawberry.field(
        default=None, description="RFM segment is one of these."
    )
    churn_probability: FloatRange | None = strawberry.field(default=None, description="Within 0 to 1.")
    clv: DecimalRange | None = strawberry.field(
        default=None, description="CLV amount, in the brand's currency."
    )
    scored: bool | None = strawberry.field(
        default=None, description="True: only customers with a published score; false: only those without."
    )
    community: relay.GlobalID | None = strawberry.field(
        default=None, description="Currently a member of this community."
    )
    last_order: DateRange | None = strawberry.field(
        default=None, description="Their last paid order was placed on one of these days (brand time zone)."
    )
    acquisition_stream: relay.GlobalID | None = strawberry.field(
        default=None, description="Won by this live stream."
    )
    search: str | None = strawberry.field(
        default=None, description="External id (exact, any case) or a part of the display name."
    )


@strawberry.enum(name="CustomerSortField")
class CustomerSortField(Enum):
    CLV = "clv"
    CHURN_PROBABILITY = "churn_probability"
    EXPECTED_REVENUE_HORIZON = "expected_revenue_horizon"
    LAST_ORDER_AT = "last_order_at"
    EXTERNAL_ID = "external_id"
    FIRST_SEEN_AT = "first_seen_at"


@strawberry.input(
    name="CustomerOrder",
    description="Sort order. By a score (CLV, churn probability, expected revenue): scored customers only, "
    "highest or lowest first. By the last order: customers without one come last either way.",
)
class CustomerOrder:
    field: CustomerSortField
    direction: SortDirection = SortDirection.DESC


LAST_ORDER_SORT = "last_order_at_sort"


def _with_last_order(queryset):
    if LAST_ORDER_SORT in queryset.query.annotations:
        return queryset
    return queryset.alias(**{LAST_ORDER_SORT: scores.last_paid_order_at()})


def _day_start(day, tz) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def _last_order_between(queryset, value: DateRange, info):
    start, end = range_bounds(value, field="lastOrder")
    if start is None and end is None:
        return queryset
    queryset = _with_last_order(queryset)
    ids = caller_brand_ids(info)
    brands = Brand.objects.all() if ids is None else Brand.objects.filter(pk__in=ids)
    per_brand = Q(pk__in=[])
    for brand_id, tz_name in brands.values_list("pk", "timezone"):
        tz = Brand(timezone=tz_name).tzinfo
        condition = Q(brand_id=brand_id)
        if start is not None:
            condition &= Q(**{f"{LAST_ORDER_SORT}__gte": _day_start(start, tz)})
        if end is not None:
            condition &= Q(**{f"{LAST_ORDER_SORT}__lt": _day_start(end + timedelta(days=1), tz)})
        per_brand |= condition
    return queryset.filter(per_brand)


def customers_filter(queryset, value: CustomerFilter | None, info):
    """The customers matching every given filter. Expects `selectors.customers_with_published_score` applied."""
    if value is None:
        return queryset
    p = scores.PUBLISHED_SCORE
    # every condition on the published score in one filter() call: Django joins a multi-valued relation once
    # per call, and a second join of the scores (a million rows) made a filtered page 4-15× slower
    on_score = Q()
    if value.stages is not None:
        codes = [s.value for s in value.stages]
        stage = Q(**{f"{p}__stage__in": [c for c in codes if c != "prospect"]})
        if "prospect" in codes:
            # PROSPECT, as `stage` reads it: no published score, a propensity in the published run
            prospect = ProspectScore.objects.filter(
                brand_id=OuterRef("brand_id"), customer_id=OuterRef("pk"), run__status=RunStatus.PUBLISHED
            )
            stage |= Q(**{f"{p}__id__isnull": True}) & Exists(prospect)
        on_score &= stage
    if value.tiers is not None:
        tier_ids = [node_pk(t, type_name="Tier", field="tiers") for t in value.tiers]
        on_score &= Q(**{f"{p}__tier_id__in": tier_ids})
    if value.rfm_segments is not None:
        on_score &= Q(**{f"{p}__rfm_segment__in": enum_codes(value.rfm_segments)})
    if value.churn_probability is not None:
        low, high = range_bounds(value.churn_probability, field="churnProbability", low=0.0, high=1.0)
        if low is not None:
            on_score &= Q(**{f"{p}__churn_probability__gte": low})
        if high is not None:
            on_score &= Q(**{f"{p}__churn_probability__lte": high})
    if value.clv is not None:
        low, high = range_bounds(value.clv, field="clv")
        if low is not None:
            on_score &= Q(**{f"{p}__clv__gte": low})
        if high is not None:
            on_score &= Q(**{f"{p}__clv__lte": high})
    if value.scored is not None:
        on_score &= Q(**{f"{p}__id__isnull": not value.scored})
    if on_score:
        queryset = queryset.filter(on_score)
    if value.community is not None:
        community_id = node_pk(value.community, type_name="Community", field="community")
        current = CommunityMembership.objects.filter(
            brand_id=OuterRef("brand_id"),
            customer_id=OuterRef("pk"),
            community_id=community_id,
            left_at__isnull=True,
        )
        queryset = queryset.filter(Exists(current))
    if value.last_order is not None:
        queryset = _last_order_between(queryset, value.last_order, info)
    if value.acquisition_stream is not None:
        stream_id = node_pk(value.acquisition_stream, type_name="Stream", field="acquisitionStream")
        queryset = queryset.filter(acquisition_stream_id=stream_id)
    text = search_text(value.search)
    if text:
        # by name only within the brands where the caller may see names (personal data)
        named = Q(display_name__icontains=text)
        pii_brands = _brands_with_pii(info)
        if pii_brands is not None:
            named &= Q(brand_id__in=pii_brands)
        queryset = queryset.filter(Q(external_id__iexact=text) | named)
    return queryset


def _brands_with_pii(info) -> list[int] | None:
    """The caller's brands whose personal data they may see (None: every brand, a superuser)."""
    user = request_user(info)
    ids = caller_brand_ids(info)
    if ids is None:
        return None
    return [brand_id for brand_id in ids if user_may(user, brand_id, "customers.view_customer_pii")]


def customers_order(queryset, value: CustomerOrder | None):
    if value is None:
        return queryset.order_by("brand_id", "external_id", "pk")
    p = scores.PUBLISHED_SCORE
    field = value.field
    if field == CustomerSortField.LAST_ORDER_AT:
        queryset = _with_last_order(queryset)
        expression = F(LAST_ORDER_SORT)
    elif field in (CustomerSortField.EXTERNAL_ID, CustomerSortField.FIRST_SEEN_AT):
        expression = F(field.value)
    else:
        # a score: scored customers only (an inner join), so the page comes straight off the scores'
        # (brand, run, value) index instead of sorting every customer of the brand
        queryset = queryset.filter(**{f"{p}__id__isnull": False})
        tie_break = "-pk" if value.direction == SortDirection.DESC else "pk"
        expression = F(f"{p}__{field.value}")
        return queryset.order_by(
            expression.desc() if value.direction == SortDirection.DESC else expression.asc(), tie_break
        )
    tie_break = "-pk" if value.direction == SortDirection.DESC else "pk"
    return queryset.order_by(order_expression(expression, value.direction), tie_break)
