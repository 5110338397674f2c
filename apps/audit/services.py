"""Recording audit events. The loyalty services call audit_record for every write they make; admin paths that
write rows directly (inline formsets, deletes) call it too.

An actor is whoever the caller says made the change: a Django user (request.user in the admin), the API token
principal of a GraphQL request (apps.api.auth.TokenPrincipal), or None for the system (commands, defaults).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from apps.audit.models import ActorKind, AuditAction, AuditEvent, AuditObjectType

# What is recorded of each audited model: its type code and the fields whose values go into `changes`.
AUDITED = {
    "loyalty.tier": (
        AuditObjectType.TIER,
        ("code", "name", "rank", "description", "is_active", "demotion_grace_days"),
    ),
    "loyalty.benefit": (
        AuditObjectType.BENEFIT,
        ("code", "name", "kind", "value", "validity_days", "description", "is_active"),
    ),
    "loyalty.tierbenefit": (AuditObjectType.TIER_BENEFIT, ("tier", "benefit", "quota")),
    "loyalty.tierrule": (
        AuditObjectType.TIER_RULE,
        (
            "tier",
            "min_clv",
            "min_clv_percentile",
            "max_churn_probability",
            "min_rfm_score",
            "rfm_segments",
            "is_active",
        ),
    ),
    "loyalty.benefitgrant": (
        AuditObjectType.BENEFIT_GRANT,
        ("customer", "benefit", "source", "granted_at", "expires_at", "redeemed_at", "revoked_at", "note"),
    ),
    # the webhook secret is left out: an audit record must not hold it
    "engagement.contactpolicy": (
        AuditObjectType.CONTACT_POLICY,
        (
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
            "webhook_timeout_seconds",
            "webhook_max_attempts",
            "landing_url",
            "click_ttl_days",
            "learn_send_hour",
            "min_timing_clicks",
        ),
    ),
    "engagement.messagetemplate": (
        AuditObjectType.MESSAGE_TEMPLATE,
        ("code", "name", "language", "subject", "body", "is_active"),
    ),
    "engagement.followuprule": (
        AuditObjectType.FOLLOWUP_RULE,
        (
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
        ),
    ),
    "engagement.channeloptout": (
        AuditObjectType.CHANNEL_OPT_OUT,
        ("customer", "channel", "opted_out_at", "source"),
    ),
    "engagement.experiment": (
        AuditObjectType.EXPERIMENT,
        (
            "code",
            "name",
            "hypothesis",
            "status",
            "population",
            "stages",
            "min_churn_probability",
            "max_churn_probability",
            "min_prospect_propensity",
            "segment",
            "starts_at",
            "ends_at",
            "primary_metric",
            "secondary_metrics",
            "window_days",
            "pre_period_days",
            "min_detectable_effect",
            "alpha",
            "started_at",
            "run_id",
        ),
    ),
}


# Free text staff type about a customer may hold a name, a phone number or a WeChat id: the trail records that it
# was set or changed, never what it says.
WITHHELD = "[withheld]"
WITHHELD_FIELDS = {"loyalty.benefitgrant": ("note",)}


def withheld(value):
    """A recorded value of free text: "[withheld]" for any text, empty and missing values as they are."""
    return WITHHELD if isinstance(value, str) and value else value


def _spec(obj):
    try:
        return AUDITED[obj._meta.label_lower]
    except KeyError:
        raise TypeError(f"{obj._meta.label} is not audited") from None


def json_value(value):
    """A field value as JSON can hold it: decimals and dates as text, model rows as their id."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def snapshot(obj) -> dict:
    """The audited fields of a row, JSON-ready (foreign keys as ids, under the field's name)."""
    _type, fields = _spec(obj)
    values = {}
    for name in fields:
        field = obj._meta.get_field(name)
        values[name] = json_value(getattr(obj, field.attname))
    return values


def stored_snapshot(instance) -> dict | None:
    """The audited fields of the row as the database holds it now (None for a new or vanished row). Callers
    such as the admin hand over instances that already carry the new values, so the old ones come from here."""
    if instance.pk is None:
        return None
    stored = type(instance)._base_manager.filter(pk=instance.pk).first()
    return snapshot(stored) if stored is not None else None


def diff(before: dict | None, after: dict | None) -> dict:
    """{field: [old, new]} for the fields whose value differs (a missing side counts as None)."""
    before, after = before or {}, after or {}
    out = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if old != new:
            out[name] = [old, new]
    return out


def object_repr(obj) -> str:
    """A short description of the row from brand data only (codes, names, ids), never personal data."""
    label = obj._meta.label_lower
    if label in ("loyalty.tier", "loyalty.benefit"):
        text = f"{obj.name} [{obj.code}]" if obj.name else obj.code
    elif label == "loyalty.tierbenefit":
        text = f"{_code(obj, 'tier')} ↔ {_code(obj, 'benefit')}"
    elif label == "loyalty.tierrule":
        text = _code(obj, "tier")
    elif label == "loyalty.benefitgrant":
        text = f"{_code(obj, 'benefit')} → #{obj.customer_id}"
    elif label == "engagement.messagetemplate":
        text = f"{obj.name} [{obj.code}]" if obj.name else obj.code
    elif label == "engagement.followuprule":
        text = obj.name or str(obj.pk)
    elif label == "engagement.channeloptout":
        text = f"#{obj.customer_id}: {obj.channel or '*'}"
    elif label == "engagement.contactpolicy":
        text = f"brand {obj.brand_id}"
    else:
        text = str(obj.pk)
    return text[:200]


def _code(obj, relation: str) -> str:
    related_id = getattr(obj, obj._meta.get_field(relation).attname)
    if related_id is None:
        return "-"
    try:
        return getattr(obj, relation).code
    except ObjectDoesNotExist:
        return f"#{related_id}"


def actor_fields(actor) -> dict:
    """The actor columns of an event: a Django user, an API token principal, or the system (None)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {
            "actor_kind": ActorKind.SYSTEM,
            "actor_user_id": None,
            "actor_token_id": None,
            "actor_label": "",
        }
    token = getattr(actor, "api_token", None)
    if token is not None:
        return {
            "actor_kind": ActorKind.API_TOKEN,
            "actor_user_id": None,
            "actor_token_id": token.pk,
            "actor_label": str(token)[:150],
        }
    return {
        "actor_kind": ActorKind.USER,
        "actor_user_id": actor.pk,
        "actor_token_id": None,
        "actor_label": actor.get_username()[:150],
    }


def audit_event(
    *, actor, action: str, obj, before: dict | None = None, after: dict | None = None
) -> AuditEvent:
    """An unsaved event for a change of `obj` from `before` to `after` (snapshots; None: did not exist)."""
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action: {action}")
    object_type, _fields = _spec(obj)
    changes = diff(before, after)  # compared as they are, so a changed note is recorded as changed
    for name in WITHHELD_FIELDS.get(obj._meta.label_lower, ()):
        if name in changes:
            changes[name] = [withheld(value) for value in changes[name]]
    return AuditEvent(
        brand_id=obj.brand_id,
        action=action,
        object_type=object_type,
        object_id=obj.pk,
        object_repr=object_repr(obj),
        changes=changes,
        **actor_fields(actor),
    )


def audit_withhold(*, brand_id: int, label: str, object_ids: Iterable[int], fields: Iterable[str]) -> int:
    """Withhold the recorded values of free-text `fields` in the events of these rows of model `label` (e.g.
    "engagement.channeloptout"), for a customer's erasure. Returns how many events changed."""
    object_type, _fields = AUDITED[label]
    fields = tuple(fields)
    events = []
    for event in AuditEvent.objects.filter(
        brand_id=brand_id, object_type=object_type, object_id__in=list(object_ids)
    ).only("pk", "changes"):
        changed = False
        for name in fields:
            pair = event.changes.get(name)
            if isinstance(pair, list) and any(withheld(value) != value for value in pair):
                event.changes[name] = [withheld(value) for value in pair]
                changed = True
        if changed:
            events.append(event)
    if events:
        AuditEvent.objects.bulk_update(events, ["changes"])
    return len(events)


def audit_erasure(
    *, actor, brand_id: int, customer_id: int, erased_at: dt.datetime, counts: dict[str, int], label: str = ""
) -> AuditEvent:
    """Record that a customer's personal data was erased: who, when, the customer's id and how many rows of
    each kind were cleared or withheld (`counts`). No personal data: the customer is named by id only.
    `label` names a system actor (a command) when there is no user or token."""
    fields = actor_fields(actor)
    if fields["actor_kind"] == ActorKind.SYSTEM and label:
        fields["actor_label"] = label[:150]
    return AuditEvent.objects.create(
        brand_id=brand_id,
        occurred_at=erased_at,
        action=AuditAction.ERASED,
        object_type=AuditObjectType.CUSTOMER,
        object_id=customer_id,
        object_repr=f"#{customer_id}",
        changes={"erased_at": [None, erased_at.isoformat()], **{k: [None, v] for k, v in counts.items()}},
        **fields,
    )


def audit_export(*, actor, brand_id: int, rows: int, filters: str, personal_data: bool) -> AuditEvent:
    """Record that a list of customers left the product: who, how many rows, which filters, and whether
    personal data was in it. No personal data in the event itself."""
    return AuditEvent.objects.create(
        brand_id=brand_id,
        action=AuditAction.EXPORTED,
        object_type=AuditObjectType.CUSTOMER_LIST,
        object_id=0,
        object_repr=f"{rows} customers",
        changes={
            "rows": [None, rows],
            "filters": [None, filters[:500]],
            "personal_data": [None, personal_data],
        },
        **actor_fields(actor),
    )


def audit_record(
    *,
    actor,
    action: str,
    obj,
    before: dict | None = None,
    after: dict | None = None,
    skip_unchanged: bool = False,
) -> AuditEvent | None:
    """Record one change. With skip_unchanged, an update that changed no audited field records nothing."""
    event = audit_event(actor=actor, action=action, obj=obj, before=before, after=after)
    if skip_unchanged and not event.changes:
        return None
    event.save()
    return event


def audit_record_many(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Save unsaved events (from audit_event) in one query."""
    events = list(events)
    return AuditEvent.objects.bulk_create(events) if events else []
