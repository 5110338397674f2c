"""Value tiers, benefits (权益), the benefits each tier carries, and grants to customers."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.admin import BrandScopedAdmin, BrandScopedTabularInline
from apps.loyalty import services
from apps.loyalty.models import (
    RFM_SEGMENT_LABELS,
    Benefit,
    BenefitGrant,
    Tier,
    TierBenefit,
    TierChange,
    TierRule,
)


class TierBenefitInline(BrandScopedTabularInline):
    model = TierBenefit
    fields = ("benefit", "quota")
    autocomplete_fields = ("benefit",)
    extra = 0


class TierRuleForm(forms.ModelForm):
    rfm_segments = forms.MultipleChoiceField(
        label=_("RFM segments"),
        choices=list(RFM_SEGMENT_LABELS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only customers in one of these RFM segments. None selected means any segment."),
    )

    class Meta:
        model = TierRule
        fields = (
            "min_clv",
            "min_clv_percentile",
            "max_churn_probability",
            "min_rfm_score",
            "rfm_segments",
            "is_active",
        )


class TierRuleInline(BrandScopedTabularInline):
    """The tier's rule: every condition that is set must hold; tiers are checked by rank."""

    model = TierRule
    form = TierRuleForm
    fields = TierRuleForm.Meta.fields
    extra = 0
    max_num = 1
    can_delete = True
    verbose_name = _("rule")
    verbose_name_plural = _("rule: when a customer belongs to this tier")


@admin.register(Tier)
class TierAdmin(BrandScopedAdmin):
    list_display = ("rank", "display_name", "code", "is_active")
    list_display_links = ("display_name",)
    list_filter = ("brand", "is_active")
    search_fields = ("code", "name")
    list_select_related = ()
    ordering = ("brand_id", "rank")
    fields = ("brand", "code", "name", "rank", "description", "is_active")
    inlines = (TierBenefitInline, TierRuleInline)
    actions = ("archive_selected",)

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, obj):
        return obj.display_name

    def save_model(self, request, obj, form, change):
        # the services the API calls (the form has validated the same constraints)
        self.check_may_write(request, obj, "change" if change else "add")
        values = {name: getattr(obj, name) for name in services.TIER_FIELDS}
        if change:
            services.tier_update(tier=obj, **values)
            return
        tier = services.tier_create(brand=obj.brand, **values)
        obj.pk, obj.created_at, obj.updated_at = tier.pk, tier.created_at, tier.updated_at

    @admin.action(description=_("Archive selected tiers"))
    def archive_selected(self, request, queryset):
        tiers = list(queryset)
        for tier in tiers:
            self.check_may_write(request, tier, "change")
        for tier in tiers:
            services.tier_archive(tier=tier)
        self.message_user(request, _("Archived %(n)d tier(s).") % {"n": len(tiers)}, messages.SUCCESS)


@admin.register(Benefit)
class BenefitAdmin(BrandScopedAdmin):
    list_display = ("display_name", "code", "kind", "value", "validity_days", "is_active")
    list_editable = ("value", "validity_days", "is_active")
    list_filter = ("brand", "kind", "is_active")
    search_fields = ("code", "name")
    list_select_related = ()
    ordering = ("brand_id", "kind", "code")
    fields = ("brand", "code", "name", "kind", "value", "validity_days", "is_active", "description")
    actions = ("archive_selected",)

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, obj):
        return obj.display_name

    def save_model(self, request, obj, form, change):
        # the services the API calls (the form has validated the same constraints)
        self.check_may_write(request, obj, "change" if change else "add")
        values = {name: getattr(obj, name) for name in services.BENEFIT_FIELDS}
        if change:
            services.benefit_update(benefit=obj, **values)
            return
        benefit = services.benefit_create(brand=obj.brand, **values)
        obj.pk, obj.created_at, obj.updated_at = benefit.pk, benefit.created_at, benefit.updated_at

    @admin.action(description=_("Archive selected benefits"))
    def archive_selected(self, request, queryset):
        benefits = list(queryset)
        for benefit in benefits:
            self.check_may_write(request, benefit, "change")
        for benefit in benefits:
            services.benefit_archive(benefit=benefit)
        self.message_user(request, _("Archived %(n)d benefit(s).") % {"n": len(benefits)}, messages.SUCCESS)


class GrantStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (
            ("open", _("Open")),
            ("redeemed", _("Redeemed")),
            ("revoked", _("Revoked")),
            ("expired", _("Expired")),
        )

    def queryset(self, request, queryset):
        now = timezone.now()
        unused = Q(redeemed_at__isnull=True, revoked_at__isnull=True)
        if self.value() == "open":
            return queryset.filter(unused, expires_at__gte=now)
        if self.value() == "redeemed":
            return queryset.filter(redeemed_at__isnull=False)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(unused, expires_at__lt=now)
        return queryset


@admin.register(BenefitGrant)
class BenefitGrantAdmin(BrandScopedAdmin):
    list_display = ("benefit", "customer", "granted_at", "expires_at", "status", "source")
    list_filter = ("brand", GrantStatusFilter, "source", "benefit__kind", "benefit", "granted_at")
    search_fields = ("=customer__external_id", "benefit__code", "note")
    list_select_related = ("benefit", "customer")
    autocomplete_fields = ("customer", "benefit")
    date_hierarchy = "granted_at"
    ordering = ("-pk",)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("brand", "customer", "benefit", "source", "note")}),
        (_("Validity"), {"fields": ("granted_at", "expires_at", "redeemed_at", "revoked_at")}),
    )
    actions = ("revoke_selected",)

    @admin.action(description=_("Revoke selected grants"))
    def revoke_selected(self, request, queryset):
        grants = list(queryset)
        for grant in grants:
            self.check_may_write(request, grant, "change")
        revoked = 0
        for grant in grants:
            try:
                services.benefit_grant_revoke(grant=grant)
                revoked += 1
            except ValidationError:
                pass  # redeemed or already revoked: left as they are
        self.message_user(
            request,
            _("Revoked %(n)d grant(s); %(skipped)d were redeemed or revoked already.")
            % {"n": revoked, "skipped": len(grants) - revoked},
            messages.SUCCESS,
        )

    @admin.display(description=_("status"))
    def status(self, obj):
        if obj.redeemed_at:
            return _("Redeemed")
        if obj.revoked_at:
            return _("Revoked")
        if obj.expires_at < timezone.now():
            return _("Expired")
        return _("Open")


@admin.register(TierBenefit)
class TierBenefitAdmin(BrandScopedAdmin):
    """Links are usually edited on their tier; this list shows every tier's benefits at a glance."""

    list_display = ("tier", "benefit", "quota")
    list_filter = ("brand", "tier")
    search_fields = ("tier__code", "benefit__code")
    list_select_related = ("tier", "benefit")
    autocomplete_fields = ("tier", "benefit")
    ordering = ("brand_id", "tier__rank", "benefit__code")


@admin.register(TierChange)
class TierChangeAdmin(BrandScopedAdmin):
    """Tier history, read-only: rows are written by score refreshes and manual tier changes."""

    list_display = ("changed_at", "customer", "from_tier", "to_tier", "source", "reason", "run_id")
    list_filter = ("brand", "source", "to_tier", "from_tier", "changed_at")
    search_fields = ("=customer__external_id", "reason")
    list_select_related = ("customer", "from_tier", "to_tier")
    date_hierarchy = "changed_at"
    ordering = ("-changed_at", "-pk")
    show_full_result_count = False
    fields = ("brand", "customer", "from_tier", "to_tier", "changed_at", "source", "reason", "run_id")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
