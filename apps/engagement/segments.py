"""Saved segments: the customer list's filters, saved by name (engagement.models.SavedSegment) and evaluated
here, outside any request, for the segment's live count and for the follow-up rules and experiments that
target it.

A segment is the customer list's query string restricted to its filters (SEGMENT_PARAMS), applied the way
the list applies them (apps/customers/admin/filters.py and Django's field filters) to the brand's customers
with their published score, so the list a segment links to and the customers a rule or an experiment takes
are the same (tests/engagement/test_segments.py compares every parameter both ways). The search box (free
text that may hold a name or a phone number) and the cohort cell are not filters a segment keeps; ordering
and paging are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.analytics import selectors as score_selectors
from apps.analytics.models import Stage
from apps.analytics.selectors import published_score_column as score
from apps.communities.models import Community, CommunityMembership
from apps.customers.models import AcquisitionChannel, AgeBand, Customer, Gender
from apps.loyalty.models import RFM_SEGMENT_LABELS, Tier
from apps.streams.models import Platform

NOT_SCORED = "none"  # the customer list's "not scored yet" / "no tier" / "no acquisition stream" choice
# the customer list's bands (apps/customers/admin/filters.py): lower bound (inclusive), upper bound
CHURN_BANDS = {"high": (0.5, None), "medium": (0.25, 0.5), "low": (None, 0.25)}
CLV_BANDS = {"top20": (80, None), "middle": (40, 80), "bottom40": (None, 40)}

# the filters on the published score (a rule or experiment targeting them decides by model outputs)
SCORE_PARAMS = ("stage", "tier", "rfm", "churn_risk", "at_risk", "clv_band")
CHOICE_PARAMS = {
    "acquisition_channel__exact": ("acquisition_channel", AcquisitionChannel),
    "gender__exact": ("gender", Gender),
    "age_band__exact": ("age_band", AgeBand),
}
BOOLEAN_PARAMS = {
    "marketing_consent__exact": "marketing_consent",
    "automated_decisions_opt_out__exact": "automated_decisions_opt_out",
}
DATE_PARAMS = ("first_seen_at__gte", "first_seen_at__lt", "first_seen_at__isnull")
SEGMENT_PARAMS = (
    *SCORE_PARAMS,
    "community",
    "acquisition_platform",
    *CHOICE_PARAMS,
    *BOOLEAN_PARAMS,
    *DATE_PARAMS,
)
# the list's ordering, paging and messages: not filters, dropped
DROPPED_PARAMS = ("o", "p", "all", "e", "_changelist_filters")
BRAND_PARAM = "brand__id__exact"  # the brand filter (staff of several brands): must be the segment's brand
TRUE_VALUES, FALSE_VALUES = ("1", "true", "True"), ("0", "false", "False")
PARAM_LABELS = {
    "stage": _("lifecycle stage"),
    "tier": _("tier"),
    "rfm": _("RFM segment"),
    "churn_risk": _("churn risk"),
    "at_risk": _("at risk"),
    "clv_band": _("CLV band"),
    "community": _("community"),
    "acquisition_platform": _("acquisition platform"),
    "acquisition_channel__exact": _("acquisition channel"),
    "gender__exact": _("gender"),
    "age_band__exact": _("age band"),
    "marketing_consent__exact": _("marketing consent"),
    "automated_decisions_opt_out__exact": _("opted out of automated decisions"),
    "first_seen_at__gte": _("first seen from"),
    "first_seen_at__lt": _("first seen before"),
    "first_seen_at__isnull": _("first seen at unknown"),
}


def _bad(message) -> ValidationError:
    return ValidationError({"filters": ValidationError(message, code="invalid")})


def _params(filters: str) -> dict[str, str]:
    """The query string as {parameter: value}; a parameter given twice is refused (the list would OR them)."""
    query = QueryDict((filters or "").strip().lstrip("?"))
    out = {}
    for key in query:
        values = query.getlist(key)
        if len(values) > 1:
            raise _bad(gettext("The filter %(name)s is given more than once.") % {"name": key})
        out[key] = values[0]
    return out


def segment_filters_clean(filters: str, *, brand_id: int) -> str:
    """The customer-list query string of a segment of this brand, checked and normalised (the segment's
    filters only, sorted). Raises ValidationError on the `filters` field naming what is wrong."""
    params = _params(filters)
    for key in DROPPED_PARAMS:
        params.pop(key, None)
    if BRAND_PARAM in params and params.pop(BRAND_PARAM) != str(brand_id):
        raise _bad(gettext("The filters choose another brand than the segment's."))
    if "q" in params:
        raise _bad(
            gettext(
                "A search cannot be saved in a segment (it may hold a name or a phone number): clear the "
                "search box and use the filters."
            )
        )
    unknown = sorted(set(params) - set(SEGMENT_PARAMS))
    if unknown:
        raise _bad(
            gettext("These filters cannot be saved in a segment: %(names)s. A segment keeps %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(SEGMENT_PARAMS)}
        )
    if not params:
        raise _bad(gettext("Choose at least one filter: a segment of every customer adds nothing."))
    for key, value in params.items():
        if not _valid(key, value, brand_id):
            raise _bad(
                gettext("%(value)s is not a value of the filter %(name)s.") % {"value": value, "name": key}
            )
    return urlencode(sorted(params.items()))


def _valid(key: str, value: str, brand_id: int) -> bool:
    if key == "stage":
        return value in Stage.values or value == NOT_SCORED
    if key == "tier":
        return value == NOT_SCORED or (
            value.isdigit() and Tier.objects.filter(brand_id=brand_id, pk=int(value)).exists()
        )
    if key == "rfm":
        return value in RFM_SEGMENT_LABELS or value == NOT_SCORED
    if key == "churn_risk":
        return value in CHURN_BANDS or value == NOT_SCORED
    if key == "at_risk":
        return value in ("yes", NOT_SCORED)
    if key == "clv_band":
        return value in CLV_BANDS or value == NOT_SCORED
    if key == "community":
        return value.isdigit() and Community.objects.filter(brand_id=brand_id, pk=int(value)).exists()
    if key == "acquisition_platform":
        return value in Platform.values or value == NOT_SCORED
    if key in CHOICE_PARAMS:
        return value in CHOICE_PARAMS[key][1].values
    if key in BOOLEAN_PARAMS or key == "first_seen_at__isnull":
        return value in TRUE_VALUES + FALSE_VALUES
    if key in ("first_seen_at__gte", "first_seen_at__lt"):
        return _moment(value) is not None
    return False


def _moment(value: str):
    """A date filter's bound: a datetime with its offset (the list writes those) or a date."""
    try:
        return parse_datetime(value) or parse_date(value)
    except ValueError:
        return None


def filters_use_scores(filters: str) -> bool:
    """Whether the filters pick customers by model outputs (the published score)."""
    return any(key in SCORE_PARAMS for key in _params(filters))


def _band(queryset, column: str, low, high):
    if low is not None:
        queryset = queryset.filter(**{f"{column}__gte": low})
    if high is not None:
        queryset = queryset.filter(**{f"{column}__lt": high})
    return queryset


def segment_filter(queryset, filters: str, *, brand_id: int):
    """Customers of `queryset` (of brand `brand_id`) that the segment's filters select, as the customer list
    would select them. The filters are the normalised ones a SavedSegment stores."""
    queryset = score_selectors.customers_with_published_score(queryset, [brand_id])
    not_scored = Q(**{f"{score_selectors.PUBLISHED_SCORE}__id__isnull": True})
    for key, value in _params(filters).items():
        if key in SCORE_PARAMS and value == NOT_SCORED and key != "tier":
            queryset = queryset.filter(not_scored)
        elif key == "stage":
            queryset = queryset.alias(s_stage=score("stage")).filter(s_stage=value)
        elif key == "tier":
            queryset = queryset.alias(s_tier=score("tier_id"))
            queryset = (
                queryset.filter(s_tier__isnull=True)
                if value == NOT_SCORED
                else queryset.filter(s_tier=int(value))
            )
        elif key == "rfm":
            queryset = queryset.alias(s_rfm=score("rfm_segment")).filter(s_rfm=value)
        elif key == "churn_risk":
            queryset = _band(
                queryset.alias(s_churn=score("churn_probability")), "s_churn", *CHURN_BANDS[value]
            )
        elif key == "at_risk":
            queryset = queryset.alias(
                s_value=score("value_percentile"), s_risk_churn=score("churn_probability")
            ).filter(
                s_value__gte=score_selectors.AT_RISK_MIN_VALUE_PERCENTILE,
                s_risk_churn__gte=score_selectors.AT_RISK_MIN_CHURN,
            )
        elif key == "clv_band":
            queryset = _band(queryset.alias(s_clv=score("clv_percentile")), "s_clv", *CLV_BANDS[value])
        elif key == "community":
            members = CommunityMembership.objects.filter(
                brand_id=OuterRef("brand_id"),
                customer_id=OuterRef("pk"),
                community_id=int(value),
                left_at__isnull=True,
            )
            queryset = queryset.filter(Exists(members))
        elif key == "acquisition_platform":
            queryset = (
                queryset.filter(acquisition_stream__isnull=True)
                if value == NOT_SCORED
                else queryset.filter(acquisition_stream__platform=value)
            )
        elif key in CHOICE_PARAMS:
            queryset = queryset.filter(**{CHOICE_PARAMS[key][0]: value})
        elif key in BOOLEAN_PARAMS:
            queryset = queryset.filter(**{BOOLEAN_PARAMS[key]: value in TRUE_VALUES})
        elif key == "first_seen_at__isnull":
            queryset = queryset.filter(first_seen_at__isnull=value in TRUE_VALUES)
        elif key in ("first_seen_at__gte", "first_seen_at__lt"):
            queryset = queryset.filter(**{key: _moment(value)})
        else:  # a stored segment is normalised: nothing else can be there
            raise ValueError(f"not a segment filter: {key}")
    return queryset


def segment_customers(segment):
    """The brand's customers in the segment now (against the scores published now)."""
    return segment_filter(
        Customer.objects.filter(brand_id=segment.brand_id), segment.filters, brand_id=segment.brand_id
    )


def segment_member_ids(segment, customer_ids: Iterable[int]) -> np.ndarray:
    """Which of these customers are in the segment now: one query, however many ids."""
    from apps.engagement.selectors import id_array

    ids = np.asarray(list(customer_ids) if not isinstance(customer_ids, np.ndarray) else customer_ids)
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    wanted = RawSQL("SELECT unnest(%s::bigint[])", [id_array(ids)])
    members = segment_customers(segment).filter(pk__in=wanted).values_list("pk", flat=True)
    return np.asarray(list(members), dtype=np.int64)


def segment_describe(filters: str, *, brand_id: int) -> list[str]:
    """The filters in words, in the staff language ("lifecycle stage: Decline")."""
    params = _params(filters)
    tiers = dict(Tier.objects.filter(brand_id=brand_id).values_list("pk", "name"))
    communities = (
        dict(Community.objects.filter(brand_id=brand_id).values_list("pk", "name"))
        if "community" in params
        else {}
    )
    words = []
    for key, value in params.items():
        if value == NOT_SCORED and key in SCORE_PARAMS:
            shown = gettext("No tier") if key == "tier" else gettext("Not scored yet")
        elif key == "stage":
            shown = dict(Stage.choices).get(value, value)
        elif key == "tier":
            shown = gettext(tiers.get(int(value), value)) if value.isdigit() else value
        elif key == "rfm":
            shown = RFM_SEGMENT_LABELS.get(value, value)
        elif key == "churn_risk":
            shown = {
                "high": _("High (≥ 50%)"),
                "medium": _("Medium (25–50%)"),
                "low": _("Low (under 25%)"),
            }.get(value, value)
        elif key == "at_risk":
            shown = gettext("At-risk high-value customers")
        elif key == "clv_band":
            shown = {
                "top20": _("Top 20%"),
                "middle": _("Middle (top 20–60%)"),
                "bottom40": _("Bottom 40%"),
            }.get(value, value)
        elif key == "community":
            shown = communities.get(int(value), value) if value.isdigit() else value
        elif key == "acquisition_platform":
            shown = (
                gettext("No acquisition stream")
                if value == NOT_SCORED
                else dict(Platform.choices).get(value, value)
            )
        elif key in CHOICE_PARAMS:
            shown = dict(CHOICE_PARAMS[key][1].choices).get(value, value)
        elif key in BOOLEAN_PARAMS or key == "first_seen_at__isnull":
            shown = gettext("yes") if value in TRUE_VALUES else gettext("no")
        else:
            shown = value
        words.append(f"{PARAM_LABELS.get(key, key)}: {shown}")
    return words
