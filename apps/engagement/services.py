"""Writes of the action layer that staff (admin, GraphQL) and the endpoints share: the contact policy,
templates and rules (validated, audited), defaults, opt-outs, clicks and delivery receipts.

Planning is in planning.py, sending in sending.py, attribution in attribution.py.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.models import Stage
from apps.audit.models import AuditAction
from apps.audit.services import audit_event, audit_record, audit_record_many, snapshot, stored_snapshot
from apps.engagement.defaults import DEFAULT_RULES, DEFAULT_TEMPLATES
from apps.engagement.models import (
    Audience,
    Channel,
    ChannelOptOut,
    ContactPolicy,
    FollowupRule,
    Gateway,
    MessageTemplate,
    Reason,
    Touch,
    TouchStatus,
    Trigger,
)

logger = logging.getLogger(__name__)

CLICK_SALT = "engagement.click"


# --- defaults ------------------------------------------------------------------------------------------


def contact_policy_ensure(*, brand) -> ContactPolicy:
    """The brand's contact policy, created with the defaults when missing."""
    policy, _created = ContactPolicy.objects.get_or_create(brand=brand)
    return policy


@transaction.atomic
def engagement_defaults_ensure(*, brand, actor=None) -> None:
    """Add the contact policy, default templates and rules a brand is missing. Never overwrites staff
    edits: a default rule is added only while the brand has no rule of its trigger and audience."""
    from apps.loyalty.models import Benefit

    contact_policy_ensure(brand=brand)
    added = []
    templates = {}
    for code, name, subject, body in DEFAULT_TEMPLATES:
        templates[code], created = MessageTemplate.objects.get_or_create(
            brand=brand, code=code, defaults={"name": name, "subject": subject, "body": body}
        )
        added += [templates[code]] if created else []
    benefits = {b.code: b for b in Benefit.objects.filter(brand=brand, is_active=True)}
    for spec in DEFAULT_RULES:
        if FollowupRule.objects.filter(
            brand=brand, trigger=spec["trigger"], audience=spec["audience"]
        ).exists():
            continue
        values = {
            **spec,
            "template": templates[spec["template"]],
            "benefit": benefits.get(spec.get("benefit", "")),
        }
        rule = FollowupRule.objects.create(brand=brand, **values)
        added.append(rule)
    audit_record_many(
        audit_event(actor=actor, action=AuditAction.CREATED, obj=row, after=snapshot(row)) for row in added
    )


# --- validation helpers ---------------------------------------------------------------------------------


def _assign(instance, changes: dict, allowed: tuple[str, ...]) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"not editable here: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        field = instance._meta.get_field(name)
        if value is None and not field.null:  # e.g. a GraphQL patch's null: the column cannot hold it
            raise _bad(name, field.error_messages["null"], "null")
        setattr(instance, name, value)


def _audited_save(instance, *, actor) -> None:
    before = stored_snapshot(instance)
    instance.full_clean(validate_unique=False, validate_constraints=False)
    instance.save()
    action = AuditAction.CREATED if before is None else AuditAction.UPDATED
    audit_record(
        actor=actor, action=action, obj=instance, before=before, after=snapshot(instance), skip_unchanged=True
    )


def _bad(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


# --- the contact policy ---------------------------------------------------------------------------------

POLICY_FIELDS = (
    "quiet_start",
    "quiet_end",
    "cap_72h",
    "cap_month",
    "holdout_percent",
    "attribution_hours",
    "wecom_daily_per_sender",
    "wecom_mass_max",
    "gateway",
    "webhook_url",
    "webhook_secret",
    "webhook_timeout_seconds",
    "webhook_max_attempts",
    "landing_url",
    "click_ttl_days",
    "learn_send_hour",
    "min_timing_clicks",
)


@transaction.atomic
def contact_policy_update(*, policy: ContactPolicy, actor=None, **changes) -> ContactPolicy:
    """Change some of POLICY_FIELDS. Each value is checked with a message naming the field."""
    _assign(policy, changes, POLICY_FIELDS)
    if policy.holdout_percent is not None and not 0 <= policy.holdout_percent <= 50:
        raise _bad("holdout_percent", _("The holdout is 0 to 50 percent of customers."))
    for field, low, high in (
        ("cap_72h", 1, 50),
        ("cap_month", 1, 500),
        ("attribution_hours", 1, 720),
        ("webhook_max_attempts", 1, 10),
        ("webhook_timeout_seconds", 1, 120),
        ("click_ttl_days", 1, 365),
        ("wecom_mass_max", 1, 20000),
    ):
        value = getattr(policy, field)
        if value is not None and not low <= value <= high:
            raise _bad(field, _("Use a value from %(low)d to %(high)d.") % {"low": low, "high": high})
    if policy.gateway not in Gateway.values:
        raise _bad("gateway", _("Choose console or webhook."))
    _audited_save(policy, actor=actor)
    return policy


# --- templates ------------------------------------------------------------------------------------------

TEMPLATE_FIELDS = ("code", "name", "language", "subject", "body", "is_active")


def _template_check(template: MessageTemplate) -> None:
    taken = MessageTemplate.objects.filter(brand_id=template.brand_id, code=template.code).exclude(
        pk=template.pk
    )
    if template.code and taken.exists():
        raise _bad(
            "code",
            _("A template with the code %(code)s already exists in this brand.") % {"code": template.code},
            "unique",
        )
    if not (template.body or "").strip():
        raise _bad("body", _("Write the message."), "required")


@transaction.atomic
def message_template_create(*, brand, actor=None, **values) -> MessageTemplate:
    _assign(MessageTemplate(), values, TEMPLATE_FIELDS)
    template = MessageTemplate(brand=brand, **values)
    _template_check(template)
    _audited_save(template, actor=actor)
    return template


@transaction.atomic
def message_template_update(*, template: MessageTemplate, actor=None, **changes) -> MessageTemplate:
    _assign(template, changes, TEMPLATE_FIELDS)
    _template_check(template)
    _audited_save(template, actor=actor)
    return template


# --- rules ----------------------------------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "is_active",
    "priority",
    "trigger",
    "audience",
    "stages",
    "min_churn_probability",
    "max_churn_probability",
    "min_watch_minutes",
    "min_interactions",
    "min_prospect_propensity",
    "segment",
    "template",
    "channels",
    "benefit",
    "delay_min_hours",
    "delay_max_hours",
    "window_hours",
    "skip_if_bought",
    "wecom_sender",
    "link_url",
    "post_to_groups",
)


def _rule_check(rule: FollowupRule, tiers) -> None:
    if not (rule.name or "").strip():
        raise _bad("name", _("Give the rule a name."), "required")
    if rule.trigger not in Trigger.values:
        raise _bad("trigger", _("Choose stream_end or win_back."))
    if rule.audience not in Audience.values:
        raise _bad("audience", _("Choose viewers, buyers or everyone."))
    channels = rule.channels
    if not isinstance(channels, list) or not channels:
        raise _bad("channels", _("Choose at least one channel."), "required")
    unknown = [c for c in channels if c not in Channel.values]
    if unknown or len(set(channels)) != len(channels):
        raise _bad(
            "channels",
            _("Channels are listed once each, from %(known)s.") % {"known": ", ".join(Channel.values)},
        )
    stages = rule.stages
    if not isinstance(stages, list) or any(s not in Stage.values for s in stages):
        raise _bad("stages", _("Stages are chosen from %(known)s.") % {"known": ", ".join(Stage.values)})
    for field in ("min_churn_probability", "max_churn_probability", "min_prospect_propensity"):
        value = getattr(rule, field)
        if value is not None and not 0 <= value <= 1:
            raise _bad(field, _("A probability is between 0 and 1."))
    low, high = rule.min_churn_probability, rule.max_churn_probability
    if low is not None and high is not None and low > high:
        raise _bad("max_churn_probability", _("The upper churn bound is below the lower one."))
    if rule.delay_min_hours is None or rule.delay_min_hours < 0:
        raise _bad("delay_min_hours", _("The earliest send is 0 hours or more after the occasion."))
    if rule.delay_max_hours is None or rule.delay_max_hours < rule.delay_min_hours:
        raise _bad("delay_max_hours", _("The latest preferred send is not before the earliest."))
    if rule.window_hours is None or not 1 <= rule.window_hours <= 720:
        raise _bad("window_hours", _("The window is 1 to 720 hours."))
    if rule.delay_min_hours >= rule.window_hours:
        raise _bad("delay_min_hours", _("The earliest send must fall inside the window."))
    if rule.template_id is None:
        raise _bad("template", _("Choose a message template."), "required")
    if rule.template.brand_id != rule.brand_id:
        raise _bad("template", _("The template belongs to another brand."))
    if not rule.template.is_active:
        raise _bad("template", _("This template is archived."))
    if rule.benefit_id is not None:
        if rule.benefit.brand_id != rule.brand_id:
            raise _bad("benefit", _("The benefit belongs to another brand."))
        if not rule.benefit.is_active:
            raise _bad("benefit", _("This benefit is archived; it cannot be granted."))
    if tiers is not None and any(t.brand_id != rule.brand_id for t in tiers):
        raise _bad("tiers", _("Some tiers belong to another brand."))
    if rule.segment_id is not None and rule.segment.brand_id != rule.brand_id:
        raise _bad("segment", _("The saved segment belongs to another brand."))


@transaction.atomic
def followup_rule_create(*, brand, tiers=None, actor=None, **values) -> FollowupRule:
    """A new rule. `tiers`: Tier rows (empty: any tier). Every value is checked with a message naming it."""
    _assign(FollowupRule(), values, RULE_FIELDS)
    values.setdefault("channels", [])
    rule = FollowupRule(brand=brand, **values)
    tiers = list(tiers or [])
    _rule_check(rule, tiers)
    _audited_save(rule, actor=actor)
    rule.tiers.set(tiers)
    return rule


@transaction.atomic
def followup_rule_update(*, rule: FollowupRule, tiers=None, actor=None, **changes) -> FollowupRule:
    """Change some of RULE_FIELDS (and the tiers when given). Touches already planned keep their plan."""
    _assign(rule, changes, RULE_FIELDS)
    tiers = list(tiers) if tiers is not None else None
    _rule_check(rule, tiers)
    _audited_save(rule, actor=actor)
    if tiers is not None:
        rule.tiers.set(tiers)
    return rule


@transaction.atomic
def followup_rule_archive(*, rule: FollowupRule, actor=None) -> FollowupRule:
    """Stop a rule: no new plan uses it, and its touches not yet sent are suppressed at send time."""
    if rule.is_active:
        rule.is_active = False
        rule.save(update_fields=["is_active", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVED,
            obj=rule,
            before={"is_active": True},
            after={"is_active": False},
        )
    return rule


# --- opt-outs -------------------------------------------------------------------------------------------


@transaction.atomic
def channel_opt_out(
    *, brand, customer, channel: str = "", source: str = "", when=None, actor=None
) -> ChannelOptOut:
    """Record that a customer asked not to be contacted on `channel` ("" = every channel). Idempotent.
    Touches not yet sent are suppressed when their turn comes (the guards run again at send time)."""
    if customer.brand_id != brand.pk:
        raise _bad("customer", _("The customer belongs to another brand."))
    if channel and channel not in Channel.values:
        raise _bad("channel", _("Unknown channel %(channel)s.") % {"channel": channel})
    row, created = ChannelOptOut.objects.get_or_create(
        brand=brand,
        customer=customer,
        channel=channel,
        defaults={"opted_out_at": when or timezone.now(), "source": source[:32]},
    )
    if created:
        audit_record(actor=actor, action=AuditAction.CREATED, obj=row, after=snapshot(row))
    return row


# --- clicks and delivery receipts ---------------------------------------------------------------------


class LinkError(Exception):
    """A click link that is not valid (code "invalid") or has expired (code "expired")."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def click_token(brand_id: int, key) -> str:
    """The signed token of a touch's tracked link: its brand and idempotency key, with a timestamp."""
    return signing.TimestampSigner(salt=CLICK_SALT).sign(f"{brand_id}.{key}")


@dataclass
class Click:
    touch: Touch
    url: str  # where to send the customer


def touch_click(*, token: str, now: datetime | None = None) -> Click:
    """Record a click on a touch's link and say where it leads. The signature is checked first, then the
    age against the brand's click_ttl_days. A second click is recorded once (clicked_at stays the first)."""
    signer = signing.TimestampSigner(salt=CLICK_SALT)
    try:
        value = signer.unsign(token)
    except signing.BadSignature:
        raise LinkError("invalid") from None
    brand_id, _dot, key = value.partition(".")
    try:
        key = uuid.UUID(key)
        brand_id = int(brand_id)
    except ValueError:
        raise LinkError("invalid") from None
    touch = (
        Touch.objects.select_related("rule", "brand__contact_policy")
        .filter(brand_id=brand_id, key=key)
        .first()
    )
    if touch is None:
        raise LinkError("invalid")
    policy = touch.brand.contact_policy
    try:
        signer.unsign(token, max_age=policy.click_ttl_days * 86400)
    except signing.SignatureExpired:
        raise LinkError("expired") from None
    now = now or timezone.now()
    Touch.objects.filter(pk=touch.pk, clicked_at__isnull=True).update(clicked_at=now, updated_at=now)
    Touch.objects.filter(pk=touch.pk, status__in=[TouchStatus.SENT, TouchStatus.DELIVERED]).update(
        status=TouchStatus.CLICKED, updated_at=now
    )
    url = touch.rule.link_url or policy.landing_url
    return Click(touch=touch, url=url)


RECEIPT_STATUSES = {"delivered": TouchStatus.DELIVERED, "failed": TouchStatus.FAILED}


def touch_receipt(*, brand, key: str, status: str, reason: str = "", when: datetime | None = None) -> Touch:
    """A delivery receipt from the gateway: the touch with this idempotency key was delivered or failed.
    Only a touch that went out moves (a clicked or converted one stays). Raises ValueError on bad input."""
    if status not in RECEIPT_STATUSES:
        raise ValueError(_("status must be delivered or failed"))
    try:
        touch_key = uuid.UUID(str(key))
    except ValueError:
        raise ValueError(_("key is not an idempotency key of this product")) from None
    touch = Touch.objects.filter(brand=brand, key=touch_key).first()
    if touch is None:
        raise ValueError(_("no touch has this key"))
    when = when or timezone.now()
    if status == "delivered":
        Touch.objects.filter(pk=touch.pk, status=TouchStatus.SENT).update(
            status=TouchStatus.DELIVERED, delivered_at=when, updated_at=when
        )
    else:
        Touch.objects.filter(pk=touch.pk, status__in=[TouchStatus.SENT, TouchStatus.QUEUED]).update(
            status=TouchStatus.FAILED,
            reason=Reason.GATEWAY_REJECTED,
            last_error=reason[:200],
            updated_at=when,
        )
    touch.refresh_from_db()
    return touch
