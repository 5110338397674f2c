"""Writes for tiers and benefits, and the tier layer a score refresh calls."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.models import AuditAction
from apps.audit.services import audit_event, audit_record, audit_record_many, snapshot, stored_snapshot
from apps.loyalty import selectors
from apps.loyalty.defaults import DEFAULT_BENEFITS, DEFAULT_TIER_BENEFITS, DEFAULT_TIER_RULES, DEFAULT_TIERS
from apps.loyalty.models import (
    Benefit,
    BenefitGrant,
    GrantSource,
    Tier,
    TierBenefit,
    TierRule,
)

logger = logging.getLogger(__name__)


@transaction.atomic
def loyalty_defaults_ensure(*, brand, actor=None) -> None:
    """Add the default tiers, benefits, links and tier rules a brand is missing. Never overwrites staff edits.
    What it adds is recorded in the audit trail (actor None: the system)."""
    tiers, benefits, added = {}, {}, []
    for code, name, rank, description, grace in DEFAULT_TIERS:
        tiers[code], created = Tier.objects.get_or_create(
            brand=brand,
            code=code,
            defaults={"name": name, "rank": rank, "description": description, "demotion_grace_days": grace},
        )
        added += [tiers[code]] if created else []
    for code, name, kind, value, validity in DEFAULT_BENEFITS:
        benefits[code], created = Benefit.objects.get_or_create(
            brand=brand,
            code=code,
            defaults={"name": name, "kind": kind, "value": value, "validity_days": validity},
        )
        added += [benefits[code]] if created else []
    for tier_code, links in DEFAULT_TIER_BENEFITS.items():
        for benefit_code, quota in links:
            link, created = TierBenefit.objects.get_or_create(
                brand=brand, tier=tiers[tier_code], benefit=benefits[benefit_code], defaults={"quota": quota}
            )
            added += [link] if created else []
    for tier_code, conditions in DEFAULT_TIER_RULES.items():
        rule, created = TierRule.objects.get_or_create(
            brand=brand, tier=tiers[tier_code], defaults=conditions
        )
        added += [rule] if created else []
    audit_record_many(
        audit_event(actor=actor, action=AuditAction.CREATED, obj=row, after=snapshot(row)) for row in added
    )


# --- Tiers, benefits, tier rules and grants edited by staff (admin, GraphQL) --------------------------
#
# Every write validates the whole row and raises a ValidationError whose dict names the field, so the
# admin shows it beside the field and GraphQL reports "<field>: <message>". "Archive" deactivates: rows
# stay for history (grants, tier changes and scores point at them).

TIER_FIELDS = ("code", "name", "rank", "description", "is_active", "demotion_grace_days")
BENEFIT_FIELDS = ("code", "name", "kind", "value", "validity_days", "description", "is_active")
TIER_RULE_FIELDS = (
    "min_clv",
    "min_clv_percentile",
    "max_churn_probability",
    "min_rfm_score",
    "rfm_segments",
    "is_active",
)
GRANT_BATCH_MAX = 1000
# sources staff (or a frontend app) may grant with; "tier" grants follow tier changes only
GRANTABLE_SOURCES = (GrantSource.MANUAL, GrantSource.CAMPAIGN)


def _assign(instance, changes: dict, allowed: tuple[str, ...]) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"not editable here: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(instance, name, value)


def _code_unique(model, instance, message: str) -> None:
    taken = model.objects.filter(brand_id=instance.brand_id, code=instance.code).exclude(pk=instance.pk)
    if instance.code and taken.exists():
        raise ValidationError(
            {"code": ValidationError(message, code="unique", params={"code": instance.code})}
        )


def _audited_save(instance, *, actor, exclude: tuple[str, ...] = ()) -> None:
    """Validate and save the row, and record the creation or the fields that changed."""
    before = stored_snapshot(instance)
    _validated_save(instance, exclude=exclude)
    action = AuditAction.CREATED if before is None else AuditAction.UPDATED
    audit_record(
        actor=actor, action=action, obj=instance, before=before, after=snapshot(instance), skip_unchanged=True
    )


def _audited_archive(instance, *, actor):
    """Deactivate the row (is_active) and record it; an archived row is left as it is."""
    if instance.is_active:
        instance.is_active = False
        instance.save(update_fields=["is_active", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.ARCHIVED,
            obj=instance,
            before={"is_active": True},
            after={"is_active": False},
        )
    return instance


def _validated_save(instance, *, exclude: tuple[str, ...] = ()) -> None:
    # Uniqueness and check constraints are checked with named messages by the callers; full_clean covers
    # required fields, lengths, choices, decimals and cross-brand links.
    instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    instance.save()


def _tier_check(tier: Tier) -> None:
    _code_unique(Tier, tier, _("A tier with the code %(code)s already exists in this brand."))
    if tier.rank is not None and tier.rank < 1:
        raise ValidationError(
            {"rank": ValidationError(_("Rank 1 is the most valuable tier; use 1 or more."))}
        )
    if tier.demotion_grace_days is not None and not 0 <= tier.demotion_grace_days <= 3650:
        raise ValidationError(
            {"demotion_grace_days": ValidationError(_("The grace period is 0 to 3650 days."))}
        )


@transaction.atomic
def tier_create(
    *,
    brand,
    code: str,
    name: str,
    rank: int,
    description: str = "",
    is_active: bool = True,
    demotion_grace_days: int = 0,
    actor=None,
) -> Tier:
    """A new tier of the brand. Customers move into it at the next refresh, once it has a rule.

    `actor` (every write below takes one): the staff user or API token principal making the change, recorded
    in the audit trail; None for the system."""
    tier = Tier(
        brand=brand,
        code=code,
        name=name,
        rank=rank,
        description=description,
        is_active=is_active,
        demotion_grace_days=demotion_grace_days,
    )
    _tier_check(tier)
    _audited_save(tier, actor=actor)
    return tier


@transaction.atomic
def tier_update(*, tier: Tier, actor=None, **changes) -> Tier:
    """Change some of code, name, rank, description, is_active, demotion_grace_days."""
    _assign(tier, changes, TIER_FIELDS)
    _tier_check(tier)
    _audited_save(tier, actor=actor)
    return tier


@transaction.atomic
def tier_archive(*, tier: Tier, actor=None) -> Tier:
    """Deactivate a tier: refreshes stop assigning it (its customers move at the next refresh); history,
    grants and benefit links stay."""
    return _audited_archive(tier, actor=actor)


def _benefit_check(benefit: Benefit) -> None:
    _code_unique(Benefit, benefit, _("A benefit with the code %(code)s already exists in this brand."))
    if benefit.value is not None and benefit.value < 0:
        raise ValidationError({"value": ValidationError(_("The value cannot be negative."))})
    if benefit.validity_days is not None and benefit.validity_days < 1:
        raise ValidationError({"validity_days": ValidationError(_("A benefit is valid for at least 1 day."))})


@transaction.atomic
def benefit_create(
    *,
    brand,
    code: str,
    name: str,
    kind: str,
    value=0,
    validity_days: int = 30,
    description: str = "",
    is_active: bool = True,
    actor=None,
) -> Benefit:
    benefit = Benefit(
        brand=brand,
        code=code,
        name=name,
        kind=kind,
        value=value,
        validity_days=validity_days,
        description=description,
        is_active=is_active,
    )
    _benefit_check(benefit)
    _audited_save(benefit, actor=actor)
    return benefit


@transaction.atomic
def benefit_update(*, benefit: Benefit, actor=None, **changes) -> Benefit:
    """Change some of code, name, kind, value, validity_days, description, is_active. Grants already made
    keep their expiry."""
    _assign(benefit, changes, BENEFIT_FIELDS)
    _benefit_check(benefit)
    _audited_save(benefit, actor=actor)
    return benefit


@transaction.atomic
def benefit_archive(*, benefit: Benefit, actor=None) -> Benefit:
    """Deactivate a benefit: it is no longer granted (by tiers or by hand); open grants stay usable."""
    return _audited_archive(benefit, actor=actor)


@transaction.atomic
def tier_benefit_set(*, tier: Tier, benefit: Benefit, quota: int = 1, actor=None) -> TierBenefit:
    """The tier carries the benefit with this quota (grants per customer per validity period; 0 =
    unlimited). Creates or updates the link; takes effect for customers entering the tier."""
    if benefit.brand_id != tier.brand_id:
        raise ValidationError({"benefit": ValidationError(_("The benefit belongs to another brand."))})
    if quota is None or quota < 0:
        raise ValidationError({"quota": ValidationError(_("The quota is 0 (unlimited) or more."))})
    existing = TierBenefit.objects.filter(brand_id=tier.brand_id, tier=tier, benefit=benefit).first()
    before = snapshot(existing) if existing is not None else None
    link, _created = TierBenefit.objects.update_or_create(
        brand_id=tier.brand_id, tier=tier, benefit=benefit, defaults={"quota": quota}
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATED if before is None else AuditAction.UPDATED,
        obj=link,
        before=before,
        after=snapshot(link),
        skip_unchanged=True,
    )
    return link


@transaction.atomic
def tier_benefit_remove(*, tier: Tier, benefit: Benefit, actor=None) -> bool:
    """The tier no longer carries the benefit (grants already made stay). True when a link was removed."""
    links = list(TierBenefit.objects.filter(brand_id=tier.brand_id, tier=tier, benefit=benefit))
    if not links:
        return False
    TierBenefit.objects.filter(brand_id=tier.brand_id, pk__in=[link.pk for link in links]).delete()
    audit_record_many(
        audit_event(actor=actor, action=AuditAction.DELETED, obj=link, before=snapshot(link))
        for link in links
    )
    return True


def _tier_rule_check(rule: TierRule) -> None:
    def bad(field: str, message: str):
        return ValidationError({field: ValidationError(message)})

    if rule.min_clv is not None and rule.min_clv < 0:
        raise bad("min_clv", _("The minimum CLV cannot be negative."))
    if rule.min_clv_percentile is not None and not 1 <= rule.min_clv_percentile <= 99:
        raise bad("min_clv_percentile", _("The CLV percentile is between 1 and 99."))
    if rule.max_churn_probability is not None and not 0 <= rule.max_churn_probability <= 1:
        raise bad("max_churn_probability", _("The churn probability is between 0 and 1."))
    if rule.min_rfm_score is not None and not 3 <= rule.min_rfm_score <= 15:
        raise bad("min_rfm_score", _("The RFM score is between 3 and 15."))


@transaction.atomic
def tier_rule_create(*, tier: Tier, actor=None, **conditions) -> TierRule:
    """The tier's rule (one per tier; see TierRule for what the conditions mean)."""
    if TierRule.objects.filter(brand_id=tier.brand_id, tier=tier).exists():
        raise ValidationError({"tier": ValidationError(_("This tier already has a rule; change that one."))})
    rule = TierRule(brand_id=tier.brand_id, tier=tier)
    _assign(rule, conditions, TIER_RULE_FIELDS)
    rule.rfm_segments = list(rule.rfm_segments or [])
    _tier_rule_check(rule)
    _audited_save(rule, actor=actor)
    return rule


@transaction.atomic
def tier_rule_update(*, rule: TierRule, actor=None, **changes) -> TierRule:
    """Change some conditions (None clears a condition) or is_active. Applies from the next refresh."""
    _assign(rule, changes, TIER_RULE_FIELDS)
    rule.rfm_segments = list(rule.rfm_segments or [])
    _tier_rule_check(rule)
    _audited_save(rule, actor=actor)
    return rule


@transaction.atomic
def tier_rule_archive(*, rule: TierRule, actor=None) -> TierRule:
    """Deactivate the rule: the tier matches nobody (it can still be the fallback tier)."""
    return _audited_archive(rule, actor=actor)


SKIP_OPTED_OUT = "opted_out"
SKIP_QUOTA = "quota_reached"


@dataclass
class GrantResult:
    """What benefit_grant did: the grants it created, and each customer it skipped with why."""

    grants: list[BenefitGrant]
    skipped: list[dict]  # {"customer_id", "code": opted_out | quota_reached, "message"}


def benefit_grant(
    *,
    brand,
    benefit: Benefit,
    customer_ids,
    source: str = GrantSource.MANUAL,
    note: str = "",
    when: datetime | None = None,
    actor=None,
) -> GrantResult:
    """Grant an active benefit to customers of the brand, valid from `when` (now) for the benefit's validity.

    - A customer whose current tier carries the benefit with a quota (> 0) is skipped ("quota_reached")
      when they already hold that many open grants of it (unredeemed, unrevoked, unexpired; any source).
      Benefits outside the customer's tier, or with quota 0 (unlimited), have no cap.
    - A "campaign" grant is an automated decision: customers who opted out of automated decisions are
      skipped ("opted_out"). A "manual" grant is a staff decision and reaches them too.
    - At most GRANT_BATCH_MAX customers a call; one customer listed twice gets one grant.
    Set-based: a fixed number of queries whatever the number of customers. The customers' rows are locked
    for the transaction, so concurrent grants cannot overrun a quota.
    """
    from apps.customers.models import Customer

    if benefit.brand_id != brand.pk:
        raise ValidationError({"benefit": ValidationError(_("The benefit belongs to another brand."))})
    if not benefit.is_active:
        raise ValidationError(
            {"benefit": ValidationError(_("This benefit is archived; it cannot be granted."))}
        )
    if source not in GRANTABLE_SOURCES:
        raise ValidationError(
            {"source": ValidationError(_("Grants are made by hand (manual) or by a campaign (campaign)."))}
        )
    ids = list(dict.fromkeys(int(i) for i in customer_ids))
    if not ids:
        raise ValidationError({"customers": ValidationError(_("Choose at least one customer."))})
    if len(ids) > GRANT_BATCH_MAX:
        raise ValidationError(
            {
                "customers": ValidationError(
                    _("At most %(max)d customers a call."), params={"max": GRANT_BATCH_MAX}, code="too_many"
                )
            }
        )
    if len(note) > 200:
        raise ValidationError({"note": ValidationError(_("The note is at most 200 characters."))})
    when = when or timezone.now()
    with transaction.atomic():
        found = list(
            Customer.objects.select_for_update()
            .filter(brand=brand, pk__in=ids)
            .order_by("pk")
            .values_list("pk", "automated_decisions_opt_out")
        )
        if len(found) != len(ids):
            raise ValidationError(
                {
                    "customers": ValidationError(
                        _("Some customers do not belong to this brand."), code="not_found"
                    )
                }
            )
        caps = selectors.grant_caps(brand=brand, benefit=benefit, customer_ids=ids, when=when)
        skipped, due = [], []
        opted_out = {pk for pk, out in found if out}
        for pk in ids:
            quota, held = caps.get(pk, (0, 0))
            if source == GrantSource.CAMPAIGN and pk in opted_out:
                skipped.append(
                    {
                        "customer_id": pk,
                        "code": SKIP_OPTED_OUT,
                        "message": _("The customer opted out of automated decisions."),
                    }
                )
            elif quota and held >= quota:
                skipped.append(
                    {
                        "customer_id": pk,
                        "code": SKIP_QUOTA,
                        "message": _(
                            "The customer already holds %(quota)d open grant(s) of this benefit, their tier's quota."
                        )
                        % {"quota": quota},
                    }
                )
            else:
                due.append(pk)
        expires = when + dt.timedelta(days=benefit.validity_days)
        grants = BenefitGrant.objects.bulk_create(
            [
                BenefitGrant(
                    brand=brand,
                    customer_id=pk,
                    benefit=benefit,
                    granted_at=when,
                    expires_at=expires,
                    source=source,
                    note=note,
                )
                for pk in due
            ]
        )
        audit_record_many(
            audit_event(actor=actor, action=AuditAction.GRANTED, obj=grant, after=snapshot(grant))
            for grant in grants
        )
    logger.info(
        "benefit granted: brand=%s benefit=%s source=%s granted=%d skipped=%d",
        brand.pk,
        benefit.pk,
        source,
        len(grants),
        len(skipped),
    )
    return GrantResult(grants=grants, skipped=skipped)


def benefit_grant_revoke(*, grant: BenefitGrant, when: datetime | None = None, actor=None) -> BenefitGrant:
    """Withdraw a grant that was not redeemed. Revoking twice is refused, so staff see it happened before."""
    with transaction.atomic():
        grant = BenefitGrant.objects.select_for_update().get(pk=grant.pk, brand_id=grant.brand_id)
        if grant.redeemed_at is not None:
            raise ValidationError(_("This grant was redeemed; it cannot be revoked."), code="redeemed")
        if grant.revoked_at is not None:
            raise ValidationError(_("This grant is already revoked."), code="revoked")
        before = snapshot(grant)
        grant.revoked_at = when or timezone.now()
        grant.save(update_fields=["revoked_at", "updated_at"])
        audit_record(actor=actor, action=AuditAction.REVOKED, obj=grant, before=before, after=snapshot(grant))
    return grant


def benefit_grant_redeem(*, grant: BenefitGrant, when: datetime | None = None, actor=None) -> BenefitGrant:
    """Record that the customer used a grant at `when` (now). Refused, with the reason, when the grant was
    revoked, had expired by then, or `when` is before it was granted. Redeeming again at the same moment
    changes nothing (a retried import or request is harmless); at another moment it is refused."""
    when = when or timezone.now()
    with transaction.atomic():
        grant = BenefitGrant.objects.select_for_update().get(pk=grant.pk, brand_id=grant.brand_id)
        if grant.redeemed_at is not None:
            if grant.redeemed_at == when:
                return grant
            raise ValidationError(
                {
                    "redeemed_at": _("This grant was already redeemed at %(at)s.")
                    % {"at": grant.redeemed_at.isoformat()}
                },
                code="redeemed",
            )
        if grant.revoked_at is not None:
            raise ValidationError(
                {"redeemed_at": _("This grant was revoked; it cannot be redeemed.")}, code="revoked"
            )
        if when < grant.granted_at:
            raise ValidationError(
                {
                    "redeemed_at": _("The redemption is before the grant (%(at)s).")
                    % {"at": grant.granted_at.isoformat()}
                },
                code="before_grant",
            )
        if when >= grant.expires_at:
            raise ValidationError(
                {
                    "redeemed_at": _("The grant had expired by then (%(at)s).")
                    % {"at": grant.expires_at.isoformat()}
                },
                code="expired",
            )
        before = snapshot(grant)
        grant.redeemed_at = when
        grant.save(update_fields=["redeemed_at", "updated_at"])
        audit_record(actor=actor, action=AuditAction.UPDATED, obj=grant, before=before, after=snapshot(grant))
    return grant
