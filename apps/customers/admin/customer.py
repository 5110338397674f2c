"""Customers in the admin. The raw phone and name are personal data: shown only with
customers.view_customer_pii.

The list shows each customer's published score (stage, tier, churn risk, CLV) joined in the same SQL query as
the customers, and filters on it (filters.py); the customer 360 page (customer_360.py); bulk benefit grants
(bulk_grants.py).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, Subquery
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import Stage
from apps.brands.models import Brand
from apps.core import charts
from apps.core.admin import BrandScopedAdmin
from apps.core.scoping import brand_ids_for_user, user_may
from apps.customers.admin.bulk_grants import BulkGrantActions
from apps.customers.admin.customer_360 import PII_PERMISSION, customer_360_context, may_see_pii
from apps.customers.admin.filters import (
    AcquisitionPlatformFilter,
    AtRiskFilter,
    ChurnRiskFilter,
    ClvBandFilter,
    CohortCellFilter,
    CommunityFilter,
    RfmSegmentFilter,
    StageFilter,
    TierFilter,
    large_list_facet_counts,
    with_published_score,
)
from apps.customers.models import Customer
from apps.customers.services import customer_erase

ERASE_BATCH_MAX = 1000  # customers erased by one admin action
ERASE_SAMPLE = 20  # selected customers named on the confirmation page


@admin.register(Customer)
class CustomerAdmin(BulkGrantActions, BrandScopedAdmin):
    # unscored customers (no score yet) sort last whichever way these columns are sorted
    nulls_last_ordering = ("score_stage", "score_tier_name", "score_churn", "score_clv")
    list_display = (
        "customer_360_link",
        "stage",
        "tier",
        "churn_risk",
        "clv",
        "region",
        "acquisition_channel",
        "first_seen_at",
    )
    list_filter = (
        "brand",
        StageFilter,
        TierFilter,
        RfmSegmentFilter,
        ChurnRiskFilter,
        AtRiskFilter,
        ClvBandFilter,
        CommunityFilter,
        AcquisitionPlatformFilter,
        CohortCellFilter,
        "acquisition_channel",
        "gender",
        "age_band",
        "marketing_consent",
        "automated_decisions_opt_out",
        "first_seen_at",
    )
    # the 360 page is the row's main link; the record's form is one click further ("Edit customer")
    list_display_links = None
    search_fields = ("external_id", "display_name", "city", "province")
    list_select_related = ()
    # The unique (brand, external_id) index serves this order; Meta's "brand" would join and sort by name.
    ordering = ("brand_id", "external_id")
    autocomplete_fields = ("acquisition_stream",)
    # Counting a million rows twice per page is wasteful; one count for the filtered list is enough.
    show_full_result_count = False
    readonly_fields = (
        "phone_masked",
        "email_masked",
        "display_name_masked",
        "created_at",
        "updated_at",
        "erased_at",
    )
    actions = ("export_csv", "export_xlsx", "erase_personal_data", "grant_benefit", "revoke_open_grants")
    fieldsets = (
        (None, {"fields": ("brand", "external_id", "display_name", "phone", "email")}),
        (_("Profile"), {"fields": ("gender", "birth_year", "age_band", "province", "city")}),
        (_("Acquisition"), {"fields": ("acquisition_channel", "acquisition_stream", "first_seen_at")}),
        (
            _("Consent and touches"),
            {"fields": ("marketing_consent", "automated_decisions_opt_out", "preferred_touch_channel")},
        ),
        (_("Record"), {"fields": ("created_at", "updated_at", "erased_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request):
        return with_published_score(super().get_queryset(request), brand_ids_for_user(request.user)).annotate(
            # for the CLV column: a subquery rather than a join, so only the page's rows look it up (and the
            # list's count leaves it out)
            brand_currency=Subquery(
                Brand.objects.filter(pk=OuterRef("brand_id")).order_by().values("currency")[:1]
            )
        )

    def large_list_facet_counts(self, request, *, specs, unfiltered):
        """The whole list's counts come cheaply (filters.large_list_facet_counts); a filtered long list's do not."""
        return large_list_facet_counts(request, specs) if unfiltered else {}

    def get_list_filter(self, request):
        """The brand filter only for staff of several brands (one brand: nothing to choose, no query)."""
        filters = super().get_list_filter(request)
        if self.shows_brand_column(request):
            return filters
        return [f for f in filters if not (isinstance(f, tuple) and f[0] == "brand") and f != "brand"]

    @admin.action(description=_("Export to CSV (opens in Excel and WPS)"))
    def export_csv(self, request, queryset):
        """The selected customers (or every one the filters select, with "select all") as CSV: exports.py."""
        return self._export(request, queryset, "csv")

    @admin.action(description=_("Export to Excel (.xlsx)"))
    def export_xlsx(self, request, queryset):
        """The selected customers (or every one the filters select, with "select all") as an Excel workbook."""
        return self._export(request, queryset, "xlsx")

    def _export(self, request, queryset, fmt):
        """Names and phones masked unless the role may see personal data in the row's brand, formula-like cells
        quoted, audited; a whole filtered list ("select all") of more than 5,000 customers is written in the
        background (apps/customers/admin/exports.py)."""
        from apps.customers.admin.exports import export_start

        whole_list = request.POST.get("select_across") in ("1", "True")
        return export_start(self, request, queryset, fmt, whole_list=whole_list)

    @admin.action(description=_("Erase personal data"), permissions=["change"])
    def erase_personal_data(self, request, queryset):
        """Erase the selected customers' personal data (customers.services.customer_erase); orders stay.
        Every selected customer must be of a brand where the user may change customers (managers). Asks first,
        on a page that says how many customers and that it cannot be undone (as Django's delete does); at most
        ERASE_BATCH_MAX customers at a time."""
        selected = list(queryset.order_by().values_list("pk", "brand_id")[: ERASE_BATCH_MAX + 1])
        if len(selected) > ERASE_BATCH_MAX:
            self.message_user(
                request,
                gettext("Choose at most %(max)d customers at a time to erase.") % {"max": ERASE_BATCH_MAX},
                messages.ERROR,
            )
            return None
        if any(not self.user_may_in_brand(request, "change", brand_id) for _pk, brand_id in selected):
            raise PermissionDenied
        if request.POST.get("post") != "yes":
            return self._erase_confirmation(request, sorted(pk for pk, _brand in selected))
        from apps.brands.models import Brand

        brands = Brand.objects.in_bulk({brand_id for _pk, brand_id in selected})
        erased = 0
        for pk, brand_id in selected:
            customer, erased_now = customer_erase(brand=brands[brand_id], customer_id=pk, actor=request.user)
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
        return None

    def _erase_confirmation(self, request, ids):
        from django.contrib.admin import helpers

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Erase personal data"),
            "ids": ids,
            "count": len(ids),
            "sample": list(
                Customer.objects.filter(pk__in=ids[:ERASE_SAMPLE])
                .order_by("external_id")
                .values_list("external_id", flat=True)
            ),
            "more": max(len(ids) - ERASE_SAMPLE, 0),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/customers/customer/erase_confirmation.html", context)

    # --- list columns ---------------------------------------------------------------------------------------

    @admin.display(description=_("region"), ordering="province")
    def region(self, obj):
        return " / ".join(part for part in (obj.province, obj.city) if part) or "—"

    @admin.display(description=_("lifecycle stage"), ordering="score_stage")
    def stage(self, obj):
        return Stage(obj.score_stage).label if obj.score_stage else "—"

    @admin.display(description=_("tier"), ordering="score_tier_name")
    def tier(self, obj):
        return gettext(obj.score_tier_name) if obj.score_tier_name else "—"

    @admin.display(description=_("churn risk"), ordering="score_churn")
    def churn_risk(self, obj):
        return charts.percent(obj.score_churn) if obj.score_churn is not None else "—"

    @admin.display(description=_("CLV"), ordering="score_clv")
    def clv(self, obj):
        if obj.score_clv is None:
            return "—"
        currency = getattr(obj, "brand_currency", "")
        return f"{obj.score_clv:,.2f} {currency}".rstrip()

    @admin.display(description=_("customer 360"))
    def view_360(self, obj):
        url = reverse("admin:customers_customer_360", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("View"))

    @admin.display(description=_("phone"))
    def phone_masked(self, obj):
        return obj.masked_phone or "—"

    @admin.display(description=_("e-mail"))
    def email_masked(self, obj):
        return obj.masked_email or "—"

    @admin.display(description=_("customer"), ordering="external_id")
    def customer_360_link(self, obj):
        url = reverse("admin:customers_customer_360", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.external_id)

    def _may_see_personal_data(self, request) -> bool:
        ids = brand_ids_for_user(request.user)
        return ids is None or all(user_may(request.user, brand_id, PII_PERMISSION) for brand_id in ids)

    def get_search_fields(self, request):
        """By name only for staff who may see names (personal data) in every brand they belong to."""
        if self._may_see_personal_data(request):
            return self.search_fields
        return tuple(field for field in self.search_fields if field != "display_name")

    def get_search_results(self, request, queryset, search_term):
        """Also a phone number, matched exactly (spaces, dashes and a +86 prefix ignored), for staff who may
        see phones: searched on the stored phone, never copied anywhere else."""
        results, distinct = super().get_search_results(request, queryset, search_term)
        digits = "".join(ch for ch in search_term if ch.isdigit())
        if digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        compact = search_term.replace(" ", "").replace("-", "").lstrip("+")
        looks_like_phone = len(digits) >= 7 and len(compact) <= len(digits) + 2
        if looks_like_phone and self._may_see_personal_data(request):
            # one OR of the text search and the phone, each answered by its index (trigram; brand and phone)
            results = queryset.filter(self._text_search(request, search_term) | Q(phone=digits))
        return results, distinct

    def _text_search(self, request, search_term) -> Q:
        """The condition Django's search applies: every word in one of the search fields (any case)."""
        from django.utils.text import smart_split, unescape_string_literal

        fields = self.get_search_fields(request)
        words = []
        for word in smart_split(search_term):
            if word.startswith(('"', "'")) and word[0] == word[-1]:
                word = unescape_string_literal(word)
            words.append(Q.create([(f"{field}__icontains", word) for field in fields], connector=Q.OR))
        return Q.create(words)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        changelist.search_help_text = (
            _("Search by customer id, nickname, city or province, or an exact phone number.")
            if self._may_see_personal_data(request)
            else _("Search by customer id, city or province.")
        )
        return changelist

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
        list_display.insert(list_display.index("customer_360_link") + 1, phone)
        return list_display

    def get_fieldsets(self, request, obj=None):
        """Without the permission the raw phone and e-mail are neither form fields nor read-only values."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or may_see_pii(request, obj):
            return fieldsets
        masked = []
        for name, options in fieldsets:
            swap = {"phone": "phone_masked", "email": "email_masked", "display_name": "display_name_masked"}
            fields = tuple(swap.get(field, field) for field in options["fields"])
            masked.append((name, {**options, "fields": fields}))
        return masked

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not may_see_pii(request, obj):
            fields += [f for f in ("phone", "email", "display_name") if f not in fields]
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
