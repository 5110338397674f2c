"""Customers in the admin. The raw phone is personal data: shown only with customers.view_customer_pii."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin import BrandScopedAdmin
from apps.core.scoping import user_may
from apps.customers.models import Customer
from apps.customers.services import customer_erase

PII_PERMISSION = "customers.view_customer_pii"


def may_see_pii(request, customer) -> bool:
    """The user's role in the customer's brand grants the raw phone (superusers: always)."""
    return user_may(request.user, customer.brand_id, PII_PERMISSION)


@admin.register(Customer)
class CustomerAdmin(BrandScopedAdmin):
    list_display = (
        "external_id",
        "gender",
        "age_band",
        "region",
        "acquisition_channel",
        "first_seen_at",
        "marketing_consent",
    )
    list_filter = (
        "brand",
        "gender",
        "age_band",
        "acquisition_channel",
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
    readonly_fields = ("phone_masked", "created_at", "updated_at", "erased_at")
    actions = ("erase_personal_data",)
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

    @admin.display(description=_("region"), ordering="province")
    def region(self, obj):
        return " / ".join(part for part in (obj.province, obj.city) if part) or "—"

    @admin.display(description=_("phone"))
    def phone_masked(self, obj):
        return obj.masked_phone or "—"

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
            fields = tuple("phone_masked" if field == "phone" else field for field in options["fields"])
            masked.append((name, {**options, "fields": fields}))
        return masked

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not may_see_pii(request, obj) and "phone" not in fields:
            fields.append("phone")
        return fields
