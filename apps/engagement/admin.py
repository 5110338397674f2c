"""The action layer in the admin: follow-up rules (with a preview of who a past stream's follow-up would reach
and why not the others), message templates, the contact policy, channel opt-outs, the touch log and the
results page (touched against the holdout). Writes go through apps.engagement.services, which validate and
record them in the audit trail."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import Stage
from apps.core import charts
from apps.core.admin import BrandScopedAdmin, BrandScopedTabularInline
from apps.core.scoping import brand_ids_for_user
from apps.engagement import experiments, planning, results, segments, selectors, services
from apps.engagement.models import (
    Channel,
    ChannelOptOut,
    ContactPolicy,
    Experiment,
    ExperimentArm,
    ExperimentAssignment,
    ExperimentStatus,
    FollowupRule,
    GroupPost,
    MessageTemplate,
    Metric,
    Reason,
    SavedSegment,
    Touch,
)

EXCLUSION_LABELS = {
    "audience": _("Not in the rule's audience (watched / bought)"),
    "segment": _("Not in the rule's saved segment"),
    "stage": _("Another lifecycle stage"),
    "tier": _("Another tier"),
    "churn": _("Churn probability outside the rule's band"),
    "watch_time": _("Watched too briefly"),
    "interactions": _("Too few interactions"),
    "propensity": _("First-purchase propensity too low"),
}
PREVIEW_ROWS = 50


class ContactPolicyForm(forms.ModelForm):
    webhook_secret = forms.CharField(
        label=_("webhook secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the current secret. It is never shown."),
    )

    class Meta:
        model = ContactPolicy
        fields = ("brand", *services.POLICY_FIELDS)

    def clean_webhook_secret(self):
        """Empty keeps the stored secret (the form never shows it)."""
        return self.cleaned_data["webhook_secret"] or (
            self.instance.webhook_secret if self.instance.pk else ""
        )


@admin.register(ContactPolicy)
class ContactPolicyAdmin(BrandScopedAdmin):
    form = ContactPolicyForm
    list_display = ("brand", "quiet_start", "quiet_end", "cap_72h", "cap_month", "holdout_percent", "gateway")
    fieldsets = (
        (None, {"fields": ("brand",)}),
        (_("When"), {"fields": ("quiet_start", "quiet_end", "learn_send_hour", "min_timing_clicks")}),
        (_("How often"), {"fields": ("cap_72h", "cap_month", "wecom_daily_per_sender", "wecom_mass_max")}),
        (_("Proving the effect"), {"fields": ("holdout_percent", "attribution_hours")}),
        (
            _("Delivery"),
            {
                "fields": (
                    "gateway",
                    "webhook_url",
                    "webhook_secret",
                    "webhook_timeout_seconds",
                    "webhook_max_attempts",
                    "landing_url",
                    "click_ttl_days",
                )
            },
        ),
    )

    def has_add_permission(self, request):
        return False  # every brand has one, made with the brand

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser  # it goes with its brand (only superusers delete brands)

    def save_model(self, request, obj, form, change):
        self.check_may_write(request, obj, "change")
        values = {
            name: form.cleaned_data[name] for name in services.POLICY_FIELDS if name in form.cleaned_data
        }
        if not values.get("webhook_secret"):
            values.pop("webhook_secret", None)
        stored = ContactPolicy.objects.get(pk=obj.pk)
        services.contact_policy_update(policy=stored, actor=request.user, **values)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(BrandScopedAdmin):
    list_display = ("code", "display_name", "language", "is_active")
    list_filter = ("language", "is_active")
    search_fields = ("code", "name")
    fields = ("brand", "code", "name", "language", "subject", "body", "is_active")

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, obj):
        return str(obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser  # staff archive; a template goes when its brand is deleted

    def save_model(self, request, obj, form, change):
        self.check_may_write(request, obj, "change" if change else "add")
        values = {name: getattr(obj, name) for name in services.TEMPLATE_FIELDS}
        if change:
            services.message_template_update(template=obj, actor=request.user, **values)
            return
        created = services.message_template_create(brand=obj.brand, actor=request.user, **values)
        obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at


class ChannelOrderField(forms.CharField):
    """The rule's channels, in order, as "wecom, sms"."""

    def to_python(self, value):
        text = super().to_python(value) or ""
        channels = [c.strip() for c in text.replace("，", ",").split(",") if c.strip()]
        unknown = [c for c in channels if c not in Channel.values]
        if unknown:
            raise ValidationError(
                _("Unknown channel(s): %(names)s. Use %(known)s.")
                % {"names": ", ".join(unknown), "known": ", ".join(Channel.values)}
            )
        return channels

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value


# xgettext:no-python-format
PERCENT_MESSAGE = _("Enter a percentage from 0 to 100 (70 means 70%).")


class PercentField(forms.Field):
    """A probability typed as a percentage, 0 to 100 (70 means 70%), stored as before: 0.700. At most one
    decimal place (the stored value has three)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.NumberInput(attrs={"min": "0", "max": "100", "step": "0.1"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, Decimal):  # already a stored fraction
            return value
        text = str(value).strip().rstrip("%").strip().replace(",", ".")
        try:
            percent = Decimal(text)
        except InvalidOperation:
            raise ValidationError(PERCENT_MESSAGE, code="invalid") from None
        if not percent.is_finite() or not 0 <= percent <= 100:
            raise ValidationError(PERCENT_MESSAGE, code="range")
        if percent != percent.quantize(Decimal("0.1")):
            raise ValidationError(
                _("Use at most one decimal place, e.g. 72.5 (percent)."), code="max_decimal_places"
            )
        return (percent / 100).quantize(Decimal("0.001"))

    def prepare_value(self, value):
        """A stored fraction is shown as its percentage (0.700 → 70); what staff typed is shown as typed."""
        if isinstance(value, Decimal | float):
            return f"{Decimal(str(value)) * 100:f}".rstrip("0").rstrip(".") or "0"
        return value


PERCENT_HELP = _("A percentage from 0 to 100, e.g. 70. Empty: no bound.")


class ProbabilityPercentFields(forms.Form):
    """The probability thresholds of a rule or an experiment, typed as percentages (stored as 0 to 1)."""

    min_churn_probability = PercentField(label=_("churn probability at least (%)"), help_text=PERCENT_HELP)
    max_churn_probability = PercentField(label=_("churn probability at most (%)"), help_text=PERCENT_HELP)
    min_prospect_propensity = PercentField(
        label=_("first-purchase propensity at least (%)"), help_text=PERCENT_HELP
    )


class FollowupRuleForm(ProbabilityPercentFields, forms.ModelForm):
    channels = ChannelOrderField(
        label=_("channels, first to last"),
        # formatted lazily: `%` on a lazy text at import time fixed the language of the first request
        help_text=format_lazy(
            _("Comma separated, tried first to last after the customer's preferred channel: {known}."),
            known=", ".join(Channel.values),
        ),
    )
    stages = forms.MultipleChoiceField(
        label=_("lifecycle stages"),
        choices=Stage.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None selected means any stage."),
    )

    class Meta:
        model = FollowupRule
        fields = ("brand", "tiers", *services.RULE_FIELDS)

    def _post_clean(self):
        """The service's checks of the whole rule (bounds in order, the send inside the window, the template's
        and the segment's brand, ...) shown on the form, naming the field, instead of failing at save."""
        super()._post_clean()
        if self.errors or self.instance.brand_id is None:
            return
        try:
            services._rule_check(self.instance, self.cleaned_data.get("tiers"))
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(FollowupRule)
class FollowupRuleAdmin(BrandScopedAdmin):
    form = FollowupRuleForm
    list_display = (
        "priority",
        "name_in_words",
        "trigger",
        "audience",
        "channel_list",
        "template",
        "benefit",
        "is_active",
    )

    list_display_links = ("name_in_words",)
    list_filter = ("trigger", "audience", "is_active")
    list_select_related = ("template", "benefit")
    search_fields = ("name",)
    filter_horizontal = ("tiers",)
    ordering = ("brand_id", "priority", "pk")
    fieldsets = (
        (None, {"fields": ("brand", "name", "is_active", "priority", "trigger", "audience")}),
        (
            _("Who"),
            {
                "fields": (
                    "segment",
                    "stages",
                    "tiers",
                    ("min_churn_probability", "max_churn_probability"),
                    "min_watch_minutes",
                    "min_interactions",
                    "min_prospect_propensity",
                )
            },
        ),
        (
            _("What"),
            {"fields": ("template", "channels", "benefit", "link_url", "wecom_sender", "post_to_groups")},
        ),
        (_("When"), {"fields": (("delay_min_hours", "delay_max_hours"), "window_hours", "skip_if_bought")}),
    )

    @admin.display(description=_("name"), ordering="name")
    def name_in_words(self, obj):
        """The default rules' names in the staff's language (as their pages' titles are); staff's own as typed."""
        return str(obj)

    @admin.display(description=_("channels"))
    def channel_list(self, obj):
        labels = dict(Channel.choices)
        return " → ".join(str(labels.get(c, c)) for c in obj.channels)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser  # staff archive; a rule goes when its brand is deleted

    def save_model(self, request, obj, form, change):
        self.check_may_write(request, obj, "change" if change else "add")
        values = {name: getattr(obj, name) for name in services.RULE_FIELDS}
        if change:
            services.followup_rule_update(rule=obj, actor=request.user, **values)
            return
        created = services.followup_rule_create(brand=obj.brand, actor=request.user, **values)
        obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at

    # --- the preview: who a past stream's follow-up by this rule would reach, and why not the others -------

    def get_urls(self):
        view = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:rule_id>/preview/", view, name="engagement_followuprule_preview"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"preview_url": reverse("admin:engagement_followuprule_preview", args=[object_id])}
        return super().change_view(
            request, object_id, form_url, extra_context={**(extra_context or {}), **extra}
        )

    def preview_view(self, request, rule_id: int):
        from apps.streams.models import Stream

        rule = self.get_object(request, str(rule_id))
        if not self.has_view_permission(request, rule):
            raise PermissionDenied
        streams = list(
            Stream.objects.filter(brand_id=rule.brand_id, ended_at__isnull=False)
            .order_by("-ended_at")
            .only("pk", "external_id", "title", "ended_at")[:30]
        )
        chosen = request.GET.get("stream")
        stream = next((s for s in streams if str(s.pk) == chosen), streams[0] if streams else None)
        if chosen and stream is not None and str(stream.pk) != chosen:
            raise Http404(gettext("This object does not exist or belongs to another brand."))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": rule,
            "title": gettext("Preview: %(rule)s") % {"rule": rule},
            "streams": streams,
            "stream": stream,
        }
        if stream is not None and rule.trigger == "stream_end":
            preview = planning.followups_preview(brand=rule.brand, rule=rule, stream=stream)
            context.update(_preview_context(preview, rule.brand))
        return TemplateResponse(request, "admin/engagement/followuprule/preview.html", context)


def _preview_context(preview, brand) -> dict:
    from apps.customers.models import Customer

    frame = preview.frame
    if frame is None or frame.empty:
        return {"summary": [], "rows": [], "audience": 0}
    reasons = dict(Reason.choices)
    summary = []
    planned = int((frame["status"] == "planned").sum())
    summary.append((gettext("Would be touched"), planned))
    for code, count in frame.loc[frame["reason"] != "", "reason"].value_counts().items():
        summary.append((str(reasons.get(code, code)), int(count)))
    for code, count in frame.loc[frame["excluded"] != "", "excluded"].value_counts().items():
        summary.append((str(EXCLUSION_LABELS.get(code, code)), int(count)))
    rule_plan = preview.rules[0] if preview.rules else None
    if rule_plan is not None and (rule_plan.groups_planned or rule_plan.group_reasons):
        summary.append((gettext("WeCom group posts"), rule_plan.groups_planned))
        for code, count in sorted(rule_plan.group_reasons.items()):
            summary.append(
                (
                    gettext("WeCom group posts held back: %(reason)s") % {"reason": reasons.get(code, code)},
                    count,
                )
            )
    sample = frame.head(PREVIEW_ROWS)
    external = dict(
        Customer.objects.filter(brand=brand, pk__in=sample["customer_id"].tolist()).values_list(
            "pk", "external_id"
        )
    )
    stages = dict(Stage.choices)
    rows = []
    for row in sample.itertuples(index=False):
        if row.excluded:
            outcome = str(EXCLUSION_LABELS.get(row.excluded, row.excluded))
        elif row.reason:
            outcome = str(reasons.get(row.reason, row.reason))
        else:
            outcome = gettext("Would be touched")
        rows.append(
            {
                "customer": external.get(row.customer_id, ""),
                "url": reverse("admin:customers_customer_360", args=[row.customer_id]),
                "stage": str(stages.get(row.stage, row.stage)),
                "watch_minutes": round(row.watch_seconds / 60, 1),
                "bought": bool(row.bought),
                "channel": str(dict(Channel.choices).get(row.channel, row.channel)) if row.channel else "",
                "outcome": outcome,
                "touched": not row.excluded and not row.reason,
            }
        )
    return {"summary": summary, "rows": rows, "audience": len(frame), "touched": planned}


@admin.register(ChannelOptOut)
class ChannelOptOutAdmin(BrandScopedAdmin):
    list_display = ("customer", "channel", "opted_out_at", "source")
    list_filter = ("channel",)
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
    search_fields = ("customer__external_id",)
    fields = ("brand", "customer", "channel", "opted_out_at", "source")

    def save_model(self, request, obj, form, change):
        self.check_may_write(request, obj, "change" if change else "add")
        if change:
            super().save_model(request, obj, form, change)
            return
        row = services.channel_opt_out(
            brand=obj.brand,
            customer=obj.customer,
            channel=obj.channel,
            source=obj.source or "admin",
            when=obj.opted_out_at,
            actor=request.user,
        )
        obj.pk = row.pk


@admin.register(GroupPost)
class GroupPostAdmin(BrandScopedAdmin):
    """Posts in WeCom groups: read-only (planned and sent by the product)."""

    list_display = (
        "scheduled_at",
        "community",
        "rule",
        "stream",
        "members_taken",
        "status",
        "reason",
        "sent_at",
    )
    list_filter = ("status", "reason", "rule")
    list_select_related = ("community", "rule", "stream")
    search_fields = ("community__external_id", "community__name", "stream__external_id")
    ordering = ("brand_id", "-scheduled_at", "-pk")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser  # posts go when their brand is deleted


@admin.register(Touch)
class TouchAdmin(BrandScopedAdmin):
    """The touch log: read-only (touches are planned and sent by the product)."""

    list_display = (
        "scheduled_at",
        "customer_link",
        "rule",
        "stream",
        "channel",
        "status",
        "reason",
        "holdout",
        "sent_at",
        "converted_order",
    )
    list_filter = ("status", "reason", "channel", "holdout", "rule")
    list_select_related = ("customer", "rule", "stream", "converted_order")
    search_fields = ("customer__external_id", "stream__external_id")
    show_full_result_count = False
    ordering = ("brand_id", "-scheduled_at", "-pk")

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_link(self, obj):
        url = reverse("admin:customers_customer_360", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, obj.customer.external_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser  # touches go when their brand is deleted

    def get_urls(self):
        view = self.admin_site.admin_view(self.results_view)
        return [path("results/", view, name="engagement_touch_results"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra = {"results_url": reverse("admin:engagement_touch_results")}
        return super().changelist_view(request, extra_context={**(extra_context or {}), **extra})

    def results_view(self, request):
        """Touched against held-out customers, per rule, channel, stage or send hour, for one brand."""
        from apps.brands.models import Brand

        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = brand_ids_for_user(request.user)
        brands = list(
            Brand.objects.order_by("name")
            if ids is None
            else Brand.objects.filter(pk__in=ids).order_by("name")
        )
        chosen = request.GET.get("brand")
        brand = next((b for b in brands if str(b.pk) == chosen), brands[0] if brands else None)
        if chosen and brand is not None and str(brand.pk) != chosen:
            raise Http404(gettext("This object does not exist or belongs to another brand."))
        by = request.GET.get("by", "rule")
        if by not in results.DIMENSIONS:
            by = "rule"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Follow-up results"),
            "brands": brands,
            "brand": brand,
            "by": by,
            "dimensions": [
                ("rule", gettext("rule")),
                ("channel", gettext("channel")),
                ("stage", gettext("lifecycle stage")),
                ("send_hour", gettext("send hour")),
            ],
        }
        if brand is not None:
            context.update(_results_context(brand, by))
        return TemplateResponse(request, "admin/engagement/touch/results.html", context)


def _results_context(brand, by: str) -> dict:
    total, groups = results.results(brand=brand, by=by)
    if by == "rule":
        names = {
            r.pk: str(r) for r in FollowupRule.objects.filter(brand=brand, pk__in=[g.key for g in groups])
        }
    elif by == "channel":
        names = {k: str(v) for k, v in Channel.choices}
    elif by == "stage":
        names = {k: str(v) for k, v in Stage.choices}
    else:
        names = {g.key: f"{int(g.key):02d}:00" for g in groups}
    rows = [{"label": names.get(g.key, str(g.key)), "r": g} for g in groups]
    chart = charts.bar_chart(
        [row["label"] for row in rows],
        [
            charts.BarSeries(gettext("touched"), [g.treated_rate or 0 for g in groups]),
            charts.BarSeries(gettext("holdout"), [g.control_rate or 0 for g in groups]),
        ],
        title=gettext("Bought within the attribution window"),
        stacked=False,
        y_format=charts.percent,
        empty_message=(
            gettext("Nobody bought within the window, touched or held out.")
            if groups
            else gettext("No touch has completed its attribution window yet.")
        ),
    )
    policy = services.contact_policy_ensure(brand=brand)
    evidence = selectors.send_hour_evidence(brand=brand)
    chosen = selectors.learned_send_hours(brand=brand, min_clicks=policy.min_timing_clicks)
    stages = dict(Stage.choices)
    hours = [
        {
            "stage": str(stages.get(e.stage, e.stage)),
            "hour": f"{int(e.send_hour):02d}:00",
            "clicks": int(e.clicks),
            "conversions": int(e.conversions),
            "rate": e.rate,
            "chosen": chosen.get(e.stage) == int(e.send_hour),
        }
        for e in evidence.itertuples()
    ]
    return {"total": total, "rows": rows, "chart": chart, "policy": policy, "hours": hours}


# --- experiments ------------------------------------------------------------------------------------------


class ExperimentForm(ProbabilityPercentFields, forms.ModelForm):
    stages = forms.MultipleChoiceField(
        label=_("lifecycle stages"),
        choices=Stage.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None selected means any stage."),
    )
    secondary_metrics = forms.MultipleChoiceField(
        label=_("secondary metrics"),
        choices=Metric.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Experiment
        fields = ("brand", "tiers", *experiments.EXPERIMENT_FIELDS)


class ArmFormSet(forms.BaseInlineFormSet):
    """The arms are checked together (one control, shares adding up to 100, each treatment complete)."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        arms = [
            f.instance
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("code")
        ]
        parent = self.instance
        try:
            experiments.experiment_check(parent, arms, [])
        except ValidationError as exc:
            messages = exc.message_dict.get("arms") if hasattr(exc, "message_dict") else None
            if messages:
                raise ValidationError(messages) from None


class ExperimentArmInline(BrandScopedTabularInline):
    model = ExperimentArm
    formset = ArmFormSet
    fields = ("code", "name", "is_control", "share", "treatment", "benefit", "rule")
    extra = 0
    min_num = 2

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != ExperimentStatus.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        if obj is not None and obj.status != ExperimentStatus.DRAFT:
            return False
        return super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != ExperimentStatus.DRAFT:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Experiment)
class ExperimentAdmin(BrandScopedAdmin):
    """Experiments: defined as drafts (arms inline), started and finished by actions, with a results page."""

    form = ExperimentForm
    inlines = (ExperimentArmInline,)
    list_display = ("code", "name", "status", "starts_at", "ends_at", "primary_metric", "results_link")
    list_display_links = ("code", "name")
    list_filter = ("status", "primary_metric")
    search_fields = ("code", "name")
    filter_horizontal = ("tiers",)
    ordering = ("brand_id", "-starts_at", "pk")
    actions = ("start_now", "finish")
    fieldsets = (
        (None, {"fields": ("brand", "code", "name", "hypothesis")}),
        (
            _("Who"),
            {
                "fields": (
                    "population",
                    "segment",
                    "stages",
                    "tiers",
                    ("min_churn_probability", "max_churn_probability"),
                    "min_prospect_propensity",
                )
            },
        ),
        (_("When"), {"fields": (("starts_at", "ends_at"), "window_days", "pre_period_days")}),
        (
            _("Measure"),
            {"fields": ("primary_metric", "secondary_metrics", "min_detectable_effect", "alpha")},
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != ExperimentStatus.DRAFT:
            return ("brand", "tiers", *experiments.EXPERIMENT_FIELDS)
        return ()

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description=_("results"))
    def results_link(self, obj):
        if obj.status == ExperimentStatus.DRAFT:
            return "—"
        url = reverse("admin:engagement_experiment_results", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Results"))

    def save_model(self, request, obj, form, change):
        from apps.audit.services import AuditAction, audit_record, snapshot, stored_snapshot

        self.check_may_write(request, obj, "change" if change else "add")
        before = stored_snapshot(obj) if change else None
        super().save_model(request, obj, form, change)
        action = AuditAction.UPDATED if change else AuditAction.CREATED
        audit_record(
            actor=request.user,
            action=action,
            obj=obj,
            before=before,
            after=snapshot(obj),
            skip_unchanged=True,
        )

    @admin.action(description=_("Start the selected draft experiments now (assign and deliver)"))
    def start_now(self, request, queryset):
        started = 0
        for experiment in queryset.filter(status=ExperimentStatus.DRAFT):
            self.check_may_write(request, experiment, "change")
            try:
                experiments.experiment_start(experiment=experiment, actor=request.user)
                started += 1
            except ValidationError as exc:
                self.message_user(request, f"{experiment.code}: {' '.join(exc.messages)}", level="error")
        self.message_user(request, gettext("Started %(n)d experiment(s).") % {"n": started})

    @admin.action(description=_("Finish the selected running experiments"))
    def finish(self, request, queryset):
        finished = 0
        for experiment in queryset.filter(status=ExperimentStatus.RUNNING):
            self.check_may_write(request, experiment, "change")
            experiments.experiment_finish(experiment=experiment, actor=request.user)
            finished += 1
        self.message_user(request, gettext("Finished %(n)d experiment(s).") % {"n": finished})

    def get_urls(self):
        view = self.admin_site.admin_view(self.results_view)
        return [path("<int:pk>/results/", view, name="engagement_experiment_results"), *super().get_urls()]

    def results_view(self, request, pk: int):
        experiment = self.get_queryset(request).filter(pk=pk).first()
        if experiment is None or not self.has_view_permission(request, experiment):
            raise Http404(gettext("This object does not exist or belongs to another brand."))
        data = experiments.experiment_results(experiment=experiment)
        series = [
            charts.Series(
                label=f"{code} ({data['arms'][code]['n']})",
                points=list(zip(curve["days"], curve["survival"], strict=True)),
                step=True,
            )
            for code, curve in data["curves"].items()
        ]
        chart = charts.line_chart(
            series,
            title=gettext("Customers without a purchase since the start, per arm (Kaplan-Meier)"),
            x_label=gettext("days since the start"),
            y_label=gettext("share without a purchase"),
            y_range=(0, 1),
            y_format=charts.percent,
            empty_message=gettext("No customer is assigned yet."),
        )
        labels = dict(Metric.choices)
        variants = []
        for code, v in data["variants"].items():
            variants.append(
                {"code": code, **v, "metrics": [(labels.get(k, k), m) for k, m in v["metrics"].items()]}
            )
        arm_names = dict(experiment.arms.values_list("code", "name"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Results of %(code)s") % {"code": experiment.code},
            "unavailable": [
                (unavailable_label(key, arm_names, labels), reason, key)
                for key, reason in data["unavailable"].items()
            ],
            "experiment": experiment,
            "data": data,
            "arms": list(data["arms"].items()),
            "variants": variants,
            "chart": chart,
        }
        return TemplateResponse(request, "admin/engagement/experiment/results.html", context)


def unavailable_label(key: str, arm_names: dict, metric_labels: dict) -> str:
    """A figure the results could not compute, in words: 'a2.rmst_diff_30.cuped' → 'Arm A2 · RMST difference at
    30 days (CUPED)'. The key (what the API and the command report) stays in the page as the item's title."""
    parts = key.split(".")
    named = {
        "srm_p": gettext("sample ratio check"),
        "required_n_per_arm": gettext("customers per arm needed"),
        "cuped": "CUPED",
        "cupac": "CUPAC",
    }
    words = []
    for i, part in enumerate(parts):
        if i == 0 and part in arm_names:
            words.append(gettext("arm %(name)s") % {"name": gettext(arm_names[part]) or part})
        elif part.startswith("rmst_diff_") and part[10:].isdigit():
            words.append(gettext("RMST difference at %(days)s days") % {"days": part[10:]})
        elif part in metric_labels:
            words.append(str(metric_labels[part]))
        else:
            words.append(named.get(part, part))
    return " · ".join(words)


@admin.register(ExperimentAssignment)
class ExperimentAssignmentAdmin(BrandScopedAdmin):
    """Who is in which arm: read-only (assigned by the product when an experiment starts)."""

    list_display = (
        "experiment",
        "arm",
        "customer_link",
        "assigned_at",
        "exposed_at",
        "pre_revenue",
        "p_purchase",
    )
    list_filter = ("experiment", "arm")
    list_select_related = ("experiment", "arm", "customer")
    search_fields = ("customer__external_id",)
    show_full_result_count = False
    ordering = ("brand_id", "experiment", "customer_id")

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_link(self, obj):
        url = reverse("admin:customers_customer_360", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, obj.customer.external_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


# --- saved segments ----------------------------------------------------------------------------------------


class SavedSegmentForm(forms.ModelForm):
    class Meta:
        model = SavedSegment
        fields = ("brand", "name", "description", "filters")
        widgets = {"filters": forms.TextInput(attrs={"size": 80})}


@admin.register(SavedSegment)
class SavedSegmentAdmin(BrandScopedAdmin):
    """Customer-list filters staff name and reuse: made from the customer list ("Save these filters as a
    segment") or here; each shows its live count and opens the customer list it stands for; follow-up rules
    and experiments target it. Counted on the page of one segment only (a count reads the brand's customers)."""

    form = SavedSegmentForm
    list_display = ("name", "criteria", "customers_link", "updated_at")
    search_fields = ("name", "description")
    ordering = ("brand_id", "name")
    readonly_fields = ("criteria", "customers_now", "targeted_by")

    def get_fieldsets(self, request, obj=None):
        fields = ["brand", "name", "description", "filters"]
        if obj is not None:
            fields += ["criteria", "customers_now", "targeted_by"]
        return [(None, {"fields": fields})]

    def get_changeform_initial_data(self, request):
        """From the customer list: its filters, and its brand when the list was filtered by one."""
        initial = super().get_changeform_initial_data(request)
        filters = request.GET.get("filters", "")
        if filters:
            from django.http import QueryDict

            brand = QueryDict(filters).get(segments.BRAND_PARAM, "")
            allowed = brand_ids_for_user(request.user)
            if brand.isdigit() and (allowed is None or int(brand) in allowed):
                initial["brand"] = int(brand)
        return initial

    def customer_list_url(self, obj) -> str:
        query = f"{obj.filters}&{segments.BRAND_PARAM}={obj.brand_id}" if obj.filters else ""
        return reverse("admin:customers_customer_changelist") + (f"?{query}" if query else "")

    @admin.display(description=_("filters in words"))
    def criteria(self, obj):
        try:
            words = segments.segment_describe(obj.filters, brand_id=obj.brand_id)
        except ValidationError:
            return "—"
        return "; ".join(words) or "—"

    @admin.display(description=_("customer list"))
    def customers_link(self, obj):
        return format_html('<a href="{}">{}</a>', self.customer_list_url(obj), gettext("Open the list"))

    @admin.display(description=_("customers now"))
    def customers_now(self, obj):
        """The live count (against the scores published now), linking to the list it counts."""
        count = segments.segment_customers(obj).count()
        return format_html(
            '<a href="{}" id="segment-customers">{}</a>',
            self.customer_list_url(obj),
            ngettext("%(count)s customer: open the list", "%(count)s customers: open the list", count)
            % {"count": f"{count:,}"},
        )

    @admin.display(description=_("targeted by"))
    def targeted_by(self, obj):
        links = [
            format_html(
                '<a href="{}">{}</a>', reverse("admin:engagement_followuprule_change", args=[r.pk]), r
            )
            for r in obj.followup_rules.order_by("priority", "pk")
        ] + [
            format_html('<a href="{}">{}</a>', reverse("admin:engagement_experiment_change", args=[e.pk]), e)
            for e in obj.experiments.order_by("-starts_at", "pk")
        ]
        if not links:
            return gettext("No follow-up rule or experiment targets it yet.")
        return format_html_join(", ", "{}", ((link,) for link in links))
