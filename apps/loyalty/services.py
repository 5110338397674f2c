"""Writes for tiers and benefits, and the tier layer a score refresh calls."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.models import AuditAction
from apps.audit.services import audit_event, audit_record, audit_record_many, snapshot, stored_snapshot
from apps.core.bulk import copy_rows, timestamp_texts
from apps.loyalty import selectors
from apps.loyalty.defaults import DEFAULT_BENEFITS, DEFAULT_TIER_BENEFITS, DEFAULT_TIER_RULES, DEFAULT_TIERS
from apps.loyalty.models import (
    Benefit,
    BenefitGrant,
    GrantSource,
    Tier,
    TierBenefit,
    TierChange,
    TierChangeSource,
    TierRule,
    open_grant_sql,
)
from apps.loyalty.tiering import (
    REASON_MANUAL,
    TierRuleSpec,
    assign_tiers,
    tier_changes_from,
    transition_counts,
)

logger = logging.getLogger(__name__)


@transaction.atomic
def loyalty_defaults_ensure(*, brand, actor=None) -> None:
    """Add the default tiers, benefits, links and tier rules a brand is missing. Never overwrites staff edits.
    What it adds is recorded in the audit trail (actor None: the system)."""
    tiers, benefits, added = {}, {}, []
    for code, name, rank, description in DEFAULT_TIERS:
        tiers[code], created = Tier.objects.get_or_create(
            brand=brand, code=code, defaults={"name": name, "rank": rank, "description": description}
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


# --- Value tiers: rules, assignment, history and the benefits that follow a tier ---------------------

CHANGES_TABLE = "_loyalty_tier_changes"
CHANGE_COLUMNS = ("customer_id", "from_tier_id", "to_tier_id", "reason")


def tier_rules_for(*, brand) -> list[TierRuleSpec]:
    """One spec per active tier of the brand, most valuable (rank 1) first.

    A tier whose rule is missing or inactive comes with active=False: it matches nobody, but it is still
    an active tier, so it can be the fallback for customers no rule matches.
    """
    tiers = list(Tier.objects.filter(brand=brand, is_active=True).order_by("rank", "pk"))
    rules = {rule.tier_id: rule for rule in TierRule.objects.filter(brand=brand, tier__in=tiers)}
    specs = [TierRuleSpec.of(tier, rules.get(tier.pk)) for tier in tiers]
    return specs


def _with_current_state(*, brand, scores: pd.DataFrame) -> pd.DataFrame:
    """`scores` with previous_tier_id (from the tier history) and automated_decisions_opt_out (from the
    customers) added where the caller did not provide them."""
    frame = scores.reset_index(drop=True)
    if "previous_tier_id" not in frame:
        current = selectors.customer_current_tiers(brand=brand).set_index("customer_id")["tier_id"]
        frame = frame.assign(
            previous_tier_id=pd.array(frame["customer_id"].map(current), dtype="Int64")
            if len(frame)
            else pd.array([], dtype="Int64")
        )
    if "automated_decisions_opt_out" not in frame:
        opted_out = selectors.customer_ids_opted_out(brand=brand)
        frame = frame.assign(automated_decisions_opt_out=frame["customer_id"].isin(opted_out).to_numpy())
    return frame


@dataclass
class TierRefresh:
    """What tiers_refresh did: every scored customer's tier and reason, and the counts it wrote."""

    assignment: pd.DataFrame  # customer_id, previous_tier_id, tier_id (Int64), reason
    changes: int
    grants_created: int
    grants_revoked: int


def tiers_refresh(*, brand, scores: pd.DataFrame, when: datetime, run_id: int | None = None) -> TierRefresh:
    """Assign every scored customer a tier by the brand's rules and apply the changes (history, benefits).

    `scores`: one row per scored customer of the brand (all of them: CLV percentiles are taken over the
    frame) with customer_id, clv, churn_probability, rfm_recency, rfm_frequency, rfm_monetary,
    rfm_segment; previous_tier_id and automated_decisions_opt_out are read from the database when absent.
    """
    frame = _with_current_state(brand=brand, scores=scores)
    tier_id, reason = assign_tiers(frame, tier_rules_for(brand=brand))
    changes = tier_changes_from(frame, tier_id, reason)
    counts = tier_changes_apply(brand=brand, changes=changes, when=when, run_id=run_id)
    assignment = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(dtype="int64"),
            "previous_tier_id": pd.array(frame["previous_tier_id"], dtype="Int64"),
            "tier_id": pd.array(tier_id, dtype="Int64"),
            "reason": reason,
        }
    )
    return TierRefresh(assignment=assignment, **counts)


def tier_rules_preview(*, brand, rules: list[TierRuleSpec], scores: pd.DataFrame) -> pd.DataFrame:
    """What `rules` would do to the customers in `scores`, without writing anything: one row per
    (current tier, proposed tier) with from_tier_id, to_tier_id (nullable Int64: no tier), from_tier,
    to_tier (display names, '' for no tier) and customers. Opted-out customers stay where they are."""
    frame = _with_current_state(brand=brand, scores=scores)
    tier_id, _reason = assign_tiers(frame, rules)
    counts = transition_counts(frame, tier_id)
    names = {tier.pk: tier.display_name for tier in Tier.objects.filter(brand=brand)}

    def name_of(ids):
        return [names.get(int(i), str(i)) if not pd.isna(i) else "" for i in ids]

    counts.insert(2, "from_tier", name_of(counts["from_tier_id"]))
    counts.insert(3, "to_tier", name_of(counts["to_tier_id"]))
    return counts


def _normalised_changes(changes: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in CHANGE_COLUMNS if c not in changes]
    if missing:
        raise ValueError(f"tier changes lack columns: {', '.join(missing)}")
    frame = pd.DataFrame(
        {
            "customer_id": changes["customer_id"].to_numpy(dtype="int64"),
            "from_tier_id": pd.array(changes["from_tier_id"], dtype="Int64"),
            "to_tier_id": pd.array(changes["to_tier_id"], dtype="Int64"),
            "reason": changes["reason"].fillna("").astype(str).str.slice(0, 64).to_numpy(),
        }
    )
    if frame["customer_id"].duplicated().any():
        raise ValueError("tier changes hold a customer more than once")
    same = (frame["from_tier_id"] == frame["to_tier_id"]).fillna(False).to_numpy(dtype=bool)
    same |= (frame["from_tier_id"].isna() & frame["to_tier_id"].isna()).to_numpy()
    return frame[~same].reset_index(drop=True)


def _nullable(value):
    return None if pd.isna(value) else int(value)


def tier_changes_apply(
    *,
    brand,
    changes: pd.DataFrame,
    when: datetime,
    run_id: int | None = None,
    source: str = TierChangeSource.REFRESH,
) -> dict:
    """Record tier changes and move the benefits that come with tiers, in one transaction, set-based.

    `changes`: customer_id, from_tier_id, to_tier_id (either may be missing: no tier), reason; one row per
    customer; rows whose from and to are equal are ignored. For each change:
    - a TierChange row (changed_at = when, run_id, source, reason);
    - leaving a tier: the customer's open tier grants (unredeemed, unrevoked, expiring after `when`) of
      benefits the new tier does not carry are revoked at `when`;
    - entering a tier: the customer is topped up to the new tier's quota of each of its active benefits
      (quota 0 = unlimited counts as one grant); open tier grants they already hold count toward it.
      New grants have source "tier", granted_at = when, expires_at = when + the benefit's validity.
    Customers who opted out of automated decisions get the history row but no grant or withdrawal on a
    refresh (a manual change is a staff decision and moves benefits as usual).
    Returns {"changes", "grants_created", "grants_revoked"}.
    """
    if source not in TierChangeSource.values:
        raise ValueError(f"unknown tier change source: {source}")
    frame = _normalised_changes(changes)
    counts = {"changes": 0, "grants_created": 0, "grants_revoked": 0}
    if frame.empty:
        return counts
    with transaction.atomic():
        return _tier_changes_write(brand=brand, frame=frame, when=when, run_id=run_id, source=source)


def _tier_changes_write(*, brand, frame: pd.DataFrame, when: datetime, run_id, source: str) -> dict:
    counts = {"changes": 0, "grants_created": 0, "grants_revoked": 0}
    from apps.brands.models import Brand
    from apps.customers.models import Customer

    list(Brand.objects.select_for_update().filter(pk=brand.pk).values_list("pk"))  # one apply per brand
    now = timezone.now()
    b = brand.pk
    changes_table = CHANGES_TABLE
    customer_table = Customer._meta.db_table
    tier_table = Tier._meta.db_table
    grant_table = BenefitGrant._meta.db_table
    tb_table = TierBenefit._meta.db_table
    benefit_table = Benefit._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {changes_table}")
        cursor.execute(
            f"CREATE TEMP TABLE {changes_table} (customer_id bigint PRIMARY KEY, from_tier_id bigint, "
            "to_tier_id bigint, reason varchar(64) NOT NULL, touch integer NOT NULL DEFAULT 1)"
        )
    copy_rows(
        changes_table,
        CHANGE_COLUMNS,
        zip(
            frame["customer_id"].tolist(),
            map(_nullable, frame["from_tier_id"]),
            map(_nullable, frame["to_tier_id"]),
            frame["reason"].tolist(),
            strict=True,
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {changes_table} c LEFT JOIN {customer_table} cu "
            "ON cu.brand_id = %s AND cu.id = c.customer_id WHERE cu.id IS NULL",
            [b],
        )
        if cursor.fetchone()[0]:
            raise ValueError(_("Some customers of these tier changes do not belong to this brand."))
        cursor.execute(
            f"SELECT COUNT(*) FROM {changes_table} c WHERE "
            f"(c.from_tier_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {tier_table} t "
            "WHERE t.brand_id = %s AND t.id = c.from_tier_id)) OR "
            f"(c.to_tier_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {tier_table} t "
            "WHERE t.brand_id = %s AND t.id = c.to_tier_id))",
            [b, b],
        )
        if cursor.fetchone()[0]:
            raise ValueError(_("Some tiers of these tier changes do not belong to this brand."))
        if source == TierChangeSource.REFRESH:
            cursor.execute(
                f"UPDATE {changes_table} SET touch = 0 WHERE customer_id IN (SELECT id FROM {customer_table} "
                "WHERE brand_id = %s AND automated_decisions_opt_out)",
                [b],
            )
        cursor.execute(
            f"INSERT INTO {TierChange._meta.db_table} (brand_id, customer_id, from_tier_id, to_tier_id, "
            "changed_at, run_id, source, reason, created_at, updated_at) "
            f"SELECT %s, customer_id, from_tier_id, to_tier_id, %s, %s, %s, reason, %s, %s FROM {changes_table}",
            [b, when, run_id, source, now, now],
        )
        counts["changes"] = cursor.rowcount
        open_grant = f"g.brand_id = %s AND g.source = 'tier' AND {open_grant_sql('g')}"
        cursor.execute(
            f"UPDATE {grant_table} AS g SET revoked_at = %s, updated_at = %s WHERE {open_grant} "
            f"AND g.customer_id IN (SELECT customer_id FROM {changes_table} "
            "WHERE touch = 1 AND from_tier_id IS NOT NULL) "
            f"AND NOT EXISTS (SELECT 1 FROM {changes_table} c JOIN {tb_table} tb "
            "ON tb.brand_id = %s AND tb.tier_id = c.to_tier_id "
            "WHERE c.customer_id = g.customer_id AND tb.benefit_id = g.benefit_id)",
            [when, now, b, when, b],
        )
        counts["grants_revoked"] = cursor.rowcount
        cursor.execute(
            "SELECT c.customer_id, tb.benefit_id, tb.quota, b.validity_days, COALESCE(o.n, 0) "
            f"FROM {changes_table} c "
            f"JOIN {tb_table} tb ON tb.brand_id = %s AND tb.tier_id = c.to_tier_id "
            f"JOIN {benefit_table} b ON b.brand_id = %s AND b.id = tb.benefit_id AND b.is_active "
            "LEFT JOIN (SELECT g.customer_id, g.benefit_id, COUNT(*) AS n "
            f"FROM {grant_table} g WHERE {open_grant} AND g.customer_id IN "
            f"(SELECT customer_id FROM {changes_table} WHERE touch = 1 AND to_tier_id IS NOT NULL) "
            "GROUP BY g.customer_id, g.benefit_id) o "
            "ON o.customer_id = c.customer_id AND o.benefit_id = tb.benefit_id "
            "WHERE c.touch = 1 AND c.to_tier_id IS NOT NULL ORDER BY c.customer_id, tb.benefit_id",
            [b, b, b, when],
        )
        due = pd.DataFrame.from_records(
            cursor.fetchall(), columns=["customer_id", "benefit_id", "quota", "validity_days", "held"]
        )
        cursor.execute(f"DROP TABLE IF EXISTS {changes_table}")
    counts["grants_created"] = _grants_write(brand_id=b, due=due, when=when, now=now)
    logger.info(
        "tier changes applied: brand=%s run=%s source=%s changes=%d grants_created=%d grants_revoked=%d",
        b,
        run_id,
        source,
        counts["changes"],
        counts["grants_created"],
        counts["grants_revoked"],
    )
    return counts


def _grants_write(*, brand_id: int, due: pd.DataFrame, when: datetime, now: datetime) -> int:
    """COPY the grants that top each (customer, benefit) up to its quota (0 = unlimited: one grant)."""
    if due.empty:
        return 0
    quota = due["quota"].to_numpy(dtype="int64")
    wanted = np.where(quota == 0, 1, quota) - due["held"].to_numpy(dtype="int64")
    repeat = np.clip(wanted, 0, None)
    if not repeat.sum():
        return 0
    rows = due.loc[due.index.repeat(repeat)]
    when_utc = np.datetime64(when.astimezone(dt.UTC).replace(tzinfo=None), "s")
    now_utc = np.datetime64(now.astimezone(dt.UTC).replace(tzinfo=None), "s")
    expires = when_utc + rows["validity_days"].to_numpy(dtype="int64").astype("timedelta64[D]")
    n = len(rows)
    columns = {
        "brand_id": [brand_id] * n,
        "customer_id": rows["customer_id"].tolist(),
        "benefit_id": rows["benefit_id"].tolist(),
        "granted_at": timestamp_texts(np.full(n, when_utc)),
        "expires_at": timestamp_texts(expires),
        "source": [GrantSource.TIER.value] * n,
        "note": [""] * n,
        "created_at": timestamp_texts(np.full(n, now_utc)),
        "updated_at": timestamp_texts(np.full(n, now_utc)),
    }
    return copy_rows(BenefitGrant._meta.db_table, list(columns), zip(*columns.values(), strict=True))


@transaction.atomic
def customer_tier_set(*, customer, tier, when: datetime | None = None) -> dict:
    """A staff member puts one customer in a tier (or in none, tier=None): history and benefits follow.

    Returns tier_changes_apply's counts; nothing happens when the customer is already there.
    """
    current = selectors.customer_current_tiers(brand=customer.brand)
    previous = current.loc[current["customer_id"] == customer.pk, "tier_id"]
    changes = pd.DataFrame(
        {
            "customer_id": [customer.pk],
            "from_tier_id": pd.array([previous.iloc[0] if len(previous) else None], dtype="Int64"),
            "to_tier_id": pd.array([tier.pk if tier is not None else None], dtype="Int64"),
            "reason": [REASON_MANUAL],
        }
    )
    return tier_changes_apply(
        brand=customer.brand,
        changes=changes,
        when=when or timezone.now(),
        run_id=None,
        source=TierChangeSource.MANUAL,
    )


# --- Tiers, benefits, tier rules and grants edited by staff (admin, GraphQL) --------------------------
#
# Every write validates the whole row and raises a ValidationError whose dict names the field, so the
# admin shows it beside the field and GraphQL reports "<field>: <message>". "Archive" deactivates: rows
# stay for history (grants, tier changes and scores point at them).

TIER_FIELDS = ("code", "name", "rank", "description", "is_active")
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


@transaction.atomic
def tier_create(
    *, brand, code: str, name: str, rank: int, description: str = "", is_active: bool = True, actor=None
) -> Tier:
    """A new tier of the brand. Customers move into it at the next refresh, once it has a rule.

    `actor` (every write below takes one): the staff user or API token principal making the change, recorded
    in the audit trail; None for the system."""
    tier = Tier(brand=brand, code=code, name=name, rank=rank, description=description, is_active=is_active)
    _tier_check(tier)
    _audited_save(tier, actor=actor)
    return tier


@transaction.atomic
def tier_update(*, tier: Tier, actor=None, **changes) -> Tier:
    """Change some of code, name, rank, description, is_active."""
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
