"""The customer list's filters: on the published score (stage, tier, RFM segment, churn-risk band, CLV band
by the percentile stored at publish), on community membership and on the acquisition platform.

Facet counts ("Show counts") are conditional counts in one query (never a subquery per choice). On a list too
long to count on each request (apps.core.admin.FACET_LIVE_UP_TO), the whole list's counts still show: those of
the score filters from the published runs' scores, counted once per run (a published run's scores do not change)
and cached; those of the customer's own columns in one pass over the customers, without the scores, and the
community counts from the memberships, cached for minutes (counted afresh when a customer is added)."""

from django.contrib import admin
from django.core.cache import cache
from django.db.models import Count, Exists, Max, OuterRef, Q, Value
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.analytics import selectors
from apps.analytics.models import CustomerScore, ModelRun, Stage
from apps.analytics.selectors import published_score_column as score
from apps.communities.models import Community, CommunityMembership
from apps.core.admin import facet_counts_in_one_query, facet_signature, scope_queryset, without_jit
from apps.core.scoping import brand_ids_for_user
from apps.customers.models import Customer
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


# The published score's columns the filters test, and their score_* annotation on the customer list.
SCORE_ANNOTATIONS = {
    "stage": "score_stage",
    "tier_id": "score_tier_id",
    "rfm_segment": "score_rfm_segment",
    "churn_probability": "score_churn",
    "clv_percentile": "score_clv_percentile",
    "value_percentile": "score_value_percentile",
}


def _on_customers(column: str) -> str:
    return SCORE_ANNOTATIONS[column]


def _on_scores(column: str) -> str:
    return column


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
    """Filters on the published score; "not scored yet" lists customers without one. Each choice is one
    condition on the score's columns (`condition`), tested on the list's score_* annotations or, for the
    counts of a long list, on the scores themselves."""

    def lookups(self, request, model_admin):
        return [*self.choices_for(request), (NOT_SCORED, _("Not scored yet"))]

    def choices_for(self, request):
        return self.fixed_choices()

    @classmethod
    def fixed_choices(cls):
        """The choices (those of every brand alike; the tier filter's are the user's brands' tiers)."""
        raise NotImplementedError

    @classmethod
    def condition(cls, value: str, column) -> Q | None:
        """The condition of one choice on the score's columns (`column` names them where tested); None when
        the value is not a choice (nothing matches)."""
        raise NotImplementedError

    def unscored_condition(self) -> Q:
        """Customers the NOT_SCORED choice lists, on the list's annotations."""
        return Q(score_stage__isnull=True)  # every score has a stage

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == NOT_SCORED:
            return queryset.filter(self.unscored_condition())
        condition = self.condition(value, _on_customers)
        return queryset.none() if condition is None else queryset.filter(condition)

    def get_facet_counts(self, pk_attname, filtered_qs):
        counts = {}
        for i, (value, _label) in enumerate(self.lookup_choices):
            if value == NOT_SCORED:
                condition = self.unscored_condition()
            else:
                condition = self.condition(str(value), _on_customers)
            if condition is not None:
                counts[f"{i}__c"] = Count(pk_attname, filter=condition)
        return counts

    def counts_from_scores(self, scores: dict, customers: int) -> dict:
        """Facet counts of the whole list from published_score_counts (`customers`: the list's customers)."""
        counts = {}
        for i, (value, _label) in enumerate(self.lookup_choices):
            if value == NOT_SCORED:
                counts[f"{i}__c"] = customers - scores.get(self.unscored_complement, 0)
            elif (key := f"{self.parameter_name}={value}") in scores:
                counts[f"{i}__c"] = scores[key]
            else:
                counts[f"{i}__c"] = 0
        return counts

    unscored_complement = "scored"  # the key of published_score_counts that NOT_SCORED is the rest of


class StageFilter(_ScoreFilter):
    title = _("lifecycle stage")
    parameter_name = "stage"

    @classmethod
    def fixed_choices(cls):
        return Stage.choices

    @classmethod
    def condition(cls, value, column):
        return Q(**{column("stage"): value}) if value in Stage.values else None


class TierFilter(_ScoreFilter):
    title = _("tier")
    parameter_name = "tier"
    unscored_complement = "tiered"

    def choices_for(self, request):
        return _catalog(request)["tier"]

    def lookups(self, request, model_admin):
        return [*self.choices_for(request), (NOT_SCORED, _("No tier"))]

    def unscored_condition(self):
        return Q(score_tier_id__isnull=True)

    @classmethod
    def condition(cls, value, column):
        return Q(**{column("tier_id"): int(value)}) if value.isdigit() else None


class RfmSegmentFilter(_ScoreFilter):
    title = _("RFM segment")
    parameter_name = "rfm"

    @classmethod
    def fixed_choices(cls):
        return list(RFM_SEGMENT_LABELS.items())

    @classmethod
    def condition(cls, value, column):
        return Q(**{column("rfm_segment"): value})


def _band(column: str, low, high) -> Q:
    bounds = {}
    if low is not None:
        bounds[f"{column}__gte"] = low
    if high is not None:
        bounds[f"{column}__lt"] = high
    return Q(**bounds)


class ChurnRiskFilter(_ScoreFilter):
    title = _("churn risk")
    parameter_name = "churn_risk"

    @classmethod
    def fixed_choices(cls):
        return [(key, label) for key, (label, _low, _high) in CHURN_BANDS.items()]

    @classmethod
    def condition(cls, value, column):
        if value not in CHURN_BANDS:
            return None
        _label, low, high = CHURN_BANDS[value]
        return _band(column("churn_probability"), low, high)


class AtRiskFilter(_ScoreFilter):
    """The at-risk high-value customers of the dashboard (the one at-risk rule: analytics.selectors)."""

    title = _("at risk")
    parameter_name = "at_risk"

    @classmethod
    def fixed_choices(cls):
        return [("yes", _("At-risk high-value customers"))]

    @classmethod
    def condition(cls, value, column):
        if value != "yes":
            return None
        return Q(
            **{
                f"{column('value_percentile')}__gte": selectors.AT_RISK_MIN_VALUE_PERCENTILE,
                f"{column('churn_probability')}__gte": selectors.AT_RISK_MIN_CHURN,
            }
        )


class ClvBandFilter(_ScoreFilter):
    title = _("CLV band")
    parameter_name = "clv_band"

    @classmethod
    def fixed_choices(cls):
        return [(key, label) for key, (label, _low, _high) in CLV_BANDS.items()]

    @classmethod
    def condition(cls, value, column):
        if value not in CLV_BANDS:
            return None
        _label, low, high = CLV_BANDS[value]
        return _band(column("clv_percentile"), low, high)


SCORE_FILTERS = (StageFilter, TierFilter, RfmSegmentFilter, ChurnRiskFilter, AtRiskFilter, ClvBandFilter)


def _fixed_score_conditions() -> dict[str, Q]:
    """`parameter=value` -> condition on the scores, for every choice of the score filters but the tiers
    (counted by tier id)."""
    conditions = {}
    for filter_class in SCORE_FILTERS:
        if filter_class is TierFilter:
            continue
        for value, _label in filter_class.fixed_choices():
            condition = filter_class.condition(str(value), _on_scores)
            if condition is not None:
                conditions[f"{filter_class.parameter_name}={value}"] = condition
    return conditions


def run_score_counts(run_id: int, brand_id: int) -> dict[str, int]:
    """How many of one run's scores fall in each choice of the score filters (`parameter=value`), with
    "scored" (all) and "tiered" (with a tier): one pass over the run's scores, cached by run (the scores of a
    published or superseded run do not change)."""
    key = f"clv:customer-list:score-facets:v1:{run_id}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    conditions = _fixed_score_conditions()
    with without_jit():
        rows = list(
            CustomerScore.objects.filter(brand_id=brand_id, run_id=run_id)
            .order_by()
            .values("tier_id")
            .annotate(
                scored=Count("pk"),
                **{f"c{i}": Count("pk", filter=q) for i, q in enumerate(conditions.values())},
            )
        )
    counts = dict.fromkeys(["scored", "tiered", *conditions], 0)
    for row in rows:
        counts["scored"] += row["scored"]
        if row["tier_id"] is not None:
            counts["tiered"] += row["scored"]
            counts[f"tier={row['tier_id']}"] = row["scored"]
        for i, name in enumerate(conditions):
            counts[name] += row[f"c{i}"]
    cache.set(key, counts, 24 * 3600)
    return counts


def published_score_counts(brand_ids: list[int] | None) -> dict[str, int]:
    """run_score_counts summed over the published runs of these brands (None: every brand)."""
    runs = ModelRun.objects.published()
    if brand_ids is not None:
        runs = runs.filter(brand_id__in=brand_ids)
    total: dict[str, int] = {}
    for run_id, brand_id in runs.values_list("pk", "brand_id"):
        for name, value in run_score_counts(run_id, brand_id).items():
            total[name] = total.get(name, 0) + value
    return total


CUSTOMER_COUNTS_SECONDS = 600  # the customer's own columns are counted again after this, or on a new customer


def large_list_facet_counts(request, specs) -> dict:
    """The facet counts of the whole customer list (no filter, no search) when it is too long to count on
    each request: the score filters from published_score_counts (per published run, cached); the customer's
    own columns in one pass over the customers without the scores and the communities from the memberships,
    cached for CUSTOMER_COUNTS_SECONDS and counted again as soon as a customer is added."""
    ids = brand_ids_for_user(request.user)
    customers = scope_queryset(Customer.objects.all(), request.user)
    plain = [s for s in specs if not isinstance(s, _ScoreFilter)]
    newest = customers.aggregate(newest=Max("pk"))["newest"]
    key = (
        f"clv:customer-list:facets:v1:{'all' if ids is None else ','.join(map(str, sorted(ids)))}:{newest}:"
        f"{facet_signature(plain)}"
    )
    cached = cache.get(key)
    if cached is None:
        with without_jit():
            by_spec = facet_counts_in_one_query(
                customers,
                [s for s in plain if not isinstance(s, CommunityFilter)],
                extra={"customers": Count("pk")},
            )
            members = {}
            if any(isinstance(s, CommunityFilter) for s in plain):
                members = dict(
                    scope_queryset(CommunityMembership.objects.all(), request.user)
                    .filter(left_at__isnull=True)
                    .order_by()
                    .values("community_id")
                    .annotate(n=Count("customer_id", distinct=True))
                    .values_list("community_id", "n")
                )
        for spec in plain:
            if isinstance(spec, CommunityFilter):
                by_spec[spec] = {
                    f"{i}__c": members.get(int(value), 0)
                    for i, (value, _label) in enumerate(spec.lookup_choices)
                }
        cached = {"customers": by_spec[None]["customers"], "specs": [by_spec[spec] for spec in plain]}
        cache.set(key, cached, CUSTOMER_COUNTS_SECONDS)
    counts = dict(zip(plain, cached["specs"], strict=True))
    score_specs = [s for s in specs if isinstance(s, _ScoreFilter)]
    if score_specs:
        scores = published_score_counts(ids)
        for spec in score_specs:
            counts[spec] = spec.counts_from_scores(scores, cached["customers"])
    return counts


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
        return queryset.filter(self.condition(int(value)))

    @staticmethod
    def condition(community_id: int) -> Exists:
        return Exists(
            CommunityMembership.objects.filter(
                brand_id=OuterRef("brand_id"),
                customer_id=OuterRef("pk"),
                community_id=community_id,
                left_at__isnull=True,
            )
        )

    def get_facet_counts(self, pk_attname, filtered_qs):
        return {
            f"{i}__c": Count(pk_attname, filter=Q(self.condition(int(value))))
            for i, (value, _label) in enumerate(self.lookup_choices)
        }

    def count_facets(self, queryset, pk_attname) -> dict:
        """Every community's current members among the list's customers in one query over the memberships
        (a conditional count would test each customer against each community)."""
        communities = [int(value) for value, _label in self.lookup_choices]
        members = dict(
            CommunityMembership.objects.filter(
                community_id__in=communities,
                left_at__isnull=True,
                customer_id__in=queryset.order_by().values(pk_attname),
            )
            .order_by()
            .values("community_id")
            .annotate(n=Count("customer_id", distinct=True))
            .values_list("community_id", "n")
        )
        return {f"{i}__c": members.get(community, 0) for i, community in enumerate(communities)}


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
        return queryset.filter(self.condition(value))

    @staticmethod
    def condition(value) -> Q:
        if value == NOT_SCORED:
            return Q(acquisition_stream__isnull=True)
        return Q(acquisition_stream__platform=value)

    def get_facet_counts(self, pk_attname, filtered_qs):
        return {
            f"{i}__c": Count(pk_attname, filter=self.condition(value))
            for i, (value, _label) in enumerate(self.lookup_choices)
        }


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
