"""The action layer: follow-up rules staff edit, message templates, the brand's contact policy (quiet hours,
frequency caps, WeCom limits, the holdout, the delivery gateway), and every touch planned, suppressed, sent
and converted, with its reason.

A touch never holds personal data: it points at the customer; messages are rendered at send time and are
not stored.
"""

from __future__ import annotations

import datetime
import secrets
import string
import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.models import (
    BrandOwnedModel,
    BrandScopedQuerySet,
    TimeStampedModel,
    brand_field,
    same_brand_fk,
)


class Channel(models.TextChoices):
    """Channels a touch goes out on (the customer's preferred_touch_channel uses the same codes)."""

    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")
    WECOM = "wecom", _("WeCom")
    EMAIL = "email", _("Email")
    APP_PUSH = "app_push", _("App push")


class Gateway(models.TextChoices):
    CONSOLE = "console", _("Console (log only, for development)")
    WEBHOOK = "webhook", _("Signed webhook to the brand's gateway")


class HttpsURLField(models.URLField):
    """A URL field whose form fields read a link typed without a scheme as https (Django 6's default)."""

    def formfield(self, **kwargs):
        kwargs.setdefault("assume_scheme", "https")
        return super().formfield(**kwargs)


def new_salt() -> str:
    return secrets.token_hex(8)


class ContactPolicy(TimeStampedModel):
    """How and how often a brand may contact its customers; one per brand. Every guard is checked when a
    touch is planned and again when it is sent."""

    brand = models.OneToOneField(
        "brands.Brand", on_delete=models.CASCADE, related_name="contact_policy", verbose_name=_("brand")
    )
    quiet_start = models.TimeField(
        _("quiet hours start"),
        default=datetime.time(22, 0),
        help_text=_("No touch from this time (the brand's time zone)…"),
    )
    quiet_end = models.TimeField(
        _("quiet hours end"),
        default=datetime.time(8, 0),
        help_text=_("…until this time. A touch that would fall inside moves to the end of the quiet hours."),
    )
    cap_72h = models.PositiveSmallIntegerField(
        _("at most touches in 72 hours"),
        default=2,
        help_text=_("Across every channel, in any 72-hour span."),
    )
    cap_month = models.PositiveSmallIntegerField(
        _("at most touches a month"), default=8, help_text=_("Across every channel, per calendar month.")
    )
    holdout_percent = models.DecimalField(
        _("holdout (%)"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("5.00"),
        help_text=_(
            "This share of customers, chosen by a stable hash, never receives follow-up touches: the control "
            "group every result is measured against. 0 to 50."
        ),
    )
    holdout_salt = models.CharField(_("holdout salt"), max_length=32, default=new_salt, editable=False)
    attribution_hours = models.PositiveSmallIntegerField(
        _("attribution window (hours)"),
        default=72,
        help_text=_("A paid order this soon after a touch counts as its conversion."),
    )
    wecom_daily_per_sender = models.PositiveSmallIntegerField(
        _("WeCom: mass messages per customer per sender per day"), default=1
    )
    wecom_mass_max = models.PositiveIntegerField(_("WeCom: customers in one mass send"), default=20000)
    gateway = models.CharField(
        _("gateway for SMS, WeChat, WeCom and app push"),
        max_length=16,
        choices=Gateway.choices,
        default=Gateway.CONSOLE,
        help_text=_("E-mail goes through the site's e-mail backend."),
    )
    webhook_url = HttpsURLField(_("webhook URL"), blank=True)
    webhook_secret = models.CharField(
        _("webhook secret"),
        max_length=128,
        blank=True,
        help_text=_("Signs every request (HMAC-SHA256) and every delivery receipt."),
    )
    webhook_timeout_seconds = models.PositiveSmallIntegerField(_("webhook timeout (seconds)"), default=10)
    webhook_max_attempts = models.PositiveSmallIntegerField(_("webhook attempts"), default=3)
    landing_url = HttpsURLField(
        _("landing page"), blank=True, help_text=_("Where a click goes when the rule names no link.")
    )
    click_ttl_days = models.PositiveSmallIntegerField(_("click links expire after (days)"), default=14)
    learn_send_hour = models.BooleanField(
        _("learn the send hour"),
        default=True,
        help_text=_(
            "Once there are enough clicks, send at the hour with the best click-to-purchase rate for the "
            "customer's lifecycle stage."
        ),
    )
    min_timing_clicks = models.PositiveIntegerField(
        _("clicks needed per hour before it is learned"), default=30
    )

    class Meta:
        verbose_name = _("contact policy")
        verbose_name_plural = _("contact policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__gte=0, holdout_percent__lte=50),
                name="contactpolicy_holdout_range",
            ),
            models.CheckConstraint(condition=Q(cap_72h__gte=1), name="contactpolicy_cap_72h_positive"),
            models.CheckConstraint(condition=Q(cap_month__gte=1), name="contactpolicy_cap_month_positive"),
            models.CheckConstraint(
                condition=Q(attribution_hours__gte=1, attribution_hours__lte=720),
                name="contactpolicy_attribution_range",
            ),
            models.CheckConstraint(
                condition=Q(webhook_max_attempts__gte=1, webhook_max_attempts__lte=10),
                name="contactpolicy_attempts_range",
            ),
        ]

    def __str__(self):
        return gettext("Contact policy of %(brand)s") % {"brand": self.brand}

    def clean(self):
        super().clean()
        if self.gateway == Gateway.WEBHOOK and not (self.webhook_url and self.webhook_secret):
            raise ValidationError(
                {"webhook_url": _("The webhook gateway needs a URL and a secret.")}, code="webhook_incomplete"
            )
        if self.quiet_start == self.quiet_end:
            raise ValidationError(
                {"quiet_end": _("Quiet hours end when they start: leave them out by choosing other times.")}
            )


# --- templates -------------------------------------------------------------------------------------------

PLACEHOLDERS = {
    "brand": _("the brand's name"),
    "stream": _("the live stream's title"),
    "benefit": _("the benefit granted with the touch"),
    "tier": _("the customer's tier"),
    "link": _("the tracked link (a click is recorded, then the customer lands on the page)"),
    "recommendation": _("the product category recommended for the customer (co-purchase), or nothing"),
}


def template_placeholders(text: str) -> set[str]:
    """The {placeholders} a template uses; raises ValueError on a malformed one ("{", "{0}", "{x.y}")."""
    names = set()
    for _literal, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(field or "{}")
        names.add(field)
    return names


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", "简体中文"
    EN = "en", "English"


class MessageTemplate(BrandOwnedModel):
    """A message staff write once and rules reuse. Placeholders in braces: {brand}, {stream}, {benefit},
    {tier}, {link}. Default templates are English msgids, sent translated into the template's language as long
    as staff have not rewritten them."""

    code = models.SlugField(_("code"), max_length=64, db_index=False)
    name = models.CharField(_("name"), max_length=100)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS
    )
    subject = models.CharField(_("subject (e-mail)"), max_length=200, blank=True)
    body = models.TextField(_("message"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["brand", "code"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="messagetemplate_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "code"], name="messagetemplate_unique_code"),
        ]

    def __str__(self):
        return gettext(self.name) if self.name else self.code

    def clean(self):
        super().clean()
        for field in ("subject", "body"):
            try:
                unknown = template_placeholders(getattr(self, field)) - set(PLACEHOLDERS)
            except ValueError as exc:
                raise ValidationError(
                    {field: _("Malformed placeholder {%(name)s}: use {brand}, {stream}, …") % {"name": exc}}
                ) from None
            if unknown:
                raise ValidationError(
                    {
                        field: _("Unknown placeholder(s): %(names)s. Use %(known)s.")
                        % {
                            "names": ", ".join("{" + n + "}" for n in sorted(unknown)),
                            "known": ", ".join("{" + n + "}" for n in PLACEHOLDERS),
                        }
                    }
                )


# --- saved segments --------------------------------------------------------------------------------------


class SavedSegment(BrandOwnedModel):
    """Customers staff name and reuse: the customer list's filters (lifecycle stage, tier, RFM segment, churn
    risk, CLV band, community, acquisition, profile, consent, first seen), saved as the list's query string
    and evaluated live by apps.engagement.segments, against the scores published at that moment: the
    segment's count, the customer list it links to, and the follow-up rules and experiments that target it."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    filters = models.CharField(
        _("customer-list filters"),
        max_length=1000,
        help_text=_(
            "The customer list's filters as its address shows them after the question mark, e.g. "
            "stage=decline&churn_risk=high. Use “Save these filters as a segment” on the customer list to "
            "fill it in."
        ),
    )

    class Meta:
        verbose_name = _("saved segment")
        verbose_name_plural = _("saved segments")
        ordering = ["brand", "name"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="savedsegment_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "name"], name="savedsegment_unique_name"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        from apps.engagement.segments import segment_filters_clean

        if self.brand_id is not None:
            self.filters = segment_filters_clean(self.filters, brand_id=self.brand_id)

    @property
    def uses_scores(self) -> bool:
        """Whether the segment picks customers by model outputs (stage, tier, RFM, churn, CLV, at risk)."""
        from apps.engagement.segments import filters_use_scores

        return filters_use_scores(self.filters)


def segment_field(related_name: str):
    """The optional saved segment a rule or an experiment targets, on top of its own conditions. A segment in
    use cannot be deleted (the rule would silently reach everyone)."""
    return same_brand_fk(
        SavedSegment,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name=related_name,
        verbose_name=_("saved segment"),
        help_text=_(
            "Only customers in this saved segment, as its filters select them when the rule or experiment "
            "runs, and who also meet every condition set here."
        ),
    )


# --- rules -----------------------------------------------------------------------------------------------


class Trigger(models.TextChoices):
    STREAM_END = "stream_end", _("A live stream ended")
    WIN_BACK = "win_back", _("A customer entered the at-risk list or the decline stage")


class Audience(models.TextChoices):
    VIEWERS = "viewers", _("Viewers who did not buy in the stream")
    BUYERS = "buyers", _("Buyers of the stream")
    EVERYONE = "everyone", _("Everyone who watched or bought")


class FollowupRule(BrandOwnedModel):
    """Who is touched after an occasion (a stream that ended, or entering win-back), with which message, on
    which channel, when, and with which benefit. Conditions left empty match everyone; all set ones must
    hold. Rules are planned by priority (smaller first): a customer several rules match gets a touch from
    each, as far as the frequency caps allow."""

    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Smaller plans first.")
    )
    trigger = models.CharField(
        _("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.STREAM_END
    )
    audience = models.CharField(
        _("audience"), max_length=16, choices=Audience.choices, default=Audience.VIEWERS
    )
    stages = models.JSONField(
        _("lifecycle stages"), default=list, blank=True, help_text=_("None selected means any stage.")
    )
    tiers = models.ManyToManyField(
        "loyalty.Tier",
        blank=True,
        related_name="followup_rules",
        verbose_name=_("tiers"),
        help_text=_("None selected means any tier (and customers without one)."),
    )
    min_churn_probability = models.DecimalField(
        _("churn probability at least"), max_digits=4, decimal_places=3, null=True, blank=True
    )
    max_churn_probability = models.DecimalField(
        _("churn probability at most"), max_digits=4, decimal_places=3, null=True, blank=True
    )
    min_watch_minutes = models.PositiveIntegerField(_("watched at least (minutes)"), null=True, blank=True)
    min_interactions = models.PositiveIntegerField(
        _("interactions at least"),
        null=True,
        blank=True,
        help_text=_("Comments, likes and shares in the stream."),
    )
    min_prospect_propensity = models.DecimalField(
        _("first-purchase propensity at least"),
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=_("Prospects only: P(first purchase within the horizon) from the published scores."),
    )
    segment = segment_field("followup_rules")
    template = same_brand_fk(
        MessageTemplate, on_delete=models.RESTRICT, related_name="rules", verbose_name=_("message template")
    )
    channels = models.JSONField(
        _("channels, first to last"),
        default=list,
        help_text=_("Tried first to last, after the customer's preferred channel."),
    )
    benefit = same_brand_fk(
        "loyalty.Benefit",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="followup_rules",
        verbose_name=_("benefit granted with the touch"),
    )
    delay_min_hours = models.DecimalField(
        _("earliest send (hours after the occasion)"), max_digits=5, decimal_places=2, default=Decimal("6")
    )
    delay_max_hours = models.DecimalField(
        _("latest preferred send (hours after the occasion)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("12"),
        help_text=_("The send hour is chosen in this span (learned, or the earliest)."),
    )
    window_hours = models.PositiveSmallIntegerField(
        _("window (hours)"),
        default=72,
        help_text=_("A touch not sent this long after the occasion is dropped (the golden 72 hours)."),
    )
    skip_if_bought = models.BooleanField(
        _("skip customers who bought since"),
        default=True,
        help_text=_("At send time, a customer who placed a paid order since the occasion is not touched."),
    )
    wecom_sender = models.CharField(
        _("WeCom sender"),
        max_length=64,
        blank=True,
        help_text=_("The staff account WeCom messages go out from (limits count per sender)."),
    )
    link_url = HttpsURLField(_("link"), blank=True, help_text=_("Where {link} leads; else the landing page."))
    post_to_groups = models.BooleanField(
        _("also post in WeCom groups"),
        default=False,
        help_text=_(
            "Post the message once in each of the brand's WeCom groups that has a member this rule takes "
            "(stream follow-ups). A group receives at most as many messages a month as the month has days."
        ),
    )

    class Meta:
        verbose_name = _("follow-up rule")
        verbose_name_plural = _("follow-up rules")
        ordering = ["brand", "priority", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="followuprule_brand_id_key"),
            models.CheckConstraint(
                condition=Q(delay_min_hours__gte=0) & Q(delay_max_hours__gte=F("delay_min_hours")),
                name="followuprule_delays_ordered",
            ),
            models.CheckConstraint(
                condition=Q(window_hours__gte=1, window_hours__lte=720), name="followuprule_window_range"
            ),
        ]

    def __str__(self):
        return gettext(self.name) if self.name else str(self.pk)


# --- touches ---------------------------------------------------------------------------------------------


class TouchStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    SUPPRESSED = "suppressed", _("Suppressed")
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    CLICKED = "clicked", _("Clicked")
    CONVERTED = "converted", _("Converted")


# statuses that count toward frequency caps and WeCom limits (what went, or is about to go, out)
ACTIVE_STATUSES = (
    TouchStatus.PLANNED,
    TouchStatus.QUEUED,
    TouchStatus.SENT,
    TouchStatus.DELIVERED,
    TouchStatus.CLICKED,
    TouchStatus.CONVERTED,
)
# statuses of a touch that reached the gateway
SENT_STATUSES = (TouchStatus.SENT, TouchStatus.DELIVERED, TouchStatus.CLICKED, TouchStatus.CONVERTED)


class Reason(models.TextChoices):
    """Why an eligible customer got no touch (suppressed), or why a send failed."""

    HOLDOUT = "holdout", _("In the holdout (control group)")
    NO_CONSENT = "no_consent", _("No marketing consent")
    OPTED_OUT = "opted_out", _("Opted out of every channel the rule could use")
    ERASED = "erased", _("Personal data erased")
    PROFILING_OPT_OUT = "profiling_opt_out", _("Opted out of automated decisions (rule targets by scores)")
    NO_CHANNEL = "no_channel", _("No reachable channel")
    QUIET_HOURS = "quiet_hours", _("Quiet hours until the window closed")
    WINDOW_PASSED = "window_passed", _("The window had closed")
    CAP_72H = "cap_72h", _("Frequency cap (72 hours) reached")
    CAP_MONTH = "cap_month", _("Monthly cap reached")
    WECOM_DAILY = "wecom_daily", _("WeCom: daily limit per sender reached")
    ALREADY_BOUGHT = "already_bought", _("Bought since the occasion")
    RULE_INACTIVE = "rule_inactive", _("The rule was archived")
    GATEWAY_ERROR = "gateway_error", _("The gateway failed after every retry")
    GATEWAY_REJECTED = "gateway_rejected", _("The gateway refused the message")
    GROUP_MONTHLY = (
        "group_monthly",
        _("WeCom: the group's monthly limit reached (one message a day of the month)"),
    )


class TouchQuerySet(BrandScopedQuerySet):
    def due(self, now):
        return self.filter(status=TouchStatus.PLANNED, scheduled_at__lte=now)


class Touch(BrandOwnedModel):
    """One planned contact of one customer by one rule for one occasion, and what became of it. Eligible
    customers who got no touch have a row too (suppressed, with the reason); the holdout's rows are the
    control group (suppressed, reason holdout, with the time and channel they would have had)."""

    # enforced by the composite same-brand foreign keys to the customer and the rule
    brand = brand_field(constraint=False)
    customer = same_brand_fk(
        "customers.Customer", on_delete=models.CASCADE, related_name="touches", verbose_name=_("customer")
    )
    rule = same_brand_fk(
        FollowupRule, on_delete=models.RESTRICT, related_name="touches", verbose_name=_("rule")
    )
    occasion = models.CharField(_("occasion"), max_length=40, help_text=_("stream:<id> or run:<id>"))
    stream = same_brand_fk(
        "streams.Stream",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="touches",
        verbose_name=_("live stream"),
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    sender = models.CharField(_("sender"), max_length=64, blank=True)
    mass_send = models.PositiveIntegerField(_("WeCom mass send"), null=True, blank=True)
    stage = models.CharField(_("lifecycle stage"), max_length=12, blank=True)
    tier_code = models.CharField(_("tier"), max_length=32, blank=True)
    scheduled_at = models.DateTimeField(_("scheduled at"))
    window_ends_at = models.DateTimeField(_("window ends at"))
    send_hour = models.PositiveSmallIntegerField(_("send hour (brand time)"))
    status = models.CharField(_("status"), max_length=12, choices=TouchStatus.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    holdout = models.BooleanField(_("holdout"), default=False)
    key = models.UUIDField(_("idempotency key"), default=uuid.uuid4, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked at"), null=True, blank=True)
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    converted_order = same_brand_fk(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="touches",
        verbose_name=_("converted order"),
    )
    converted_amount = models.DecimalField(
        _("converted amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    benefit_grant = same_brand_fk(
        "loyalty.BenefitGrant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="touches",
        verbose_name=_("benefit grant"),
    )

    objects = TouchQuerySet.as_manager()

    class Meta:
        verbose_name = _("touch")
        verbose_name_plural = _("touches")
        ordering = ["brand", "-scheduled_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "key"], name="touch_unique_key"),
            # occasion first: it also serves the lookups of an occasion's touches
            models.UniqueConstraint(
                fields=["brand", "occasion", "rule", "customer"], name="touch_one_per_occasion_rule_customer"
            ),
            models.CheckConstraint(
                condition=~Q(status="suppressed") | ~Q(reason=""), name="touch_suppressed_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "status", "scheduled_at"], name="touch_brand_status_sched"),
            models.Index(fields=["brand", "customer", "scheduled_at"], name="touch_brand_cust_sched"),
            models.Index(fields=["brand", "rule", "scheduled_at"], name="touch_brand_rule_sched"),
            # the admin list's order: the latest first
            models.Index(fields=["brand", "-scheduled_at", "-id"], name="touch_brand_latest"),
        ]

    def __str__(self):
        return gettext("Touch of customer #%(customer)s (%(occasion)s)") % {
            "customer": self.customer_id,
            "occasion": self.occasion,
        }


class ChannelOptOut(BrandOwnedModel):
    """A customer who asked not to be contacted on a channel (channel "" = every channel)."""

    # enforced by the composite same-brand foreign key to the customer
    brand = brand_field(constraint=False)
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="channel_opt_outs",
        verbose_name=_("customer"),
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, blank=True, help_text=_("Empty: every channel.")
    )
    opted_out_at = models.DateTimeField(_("opted out at"))
    source = models.CharField(_("source"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("channel opt-out")
        verbose_name_plural = _("channel opt-outs")
        constraints = [
            models.UniqueConstraint(fields=["brand", "customer", "channel"], name="channeloptout_unique"),
        ]

    def __str__(self):
        return f"{self.customer_id}: {self.channel or '*'}"


class GroupPost(BrandOwnedModel):
    """One message posted in a brand's WeCom group for an occasion, by a rule that posts to groups. WeCom lets
    a customer group receive at most as many messages a month as the month has days; a post that would
    exceed it is suppressed with that reason. A group post reaches every member of the group, whatever
    their holdout arm: the holdout is drawn by a hash independent of group membership, so group posts are a
    common background of both arms and do not bias the touched-against-held-out comparison."""

    # enforced by the composite same-brand foreign keys to the community and the rule
    brand = brand_field(constraint=False)
    community = same_brand_fk(
        "communities.Community", on_delete=models.CASCADE, related_name="posts", verbose_name=_("community")
    )
    rule = same_brand_fk(
        FollowupRule, on_delete=models.RESTRICT, related_name="group_posts", verbose_name=_("rule")
    )
    occasion = models.CharField(_("occasion"), max_length=40, help_text=_("stream:<id>"))
    stream = same_brand_fk(
        "streams.Stream",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="group_posts",
        verbose_name=_("live stream"),
    )
    members_taken = models.PositiveIntegerField(
        _("members the rule takes"), default=0, help_text=_("Members of the group in the rule's audience.")
    )
    scheduled_at = models.DateTimeField(_("scheduled at"))
    window_ends_at = models.DateTimeField(_("window ends at"))
    status = models.CharField(_("status"), max_length=12, choices=TouchStatus.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    key = models.UUIDField(_("idempotency key"), default=uuid.uuid4, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("group post")
        verbose_name_plural = _("group posts")
        ordering = ["brand", "-scheduled_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="grouppost_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "key"], name="grouppost_unique_key"),
            models.UniqueConstraint(
                fields=["brand", "rule", "community", "occasion"],
                name="grouppost_one_per_rule_group_occasion",
            ),
            models.CheckConstraint(
                condition=~Q(status="suppressed") | ~Q(reason=""), name="grouppost_suppressed_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "status", "scheduled_at"], name="grouppost_brand_status_sched"),
            models.Index(fields=["brand", "community", "scheduled_at"], name="grouppost_brand_group_sched"),
        ]

    def __str__(self):
        return gettext("Group post to community #%(community)s (%(occasion)s)") % {
            "community": self.community_id,
            "occasion": self.occasion,
        }


# --- experiments -----------------------------------------------------------------------------------------


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")


class ExperimentPopulation(models.TextChoices):
    CUSTOMERS = "customers", _("Scored customers (bought before)")
    PROSPECTS = "prospects", _("Prospects (watched, never bought)")
    EVERYONE = "everyone", _("Scored customers and prospects")


class Metric(models.TextChoices):
    CONVERSION = "conversion", _("Conversion within the window")
    REVENUE = "revenue", _("Revenue per customer within the window")
    TIME_TO_PURCHASE = "time_to_purchase", _("Time to (re)purchase")
    CONVERSION_72H = "conversion_72h", _("Conversion within 72 hours of exposure")


class Experiment(BrandOwnedModel):
    """A randomised test of benefits or follow-up rules against a control. Customers of the target segment
    (the follow-up rules' segment language, read from the scores published when it starts) are assigned to
    arms by a stable hash of their external id and the experiment code; customers in the brand's follow-up
    holdout stay out. Assignment is intent to treat: every assigned customer counts in their arm."""

    code = models.SlugField(_("code"), max_length=40, db_index=False)
    name = models.CharField(_("name"), max_length=100)
    hypothesis = models.TextField(_("hypothesis"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT
    )
    population = models.CharField(
        _("population"),
        max_length=10,
        choices=ExperimentPopulation.choices,
        default=ExperimentPopulation.CUSTOMERS,
    )
    stages = models.JSONField(
        _("lifecycle stages"), default=list, blank=True, help_text=_("None selected means any stage.")
    )
    tiers = models.ManyToManyField(
        "loyalty.Tier",
        blank=True,
        related_name="experiments",
        verbose_name=_("tiers"),
        help_text=_("None selected means any tier (and customers without one)."),
    )
    min_churn_probability = models.DecimalField(
        _("churn probability at least"), max_digits=4, decimal_places=3, null=True, blank=True
    )
    max_churn_probability = models.DecimalField(
        _("churn probability at most"), max_digits=4, decimal_places=3, null=True, blank=True
    )
    min_prospect_propensity = models.DecimalField(
        _("first-purchase propensity at least"), max_digits=4, decimal_places=3, null=True, blank=True
    )
    segment = segment_field("experiments")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    primary_metric = models.CharField(
        _("primary metric"), max_length=20, choices=Metric.choices, default=Metric.CONVERSION
    )
    secondary_metrics = models.JSONField(_("secondary metrics"), default=list, blank=True)
    window_days = models.PositiveSmallIntegerField(
        _("conversion window (days)"), default=30, help_text=_("Counted from the start of the experiment.")
    )
    pre_period_days = models.PositiveSmallIntegerField(
        _("pre-period (days)"),
        default=90,
        help_text=_("Spend in this many days before the start is the CUPED covariate."),
    )
    min_detectable_effect = models.DecimalField(
        _("smallest effect worth detecting (relative)"),
        max_digits=5,
        decimal_places=3,
        default=Decimal("0.100"),
        # xgettext:no-python-format
        help_text=_("0.10 = a 10% higher conversion rate than control. Sets the power warning."),
    )
    alpha = models.DecimalField(
        _("significance level"), max_digits=4, decimal_places=3, default=Decimal("0.050")
    )
    started_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    run_id = models.BigIntegerField(_("scores used (model run)"), null=True, blank=True)

    objects = BrandScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("experiment")
        verbose_name_plural = _("experiments")
        ordering = ["brand", "-starts_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "code"], name="experiment_unique_code"),
            models.UniqueConstraint(fields=["brand", "id"], name="experiment_brand_id_key"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="experiment_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(alpha__gt=0, alpha__lt=Decimal("0.5")), name="experiment_alpha_range"
            ),
        ]

    def __str__(self):
        return self.code

    # the follow-up rules' segment language (planning.rule_exclusions reads these)
    trigger = "experiment"
    audience = ""
    min_watch_minutes = None
    min_interactions = None


class ArmTreatment(models.TextChoices):
    NOTHING = "nothing", _("Nothing (control or A/A)")
    BENEFIT = "benefit", _("Grant a benefit")
    RULE = "rule", _("Follow-up rule")


class ExperimentArm(BrandOwnedModel):
    brand = brand_field(constraint=False)
    experiment = same_brand_fk(
        Experiment, on_delete=models.CASCADE, related_name="arms", verbose_name=_("experiment")
    )
    code = models.SlugField(_("code"), max_length=32, db_index=False)
    name = models.CharField(_("name"), max_length=100)
    is_control = models.BooleanField(_("control"), default=False)
    share = models.PositiveSmallIntegerField(_("traffic share (%)"), default=50)
    treatment = models.CharField(
        _("treatment"), max_length=10, choices=ArmTreatment.choices, default=ArmTreatment.NOTHING
    )
    benefit = same_brand_fk(
        "loyalty.Benefit",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="experiment_arms",
        verbose_name=_("benefit"),
    )
    rule = same_brand_fk(
        FollowupRule,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="experiment_arms",
        verbose_name=_("follow-up rule"),
    )

    class Meta:
        verbose_name = _("arm")
        verbose_name_plural = _("arms")
        ordering = ["experiment", "-is_control", "code"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "experiment", "code"], name="arm_unique_code"),
            models.UniqueConstraint(fields=["brand", "id"], name="experimentarm_brand_id_key"),
            models.CheckConstraint(condition=Q(share__gte=1, share__lte=100), name="arm_share_range"),
            models.CheckConstraint(
                condition=(Q(treatment="benefit") & Q(benefit__isnull=False) & Q(rule__isnull=True))
                | (Q(treatment="rule") & Q(rule__isnull=False) & Q(benefit__isnull=True))
                | (Q(treatment="nothing") & Q(rule__isnull=True) & Q(benefit__isnull=True)),
                name="arm_treatment_matches",
            ),
        ]

    def __str__(self):
        return self.code


class ExperimentAssignment(BrandOwnedModel):
    """One customer's arm, with the covariates as they stood when the experiment started (no later data):
    spend in the pre-period, and the product's own prediction (expected revenue and P(purchase) within the
    horizon) from the scores published then."""

    brand = brand_field(constraint=False)
    experiment = same_brand_fk(
        Experiment, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("experiment")
    )
    arm = same_brand_fk(
        ExperimentArm, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("arm")
    )
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="experiment_assignments",
        verbose_name=_("customer"),
    )
    assigned_at = models.DateTimeField(_("assigned at"))
    exposed_at = models.DateTimeField(_("exposed at"), null=True, blank=True)
    pre_revenue = models.DecimalField(_("pre-period spend"), max_digits=14, decimal_places=2, default=0)
    pre_orders = models.PositiveIntegerField(_("pre-period purchases"), default=0)
    predicted_revenue = models.FloatField(_("predicted revenue at start"), null=True, blank=True)
    p_purchase = models.FloatField(_("P(purchase) at start"), null=True, blank=True)
    benefit_grant = same_brand_fk(
        "loyalty.BenefitGrant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="experiment_assignments",
        verbose_name=_("benefit grant"),
    )

    class Meta:
        verbose_name = _("experiment assignment")
        verbose_name_plural = _("experiment assignments")
        ordering = ["experiment", "customer"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "experiment", "customer"], name="assignment_one_per_customer"
            ),
        ]
        indexes = [models.Index(fields=["brand", "customer"], name="assignment_brand_customer")]

    def __str__(self):
        return gettext("Customer #%(customer)s in experiment #%(experiment)s") % {
            "customer": self.customer_id,
            "experiment": self.experiment_id,
        }


# --- next best action -------------------------------------------------------------------------------------


class ActionKind(models.TextChoices):
    BENEFIT = "benefit", _("Grant a benefit")
    FOLLOWUP = "followup", _("Follow up")
    WIN_BACK = "win_back", _("Win back (touch and benefit)")
    NOTHING = "nothing", _("Nothing for now")


class ActionBasis(models.TextChoices):
    UPLIFT_MODEL = "uplift_model", _("Uplift model from a finished experiment")
    MEASURED = "measured", _("Measured effect of follow-ups (holdout)")
    POLICY = "policy", _("Lifecycle policy (no measured effect yet)")


class NextAction(BrandOwnedModel):
    """What to do next for one scored customer or prospect, computed when a refresh publishes its scores, with
    the reasons (codes and figures, put into words when shown) and the expected gain: incremental gross
    margin over the horizon, less the benefit's expected cost; null when no measured effect supports a
    figure. Only the published run's actions are kept."""

    brand = brand_field(constraint=False)
    run_id = models.BigIntegerField(_("model run"))
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="next_actions",
        verbose_name=_("customer"),
    )
    action = models.CharField(_("action"), max_length=10, choices=ActionKind.choices)
    basis = models.CharField(_("basis"), max_length=12, choices=ActionBasis.choices)
    benefit = same_brand_fk(
        "loyalty.Benefit",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="next_actions",
        verbose_name=_("benefit"),
    )
    uplift = models.FloatField(_("estimated uplift in P(purchase)"), null=True, blank=True)
    expected_gain = models.DecimalField(
        _("expected gain"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    reasons = models.JSONField(_("reasons"), default=list)

    class Meta:
        verbose_name = _("next best action")
        verbose_name_plural = _("next best actions")
        ordering = ["brand", "customer"]
        constraints = [
            # customer before run: it also serves the lookup of a customer's action
            models.UniqueConstraint(
                fields=["brand", "customer", "run_id"], name="nextaction_one_per_customer"
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "action", "expected_gain"], name="nextaction_brand_action_gain"),
        ]

    def __str__(self):
        return gettext("Next action for customer #%(customer)s: %(action)s") % {
            "customer": self.customer_id,
            "action": self.get_action_display(),
        }
