"""Value tiers, benefits (权益), the benefits each tier carries, and grants to customers.

Every change made here lands in the audit trail (apps.audit): through the services, which record what they
write with request.user as the actor, or, for rows the admin writes directly (inlines, the link and grant
forms, deletes), recorded here.
"""

import pandas as pd
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.audit.models import AuditAction
from apps.audit.services import audit_event, audit_record, audit_record_many, snapshot, stored_snapshot
from apps.core.admin import BrandScopedAdmin, BrandScopedTabularInline
from apps.loyalty import services, tier_refresh
from apps.loyalty.models import (
    RFM_SEGMENT_LABELS,
    Benefit,
    BenefitGrant,
    GrantStatus,
    Tier,
    TierBenefit,
    TierChange,
    TierRule,
)
from apps.loyalty.tiering import TierRuleSpec

PREVIEW = "_preview"  # the name of the tier page's "Preview" submit button

SCORE_COLUMNS = [
    "customer_id",
    "clv",
    "churn_probability",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_segment",
]


class AuditedWritesMixin:
    """For admins that save and delete rows themselves (not through a service): record each change."""

    def save_model(self, request, obj, form, change):
        before = stored_snapshot(obj) if change else None
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=AuditAction.UPDATED if before is not None else AuditAction.CREATED,
            obj=obj,
            before=before,
            after=snapshot(obj),
            skip_unchanged=True,
        )


class AuditedDeletesMixin:
    """Record deletions from the delete page and the "delete selected" action."""

    def delete_model(self, request, obj):
        event = audit_event(actor=request.user, action=AuditAction.DELETED, obj=obj, before=snapshot(obj))
        super().delete_model(request, obj)
        audit_record_many([event])

    def delete_queryset(self, request, queryset):
        events = [
            audit_event(actor=request.user, action=AuditAction.DELETED, obj=obj, before=snapshot(obj))
            for obj in queryset
        ]
        super().delete_queryset(request, queryset)
        audit_record_many(events)


def audited_formset_save(request, formset) -> None:
    """Save an inline formset (rows created, changed and deleted directly) and record every change."""
    existing = [form.instance.pk for form in formset.initial_forms if form.instance.pk is not None]
    before = {row.pk: snapshot(row) for row in formset.model._base_manager.filter(pk__in=existing)}
    deleted = [
        audit_event(
            actor=request.user, action=AuditAction.DELETED, obj=form.instance, before=before[form.instance.pk]
        )
        for form in formset.deleted_forms
        if form.instance.pk in before
    ]
    formset.save()
    events = [*deleted]
    for row in formset.new_objects:
        events.append(
            audit_event(actor=request.user, action=AuditAction.CREATED, obj=row, after=snapshot(row))
        )
    for row, _fields in formset.changed_objects:
        event = audit_event(
            actor=request.user,
            action=AuditAction.UPDATED,
            obj=row,
            before=before.get(row.pk),
            after=snapshot(row),
        )
        if event.changes:
            events.append(event)
    audit_record_many(events)


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


def published_score_frame(*, brand) -> pd.DataFrame:
    """The brand's published scores in the frame tiers_refresh takes (empty before the first publish)."""
    from apps.analytics.selectors import published_scores

    frame = pd.DataFrame.from_records(
        published_scores(brand=brand).values_list(*SCORE_COLUMNS).iterator(chunk_size=20_000),
        columns=SCORE_COLUMNS,
    )
    frame["clv"] = frame["clv"].astype(float)
    return frame


def edited_rule_specs(*, tier: Tier, edited: Tier, rule_form) -> list[TierRuleSpec]:
    """The brand's rules as they would be with the tier page's edits: the tier's rank and active flag from
    the tier form, its rule from the (valid) rule form; None as rule_form means the tier has no rule."""
    specs = [spec for spec in tier_refresh.tier_rules_for(brand=tier.brand) if spec.tier_id != tier.pk]
    if not edited.is_active:
        return specs
    # the tier form's code and rank with the rule form's cleaned values (None: the rule was removed)
    specs.append(TierRuleSpec.of(edited, rule_form.instance if rule_form is not None else None))
    return specs


def tier_rule_preview(*, tier: Tier, edited: Tier, rule_formset) -> dict:
    """What the tier page's edited rule would do to the customers of the published scores, for the template:
    {"message"} when it cannot tell, else {"rows": [{from_tier, to_tier, customers, moves}], "summary"}."""
    scores = published_score_frame(brand=tier.brand)
    if scores.empty:
        return {
            "message": _(
                "There are no published scores for this brand yet, so the preview cannot count customers. "
                "Publish a score refresh first; you can still save the rule."
            )
        }
    deleted = set(rule_formset.deleted_forms) if rule_formset.can_delete else set()
    kept = [
        form
        for form in rule_formset.forms
        if form not in deleted and (form.instance.pk is not None or form.has_changed())
    ]
    rules = edited_rule_specs(tier=tier, edited=edited, rule_form=kept[0] if kept else None)
    counts = tier_refresh.tier_rules_preview(brand=tier.brand, rules=rules, scores=scores)
    no_tier = _("(no tier)")
    rows = [
        {
            "from_tier": row.from_tier or no_tier,
            "to_tier": row.to_tier or no_tier,
            "customers": int(row.customers),
            "moves": not (
                (pd.isna(row.from_tier_id) and pd.isna(row.to_tier_id)) or row.from_tier_id == row.to_tier_id
            ),
        }
        for row in counts.itertuples(index=False)
    ]
    rows.sort(key=lambda r: (not r["moves"], -r["customers"]))
    moving = sum(r["customers"] for r in rows if r["moves"])
    summary = ngettext(
        "%(moving)d of %(total)d scored customer would change tier.",
        "%(moving)d of %(total)d scored customers would change tier.",
        len(scores),
    ) % {"moving": moving, "total": len(scores)}
    return {"rows": rows, "summary": summary, "moving": moving, "total": len(scores)}


@admin.register(Tier)
class TierAdmin(AuditedDeletesMixin, BrandScopedAdmin):
    list_display = ("rank", "display_name", "code", "demotion_grace_days", "is_active")
    list_display_links = ("display_name",)
    list_filter = ("brand", "is_active")
    search_fields = ("code", "name")
    list_select_related = ()
    ordering = ("brand_id", "rank")
    fields = ("brand", "code", "name", "rank", "description", "demotion_grace_days", "is_active")
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
            services.tier_update(tier=obj, actor=request.user, **values)
            return
        tier = services.tier_create(brand=obj.brand, actor=request.user, **values)
        obj.pk, obj.created_at, obj.updated_at = tier.pk, tier.created_at, tier.updated_at

    def save_formset(self, request, form, formset, change):
        # the benefit and rule inlines write their rows directly: record them in the audit trail
        audited_formset_save(request, formset)

    # --- "Preview": what the edited rule would do, computed on the published scores, nothing saved ---------
    #
    # The Preview button posts the whole page. The tier form then reports itself invalid once everything
    # has been validated, so the admin renders the page again with what was typed (and any errors) instead
    # of saving; render_change_form adds the preview when the tier form and every inline are valid.

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if not (request.method == "POST" and PREVIEW in request.POST):
            return form_class

        class PreviewForm(form_class):
            def is_valid(self):
                self.preview_ready = super().is_valid()
                return False  # never saved

        PreviewForm.__name__ = form_class.__name__
        return PreviewForm

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        if getattr(form, "preview_ready", False):
            formsets = [inline.formset for inline in context["inline_admin_formsets"]]
            if all(formset.is_valid() for formset in formsets):
                if obj is None:
                    context["tier_preview"] = {
                        "message": _("Save the new tier first; then preview changes to its rule.")
                    }
                else:
                    rules = next((f for f in formsets if f.model is TierRule), None)
                    context["tier_preview"] = (
                        tier_rule_preview(tier=obj, edited=form.instance, rule_formset=rules)
                        if rules is not None
                        else {"message": _("This page has no rule to preview.")}
                    )
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.action(description=_("Archive selected tiers"))
    def archive_selected(self, request, queryset):
        tiers = list(queryset)
        for tier in tiers:
            self.check_may_write(request, tier, "change")
        for tier in tiers:
            services.tier_archive(tier=tier, actor=request.user)
        self.message_user(request, _("Archived %(n)d tier(s).") % {"n": len(tiers)}, messages.SUCCESS)


@admin.register(Benefit)
class BenefitAdmin(AuditedDeletesMixin, BrandScopedAdmin):
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
            services.benefit_update(benefit=obj, actor=request.user, **values)
            return
        benefit = services.benefit_create(brand=obj.brand, actor=request.user, **values)
        obj.pk, obj.created_at, obj.updated_at = benefit.pk, benefit.created_at, benefit.updated_at

    @admin.action(description=_("Archive selected benefits"))
    def archive_selected(self, request, queryset):
        benefits = list(queryset)
        for benefit in benefits:
            self.check_may_write(request, benefit, "change")
        for benefit in benefits:
            services.benefit_archive(benefit=benefit, actor=request.user)
        self.message_user(request, _("Archived %(n)d benefit(s).") % {"n": len(benefits)}, messages.SUCCESS)


class GrantStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return GrantStatus.choices

    def queryset(self, request, queryset):
        if self.value() in GrantStatus.values:
            return queryset.with_status(self.value())
        return queryset


@admin.register(BenefitGrant)
class BenefitGrantAdmin(AuditedDeletesMixin, AuditedWritesMixin, BrandScopedAdmin):
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

    def has_add_permission(self, request):
        # Grants are made where the grant rules apply (archived benefits, tier quotas, opt-outs): the "Grant a
        # benefit" action on the customer list and the grantBenefit mutation, both through
        # services.benefit_grant. Here staff see, correct (e.g. record a redemption) and revoke them.
        return False

    @admin.action(description=_("Revoke selected grants"))
    def revoke_selected(self, request, queryset):
        grants = list(queryset)
        for grant in grants:
            self.check_may_write(request, grant, "change")
        revoked = 0
        for grant in grants:
            try:
                services.benefit_grant_revoke(grant=grant, actor=request.user)
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
        return obj.status_at().label


@admin.register(TierBenefit)
class TierBenefitAdmin(AuditedDeletesMixin, AuditedWritesMixin, BrandScopedAdmin):
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

    list_display = ("changed_at", "customer", "from_tier", "to_tier", "source", "reason_in_words", "run_id")
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

    @admin.display(description=_("reason"), ordering="reason")
    def reason_in_words(self, obj):
        return obj.reason_label(obj.to_tier.display_name if obj.to_tier_id else None)
