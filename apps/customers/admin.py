"""Customers in the admin. The raw phone is personal data: shown only with customers.view_customer_pii.

The list shows each customer's published score (stage, tier, churn risk, CLV) joined in the same SQL query as
the customers, and filters on it; the customer 360 page (<id>/360/) gathers one customer's profile, activity,
benefits, stage and tier history, score history and survival curve. Managers grant a benefit to, or revoke the
open grants of, the selected customers in bulk (the loyalty services the API calls), after a confirmation page
offering the brand's benefits only.
"""

from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, F, FilteredRelation, OuterRef, Q, Sum, Value, Window
from django.db.models.functions import Rank
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.analytics.models import CustomerScore, RunStatus, Stage, StageChange
from apps.analytics.selectors import published_run_condition
from apps.communities.models import Community, CommunityMembership
from apps.core import charts
from apps.core.admin import BrandScopedAdmin, scope_queryset
from apps.core.scoping import brand_ids_for_user, user_may
from apps.customers.models import Customer
from apps.customers.services import customer_erase
from apps.loyalty import services as loyalty_services
from apps.loyalty.models import RFM_SEGMENT_LABELS, Benefit, BenefitGrant, GrantSource, Tier, TierChange
from apps.orders.models import Order, OrderStatus
from apps.streams.models import Platform, StreamView

PII_PERMISSION = "customers.view_customer_pii"
PUBLISHED_SCORE = "published_score"
HISTORY_ROWS = 50  # rows per section of the 360 page; the section links to the full list

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


def may_see_pii(request, customer) -> bool:
    """The user's role in the customer's brand grants the raw phone (superusers: always)."""
    return user_may(request.user, customer.brand_id, PII_PERMISSION)


def with_published_score(queryset, brand_ids=None):
    """Customers with their published score's columns as score_* annotations: one LEFT JOIN (at most one
    score per customer: one published run per brand, one score per customer and run), plus one for the tier.
    For staff of one brand the join reads that brand's published run once (selectors.published_run_sql),
    so sorting the list by a score can use the scores' indexes."""
    condition = Q(scores__brand_id=F("brand_id"), **published_run_condition(brand_ids=brand_ids))
    return queryset.alias(**{PUBLISHED_SCORE: FilteredRelation("scores", condition=condition)}).annotate(
        score_stage=F(f"{PUBLISHED_SCORE}__stage"),
        score_tier_id=F(f"{PUBLISHED_SCORE}__tier_id"),
        score_tier_name=F(f"{PUBLISHED_SCORE}__tier__name"),
        score_rfm_segment=F(f"{PUBLISHED_SCORE}__rfm_segment"),
        score_churn=F(f"{PUBLISHED_SCORE}__churn_probability"),
        score_clv=F(f"{PUBLISHED_SCORE}__clv"),
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
        catalog[kind].append((str(pk), f"{name} ({brand_name})" if several else name))
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
            return queryset.filter(**{f"{PUBLISHED_SCORE}__id__isnull": True})
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


class ClvBandFilter(_ScoreFilter):
    title = _("CLV band")
    parameter_name = "clv_band"

    def choices_for(self, request):
        return [(key, label) for key, (label, _low, _high) in CLV_BANDS.items()]

    def filter_value(self, request, queryset, value):
        if value not in CLV_BANDS:
            return queryset.none()
        _label, low, high = CLV_BANDS[value]
        # percentile = share (%) of the brand's published scores with a strictly lower CLV
        ranked = (
            scope_queryset(CustomerScore.objects.all(), request.user)
            .filter(**published_run_condition(brand_ids=brand_ids_for_user(request.user), prefix=""))
            .annotate(
                percentile=(Window(Rank(), partition_by=F("brand_id"), order_by=F("clv").asc()) - 1)
                * 100.0
                / Window(Count("pk"), partition_by=F("brand_id"))
            )
        )
        if low is not None:
            ranked = ranked.filter(percentile__gte=low)
        if high is not None:
            ranked = ranked.filter(percentile__lt=high)
        return queryset.filter(pk__in=ranked.values("customer_id"))


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


GRANT_PERMISSION = "loyalty.add_benefitgrant"
REVOKE_PERMISSION = "loyalty.change_benefitgrant"
BULK_SAMPLE = 20  # selected customers named on the confirmation page
SKIP_REASONS = {
    loyalty_services.SKIP_QUOTA: _("already at their tier's quota of this benefit"),
    loyalty_services.SKIP_OPTED_OUT: _("opted out of automated decisions"),
}


class BulkGrantForm(forms.Form):
    """The benefit to grant, among the brand's active benefits only, and how the grant is recorded."""

    benefit = forms.ModelChoiceField(queryset=Benefit.objects.none(), label=_("benefit"))
    source = forms.ChoiceField(
        label=_("source"),
        choices=[(s.value, s.label) for s in loyalty_services.GRANTABLE_SOURCES],
        initial=GrantSource.MANUAL,
        help_text=_(
            "Manual: a staff decision, reaches every selected customer. Campaign: an automated decision, "
            "skips customers who opted out of automated decisions."
        ),
    )
    note = forms.CharField(label=_("note"), max_length=200, required=False)

    def __init__(self, *args, brand, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["benefit"]
        field.queryset = Benefit.objects.filter(brand=brand, is_active=True).order_by("kind", "code")
        field.label_from_instance = lambda benefit: f"{benefit.display_name} ({benefit.get_kind_display()})"


class BulkRevokeForm(forms.Form):
    """The benefit whose open grants are revoked, among the brand's benefits the selection holds."""

    benefit = forms.ModelChoiceField(queryset=Benefit.objects.none(), label=_("benefit"))

    def __init__(self, *args, brand, held: dict[int, int], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["benefit"]
        field.queryset = Benefit.objects.filter(brand=brand, pk__in=list(held)).order_by("kind", "code")
        field.label_from_instance = lambda benefit: (
            ngettext(
                "%(benefit)s (%(count)d open grant)", "%(benefit)s (%(count)d open grants)", held[benefit.pk]
            )
            % {"benefit": benefit.display_name, "count": held[benefit.pk]}
        )


@admin.register(Customer)
class CustomerAdmin(BrandScopedAdmin):
    list_display = (
        "external_id",
        "stage",
        "tier",
        "churn_risk",
        "clv",
        "region",
        "acquisition_channel",
        "first_seen_at",
        "view_360",
    )
    list_filter = (
        "brand",
        StageFilter,
        TierFilter,
        RfmSegmentFilter,
        ChurnRiskFilter,
        ClvBandFilter,
        CommunityFilter,
        AcquisitionPlatformFilter,
        "acquisition_channel",
        "gender",
        "age_band",
        "marketing_consent",
        "automated_decisions_opt_out",
        "first_seen_at",
    )
    search_fields = ("external_id", "display_name")
    list_select_related = ()
    # The unique (brand, external_id) index serves this order; Meta's "brand" would join and sort by name.
    ordering = ("brand_id", "external_id")
    autocomplete_fields = ("acquisition_stream",)
    # Counting a million rows twice per page is wasteful; one count for the filtered list is enough.
    show_full_result_count = False
    readonly_fields = ("phone_masked", "display_name_masked", "created_at", "updated_at", "erased_at")
    actions = ("erase_personal_data", "grant_benefit", "revoke_open_grants")
    fieldsets = (
        (None, {"fields": ("brand", "external_id", "display_name", "phone")}),
        (_("Profile"), {"fields": ("gender", "birth_year", "age_band", "province", "city")}),
        (_("Acquisition"), {"fields": ("acquisition_channel", "acquisition_stream", "first_seen_at")}),
        (
            _("Consent and touches"),
            {"fields": ("marketing_consent", "automated_decisions_opt_out", "preferred_touch_channel")},
        ),
        (_("Record"), {"fields": ("created_at", "updated_at", "erased_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request):
        return with_published_score(super().get_queryset(request), brand_ids_for_user(request.user))

    def get_list_filter(self, request):
        """The brand filter only for staff of several brands (one brand: nothing to choose, no query)."""
        filters = super().get_list_filter(request)
        if self.shows_brand_column(request):
            return filters
        return [f for f in filters if not (isinstance(f, tuple) and f[0] == "brand") and f != "brand"]

    @admin.action(description=_("Erase personal data"), permissions=["change"])
    def erase_personal_data(self, request, queryset):
        """Erase the selected customers' personal data (customers.services.customer_erase); orders stay.
        Every selected customer must be of a brand where the user may change customers (managers)."""
        selected = list(queryset.values_list("pk", "brand_id"))
        if any(not self.user_may_in_brand(request, "change", brand_id) for _pk, brand_id in selected):
            raise PermissionDenied
        from apps.brands.models import Brand

        brands = Brand.objects.in_bulk({brand_id for _pk, brand_id in selected})
        erased = 0
        for pk, brand_id in selected:
            customer, erased_now = customer_erase(brand=brands[brand_id], customer_id=pk)
            if erased_now:
                erased += 1
                self.log_change(request, customer, [{"changed": {"fields": ["erased_at"]}}])
        self.message_user(
            request,
            ngettext(
                "Erased the personal data of %(count)d customer.",
                "Erased the personal data of %(count)d customers.",
                erased,
            )
            % {"count": erased},
            messages.SUCCESS,
        )

    # --- bulk benefit grants ---------------------------------------------------------------------------------

    def has_grant_permission(self, request):
        """The bulk grant actions are offered to those who may grant benefits in one of their brands (managers)."""
        ids = brand_ids_for_user(request.user)
        if ids is None:
            return True
        return any(user_may(request.user, brand_id, GRANT_PERMISSION) for brand_id in ids)

    def _grant_target(self, request, queryset, permission):
        """(brand, customer ids) of the selection, or None once the user has been told why not: the customers
        must be of one brand (benefits belong to a brand), at most GRANT_BATCH_MAX of them, and the user's role
        in that brand must allow `permission`."""
        from apps.brands.models import Brand

        limit = loyalty_services.GRANT_BATCH_MAX
        selected = list(queryset.order_by().values_list("pk", "brand_id")[: limit + 1])
        if len(selected) > limit:
            self.message_user(
                request,
                _("Choose at most %(max)d customers at a time for benefit grants.") % {"max": limit},
                messages.ERROR,
            )
            return None
        brand_ids = {brand_id for _pk, brand_id in selected}
        if len(brand_ids) != 1:
            self.message_user(
                request, _("Choose customers of one brand: benefits belong to a brand."), messages.ERROR
            )
            return None
        brand_id = brand_ids.pop()
        if not user_may(request.user, brand_id, permission):
            raise PermissionDenied
        return Brand.objects.get(pk=brand_id), sorted(pk for pk, _brand in selected)

    def _bulk_grant_page(self, request, *, action, title, brand, ids, form, intro):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "brand": brand,
            "ids": ids,
            "count": len(ids),
            "sample": list(
                Customer.objects.filter(brand=brand, pk__in=ids[:BULK_SAMPLE])
                .order_by("external_id")
                .values_list("external_id", flat=True)
            ),
            "more": max(len(ids) - BULK_SAMPLE, 0),
            "form": form,
            "intro": intro,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/customers/customer/bulk_grants.html", context)

    @admin.action(description=_("Grant a benefit"), permissions=["grant"])
    def grant_benefit(self, request, queryset):
        """Grant one of the brand's active benefits to the selected customers (loyalty.services.benefit_grant,
        as the grantBenefit mutation): customers at their tier's quota of it, and for a campaign grant those
        who opted out of automated decisions, are skipped and counted with the reason."""
        target = self._grant_target(request, queryset, GRANT_PERMISSION)
        if target is None:
            return None
        brand, ids = target
        form = BulkGrantForm(request.POST if "apply" in request.POST else None, brand=brand)
        if form.is_bound and form.is_valid():
            benefit = form.cleaned_data["benefit"]
            try:
                result = loyalty_services.benefit_grant(
                    brand=brand,
                    benefit=benefit,
                    customer_ids=ids,
                    source=form.cleaned_data["source"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return None
            granted = len(result.grants)
            self.message_user(
                request,
                ngettext(
                    "Granted %(benefit)s to %(count)d customer.",
                    "Granted %(benefit)s to %(count)d customers.",
                    granted,
                )
                % {"benefit": benefit.display_name, "count": granted},
                messages.SUCCESS if granted else messages.INFO,
            )
            if result.skipped:
                reasons = Counter(skip["code"] for skip in result.skipped)
                self.message_user(
                    request,
                    ngettext(
                        "Skipped %(count)d customer: %(reasons)s.",
                        "Skipped %(count)d customers: %(reasons)s.",
                        len(result.skipped),
                    )
                    % {
                        "count": len(result.skipped),
                        "reasons": "; ".join(
                            f"{SKIP_REASONS.get(code, code)} ({n})" for code, n in sorted(reasons.items())
                        ),
                    },
                    messages.WARNING,
                )
            return None
        return self._bulk_grant_page(
            request,
            action="grant_benefit",
            title=_("Grant a benefit"),
            brand=brand,
            ids=ids,
            form=form,
            intro=_(
                "Each selected customer gets one grant of the benefit, valid from now for the benefit's validity. "
                "Customers who already hold their tier's quota of it are skipped; a campaign grant also skips "
                "customers who opted out of automated decisions."
            ),
        )

    @admin.action(description=_("Revoke open grants"), permissions=["grant"])
    def revoke_open_grants(self, request, queryset):
        """Revoke the selected customers' open grants (unredeemed, unrevoked, unexpired) of one benefit of the
        brand (loyalty.services.benefit_grant_revoke, as the revokeBenefitGrant mutation)."""
        target = self._grant_target(request, queryset, REVOKE_PERMISSION)
        if target is None:
            return None
        brand, ids = target
        now = timezone.now()
        open_grants = BenefitGrant.objects.filter(brand=brand, customer_id__in=ids).open(at=now)
        held = dict(open_grants.order_by().values_list("benefit_id").annotate(n=Count("pk")))
        if not held:
            self.message_user(request, _("The selected customers hold no open grant."), messages.INFO)
            return None
        form = BulkRevokeForm(request.POST if "apply" in request.POST else None, brand=brand, held=held)
        if form.is_bound and form.is_valid():
            benefit = form.cleaned_data["benefit"]
            revoked, customers, failed = 0, set(), Counter()
            for grant in open_grants.filter(benefit=benefit).order_by("pk"):
                try:
                    loyalty_services.benefit_grant_revoke(grant=grant, when=now, actor=request.user)
                except ValidationError as exc:  # redeemed or revoked since the page was shown
                    failed[" ".join(exc.messages)] += 1
                    continue
                revoked += 1
                customers.add(grant.customer_id)
            self.message_user(
                request,
                ngettext(
                    "Revoked %(count)d open grant of %(benefit)s (%(customers)d customers).",
                    "Revoked %(count)d open grants of %(benefit)s (%(customers)d customers).",
                    revoked,
                )
                % {"count": revoked, "benefit": benefit.display_name, "customers": len(customers)},
                messages.SUCCESS if revoked else messages.INFO,
            )
            if failed:
                self.message_user(
                    request,
                    _("Skipped %(count)d grant(s): %(reasons)s")
                    % {
                        "count": sum(failed.values()),
                        "reasons": "; ".join(f"{reason} ({n})" for reason, n in sorted(failed.items())),
                    },
                    messages.WARNING,
                )
            return None
        return self._bulk_grant_page(
            request,
            action="revoke_open_grants",
            title=_("Revoke open grants"),
            brand=brand,
            ids=ids,
            form=form,
            intro=_(
                "The selected customers' open grants of the benefit (not redeemed, revoked or expired) are "
                "revoked now. Redeemed grants stay as they are."
            ),
        )

    # --- list columns ---------------------------------------------------------------------------------------

    @admin.display(description=_("region"), ordering="province")
    def region(self, obj):
        return " / ".join(part for part in (obj.province, obj.city) if part) or "—"

    @admin.display(description=_("lifecycle stage"), ordering="score_stage")
    def stage(self, obj):
        return Stage(obj.score_stage).label if obj.score_stage else "—"

    @admin.display(description=_("tier"), ordering="score_tier_name")
    def tier(self, obj):
        return obj.score_tier_name or "—"

    @admin.display(description=_("churn risk"), ordering="score_churn")
    def churn_risk(self, obj):
        return charts.percent(obj.score_churn) if obj.score_churn is not None else "—"

    @admin.display(description=_("CLV"), ordering="score_clv")
    def clv(self, obj):
        return f"{obj.score_clv:,.2f}" if obj.score_clv is not None else "—"

    @admin.display(description=_("customer 360"))
    def view_360(self, obj):
        url = reverse("admin:customers_customer_360", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("View"))

    @admin.display(description=_("phone"))
    def phone_masked(self, obj):
        return obj.masked_phone or "—"

    def get_search_fields(self, request):
        """By name only for staff who may see names (personal data) in every brand they belong to."""
        ids = brand_ids_for_user(request.user)
        if ids is None or all(user_may(request.user, brand_id, PII_PERMISSION) for brand_id in ids):
            return self.search_fields
        return tuple(field for field in self.search_fields if field != "display_name")

    @admin.display(description=_("display name"))
    def display_name_masked(self, obj):
        return obj.masked_display_name or "—"

    def get_list_display(self, request):
        """The phone column is masked unless the user's role in the row's brand may see personal data."""

        @admin.display(description=_("phone"))
        def phone(obj):
            if not obj.phone:
                return "—"
            return obj.phone if may_see_pii(request, obj) else obj.masked_phone

        list_display = list(super().get_list_display(request))
        list_display.insert(list_display.index("external_id") + 1, phone)
        return list_display

    def get_fieldsets(self, request, obj=None):
        """Without the permission the raw phone is neither a form field nor a read-only value."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or may_see_pii(request, obj):
            return fieldsets
        masked = []
        for name, options in fieldsets:
            swap = {"phone": "phone_masked", "display_name": "display_name_masked"}
            fields = tuple(swap.get(field, field) for field in options["fields"])
            masked.append((name, {**options, "fields": fields}))
        return masked

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not may_see_pii(request, obj):
            fields += [f for f in ("phone", "display_name") if f not in fields]
        return fields

    # --- customer 360 ---------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view(self.customer_360_view)
        return [path("<path:object_id>/360/", view, name="customers_customer_360"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "customer_360_url": reverse("admin:customers_customer_360", args=[object_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def customer_360_view(self, request, object_id):
        """One customer on one page, read-only: viewers and up of the customer's brand; others get a 404."""
        customer = self.get_object(request, object_id)  # another brand's customer: Http404
        if not self.has_view_permission(request, customer):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Customer %(id)s") % {"id": customer.external_id},
            "subtitle": _("Customer 360"),
            "original": customer,
            "has_view_permission": True,
            "may_change": self.has_change_permission(request, customer),
            **customer_360_context(request, customer),
        }
        return TemplateResponse(request, "admin/customers/customer/customer_360.html", context)


def _changelist(model, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{reverse(f'admin:{model._meta.app_label}_{model._meta.model_name}_changelist')}?{query}"


def customer_360_context(request, customer) -> dict:
    """Everything the 360 page shows, each list the newest HISTORY_ROWS rows with its total and a link to
    the full admin list. Every query filters on the brand first (brand-leading indexes)."""
    brand_id = customer.brand_id
    own = {"brand_id": brand_id, "customer_id": customer.pk}
    now = timezone.now()

    pii = may_see_pii(request, customer)
    phone = "—"
    if customer.phone:
        phone = customer.phone if pii else customer.masked_phone
    display_name = (customer.display_name if pii else customer.masked_display_name) or "—"

    orders = Order.objects.filter(**own)
    order_totals = orders.filter(status=OrderStatus.PAID).aggregate(n=Count("pk"), total=Sum("total_amount"))
    views = StreamView.objects.filter(**own)
    grants = BenefitGrant.objects.filter(**own)
    scores = list(
        CustomerScore.objects.filter(**own)
        .select_related("run", "tier")
        .order_by("-run__as_of", "-run_id")[:HISTORY_ROWS]
    )
    published = next((s for s in scores if s.run.status == RunStatus.PUBLISHED), None)
    tier_names = dict(Tier.objects.filter(brand_id=brand_id).values_list("pk", "name"))

    return {
        "customer": customer,
        "phone": phone,
        "display_name": display_name,
        "pii_visible": may_see_pii(request, customer),
        "published": published,
        "survival_chart": survival_chart(published),
        "score_chart": score_history_chart(scores),
        "score_rows": [
            (
                s,
                charts.percent(s.p_purchase_horizon),
                charts.percent(s.churn_probability),
                RFM_SEGMENT_LABELS.get(s.rfm_segment, s.rfm_segment),
            )
            for s in scores
        ],
        "published_p": charts.percent(published.p_purchase_horizon) if published else None,
        "published_churn": charts.percent(published.churn_probability) if published else None,
        "rfm_label": RFM_SEGMENT_LABELS.get(published.rfm_segment, published.rfm_segment)
        if published
        else None,
        "orders": list(orders.select_related("stream").order_by("-placed_at", "-pk")[:HISTORY_ROWS]),
        "orders_count": orders.count(),
        "paid_orders_count": order_totals["n"],
        "paid_total": order_totals["total"],
        "orders_url": _changelist(Order, customer__id__exact=customer.pk),
        "views": list(views.select_related("stream").order_by("-joined_at", "-pk")[:HISTORY_ROWS]),
        "views_count": views.count(),
        "views_url": _changelist(StreamView, customer__id__exact=customer.pk),
        "memberships": list(
            CommunityMembership.objects.filter(**own)
            .select_related("community")
            .order_by("-joined_at", "-pk")[:HISTORY_ROWS]
        ),
        "grants": [
            (grant, grant.status_at(now).label)
            for grant in grants.select_related("benefit").order_by("-granted_at", "-pk")[:HISTORY_ROWS]
        ],
        "grants_count": grants.count(),
        "grants_url": _changelist(BenefitGrant, customer__id__exact=customer.pk),
        "stage_changes": list(
            StageChange.objects.filter(**own)
            .select_related("run")
            .order_by("-changed_on", "-pk")[:HISTORY_ROWS]
        ),
        "tier_changes": [
            (change, tier_names.get(change.from_tier_id, "—"), tier_names.get(change.to_tier_id, "—"))
            for change in TierChange.objects.filter(**own).order_by("-changed_at", "-pk")[:HISTORY_ROWS]
        ],
        "acquisition_stream": customer.acquisition_stream if customer.acquisition_stream_id else None,
        "history_rows": HISTORY_ROWS,
        "now": now,
    }


def survival_chart(score):
    """The published score's survival curve, P(no purchase yet) by day, with P(purchase within the horizon)
    marked at the horizon."""
    from apps.analytics.survival.scoring import GRID_DAYS

    title = _("Chance of no purchase yet, by days after the scores' as-of date")
    if score is None or not score.survival_curve:
        return charts.line_chart([], title=title, empty_message=_("No published score yet"))
    grid = [0.0, *(float(d) for d in GRID_DAYS)]
    curve = [1.0, *(float(v) for v in score.survival_curve)]
    points = list(zip(grid, curve, strict=False))
    horizon = score.run.horizon_days
    p = score.p_purchase_horizon
    label = _("P(purchase within %(days)d days) = %(p)s") % {"days": horizon, "p": charts.percent(p)}
    return charts.line_chart(
        [charts.Series(str(_("Survival curve")), points, dots=True)],
        title=title,
        x_label=_("days"),
        y_label=_("P(no purchase yet)"),
        x_range=(0, max(grid[-1], horizon)),
        y_range=(0.0, 1.0),
        y_format=charts.percent,
        marker=charts.Marker(horizon, 1.0 - p, label),
        description=label,
    )


def score_history_chart(scores):
    """P(purchase within the horizon) and churn probability across the runs that scored the customer."""
    ordered = sorted(scores, key=lambda s: (s.run.as_of, s.run_id))
    return charts.line_chart(
        [
            charts.Series(
                str(_("P(purchase within horizon)")), [(s.run.as_of, s.p_purchase_horizon) for s in ordered]
            ),
            charts.Series(str(_("churn probability")), [(s.run.as_of, s.churn_probability) for s in ordered]),
        ],
        title=_("Score history"),
        x_label=_("as of"),
        y_range=(0.0, 1.0),
        y_format=charts.percent,
        height=260,
    )
