"""The customer list's filters: on the published score (stage, tier, RFM segment, churn-risk band, CLV band
by the percentile stored at publish), on community membership and on the acquisition platform."""

from django.contrib import admin
from django.db.models import Exists, OuterRef, Value
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.analytics import selectors
from apps.analytics.models import Stage
from apps.analytics.selectors import published_score_column as score
from apps.communities.models import Community, CommunityMembership
from apps.core.admin import scope_queryset
from apps.core.scoping import brand_ids_for_user
from apps.loyalty.models import RFM_SEGMENT_LABELS, Tier
from apps.streams.models import Platform

# Churn-risk bands (churn probability of the published score): label, lower bound (inclusive), upper bound.
CHURN_BANDS = {
    "high": (_("High (≥ 50%)"), 0.5, None),
    "medium": (_("Medium (25–50%)"), 0.25, 0.5),
    "low": (_("Low (under 25%)"), None, 0.25),
}
# CLV bands by percentile among the brand's published scores (share with a strictly lower CLV, as tier rules
# count it): label, lower bound (inclusive), upper bound.
CLV_BANDS = {
    "top20": (_("Top 20%"), 80, None),
    "middle": (_("Middle (top 20–60%)"), 40, 80),
    "bottom40": (_("Bottom 40%"), None, 40),
}
NOT_SCORED = "none"


def with_published_score(queryset, brand_ids=None):
    """Customers with the columns of their published score the list shows and filters on, as score_*
    annotations: one LEFT JOIN (selectors.customers_with_published_score), plus one for the tier's name."""
    return selectors.customers_with_published_score(queryset, brand_ids).annotate(
        score_stage=score("stage"),
        score_tier_id=score("tier_id"),
        score_tier_name=score("tier__name"),
        score_rfm_segment=score("rfm_segment"),
        score_churn=score("churn_probability"),
        score_clv=score("clv"),
        score_clv_percentile=score("clv_percentile"),
        score_value_percentile=score("value_percentile"),
    )


def _catalog(request) -> dict[str, list[tuple[str, str]]]:
    """The user's brands' tiers and communities for the list filters, in one query per request."""
    cached = getattr(request, "_clv_customer_filter_catalog", None)
    if cached is not None:
        return cached
    several = brand_ids_for_user(request.user) is None or len(brand_ids_for_user(request.user)) > 1
    # one UNION query for both lists, sorted in Python below
    tiers = (
        scope_queryset(Tier.objects.all(), request.user)
        .order_by()
        .values_list(Value("tier"), "pk", "name", "brand__name", "rank")
    )
    communities = (
        scope_queryset(Community.objects.all(), request.user)
        .order_by()
        .values_list(Value("community"), "pk", "name", "brand__name", Value(0))
    )
    rows = sorted(tiers.union(communities, all=True), key=lambda r: (r[0], r[3], r[4], r[2], r[1]))
    catalog: dict[str, list[tuple[str, str]]] = {"tier": [], "community": []}
    for kind, pk, name, brand_name, _rank in rows:
        label = (
            gettext(name) if kind == "tier" else name
        )  # seeded tier names are msgids: shown in the language
        catalog[kind].append((str(pk), f"{label} ({brand_name})" if several else label))
    request._clv_customer_filter_catalog = catalog
    return catalog


class _ScoreFilter(admin.SimpleListFilter):
    """Filters on the published score; "not scored yet" lists customers without one."""

    def lookups(self, request, model_admin):
        return [*self.choices_for(request), (NOT_SCORED, _("Not scored yet"))]

    def choices_for(self, request):
        raise NotImplementedError

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == NOT_SCORED:
            return queryset.filter(**{f"{selectors.PUBLISHED_SCORE}__id__isnull": True})
        return self.filter_value(request, queryset, value)

    def filter_value(self, request, queryset, value):
        raise NotImplementedError


class StageFilter(_ScoreFilter):
    title = _("lifecycle stage")
    parameter_name = "stage"

    def choices_for(self, request):
        return Stage.choices

    def filter_value(self, request, queryset, value):
        return queryset.filter(score_stage=value)


class TierFilter(_ScoreFilter):
    title = _("tier")
    parameter_name = "tier"

    def choices_for(self, request):
        return _catalog(request)["tier"]

    def lookups(self, request, model_admin):
        return [*self.choices_for(request), (NOT_SCORED, _("No tier"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == NOT_SCORED:
            return queryset.filter(score_tier_id__isnull=True)
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(score_tier_id=int(value))


class RfmSegmentFilter(_ScoreFilter):
    title = _("RFM segment")
    parameter_name = "rfm"

    def choices_for(self, request):
        return list(RFM_SEGMENT_LABELS.items())

    def filter_value(self, request, queryset, value):
        return queryset.filter(score_rfm_segment=value)


class ChurnRiskFilter(_ScoreFilter):
    title = _("churn risk")
    parameter_name = "churn_risk"

    def choices_for(self, request):
        return [(key, label) for key, (label, _low, _high) in CHURN_BANDS.items()]

    def filter_value(self, request, queryset, value):
        if value not in CHURN_BANDS:
            return queryset.none()
        _label, low, high = CHURN_BANDS[value]
        if low is not None:
            queryset = queryset.filter(score_churn__gte=low)
        if high is not None:
            queryset = queryset.filter(score_churn__lt=high)
        return queryset


class AtRiskFilter(_ScoreFilter):
    """The at-risk high-value customers of the dashboard (the one at-risk rule: analytics.selectors)."""

    title = _("at risk")
    parameter_name = "at_risk"

    def choices_for(self, request):
        return [("yes", _("At-risk high-value customers"))]

    def filter_value(self, request, queryset, value):
        if value != "yes":
            return queryset.none()
        return queryset.filter(
            score_value_percentile__gte=selectors.AT_RISK_MIN_VALUE_PERCENTILE,
            score_churn__gte=selectors.AT_RISK_MIN_CHURN,
        )


class ClvBandFilter(_ScoreFilter):
    title = _("CLV band")
    parameter_name = "clv_band"

    def choices_for(self, request):
        return [(key, label) for key, (label, _low, _high) in CLV_BANDS.items()]

    def filter_value(self, request, queryset, value):
        if value not in CLV_BANDS:
            return queryset.none()
        _label, low, high = CLV_BANDS[value]
        if low is not None:
            queryset = queryset.filter(score_clv_percentile__gte=low)
        if high is not None:
            queryset = queryset.filter(score_clv_percentile__lt=high)
        return queryset


class CommunityFilter(admin.SimpleListFilter):
    """Current members (not left) of a community."""

    title = _("community")
    parameter_name = "community"

    def lookups(self, request, model_admin):
        return _catalog(request)["community"]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        members = CommunityMembership.objects.filter(
            brand_id=OuterRef("brand_id"),
            customer_id=OuterRef("pk"),
            community_id=int(value),
            left_at__isnull=True,
        )
        return queryset.filter(Exists(members))


class AcquisitionPlatformFilter(admin.SimpleListFilter):
    """The platform of the stream that brought the customer in."""

    title = _("acquisition platform")
    parameter_name = "acquisition_platform"

    def lookups(self, request, model_admin):
        return [*Platform.choices, (NOT_SCORED, _("No acquisition stream"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == NOT_SCORED:
            return queryset.filter(acquisition_stream__isnull=True)
        return queryset.filter(acquisition_stream__platform=value)


class CohortCellFilter(admin.ListFilter):
    """The customers behind one cell of the cohort table (the dashboard's cohorts page links here):
    `cohort=m:<brand id>:YYYY-MM` (first paid order in that month, brand time) or `cohort=s:<stream id>`
    (acquired by that stream), and optionally `period=k`: those of them who bought in the k-th month after (month cohorts)
    or in days [30k, 30k + 30) after the stream started (stream cohorts). Shown only when used."""

    title = _("cohort")
    parameters = ("cohort", "period")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.used = {}
        for name in self.parameters:
            if name in params:
                value = params.pop(name)
                self.used[name] = value[-1] if isinstance(value, list) else value

    def has_output(self):
        return bool(self.used)

    def expected_parameters(self):
        return list(self.parameters)

    def choices(self, changelist):
        label = self.used.get("cohort", "")
        if "period" in self.used:
            label = f"{label} · {self.used['period']}"
        yield {
            "selected": True,
            "query_string": changelist.get_query_string(remove=self.parameters),
            "display": label,
        }

    def queryset(self, request, queryset):
        from django.core.exceptions import ValidationError
        from django.db.models.expressions import RawSQL

        from apps.orders.models import Order

        cohort = self.used.get("cohort")
        if not cohort:
            return queryset
        period = self.used.get("period")
        try:
            kind, _sep, value = cohort.partition(":")
            k = int(period) if period not in (None, "") else None
            if k is not None and not 0 <= k < 36:
                raise ValueError
            if kind == "m":
                brand_text, _colon, month_text = value.partition(":")
                brand_id = int(brand_text)
                year, month = (int(x) for x in month_text.split("-"))
                if not 1 <= month <= 12:
                    raise ValueError
            elif kind == "s":
                stream_id = int(value)
            else:
                raise ValueError
        except ValueError:
            raise admin.options.IncorrectLookupParameters(
                ValidationError(
                    _(
                        "Not a cohort cell: use cohort=m:<brand id>:YYYY-MM or cohort=s:<stream id>, period=0-35."
                    )
                )
            ) from None
        orders = Order._meta.db_table
        if kind == "m":
            # the brand's time zone is joined per customer row (staff of several brands see several zones)
            # the brand's own time zone: a month is a month where the brand sells
            first_month = RawSQL(
                f"""SELECT o.customer_id FROM {orders} o JOIN brands_brand b ON b.id = o.brand_id
                    WHERE o.brand_id = %s AND o.status = 'paid' GROUP BY o.customer_id, b.timezone
                    HAVING date_trunc('month', MIN(o.placed_at AT TIME ZONE b.timezone)) = make_date(%s, %s, 1)""",
                [brand_id, year, month],
            )
            queryset = queryset.filter(brand_id=brand_id, pk__in=first_month)
            if k is not None:
                active = RawSQL(
                    f"""SELECT o.customer_id FROM {orders} o JOIN brands_brand b ON b.id = o.brand_id
                        WHERE o.brand_id = %s AND o.status = 'paid'
                          AND date_trunc('month', o.placed_at AT TIME ZONE b.timezone)
                              = make_date(%s, %s, 1) + make_interval(months => %s)""",
                    [brand_id, year, month, k],
                )
                queryset = queryset.filter(pk__in=active)
            return queryset
        queryset = queryset.filter(acquisition_stream_id=stream_id)
        if k is not None:
            active = RawSQL(
                f"""SELECT o.customer_id FROM {orders} o JOIN streams_stream s ON s.id = %s
                    WHERE o.brand_id = s.brand_id AND o.status = 'paid'
                      AND o.placed_at >= s.started_at + make_interval(days => 30 * %s)
                      AND o.placed_at < s.started_at + make_interval(days => 30 * %s + 30)""",
                [stream_id, k, k],
            )
            queryset = queryset.filter(pk__in=active)
        return queryset
