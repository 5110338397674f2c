"""The tier layer a score refresh calls: every scored customer's tier by the brand's rules (pure assignment in
apps.loyalty.tiering), the tier history, and the benefits that follow a tier (granted and withdrawn set-based,
in SQL, whatever the number of customers). Staff edits of tiers, benefits, rules and grants are in services.py.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.bulk import copy_rows, timestamp_texts
from apps.loyalty import selectors
from apps.loyalty.models import (
    Benefit,
    BenefitGrant,
    GrantSource,
    Tier,
    TierBenefit,
    TierChange,
    TierChangeSource,
    TierGrace,
    TierRule,
    open_grant_sql,
)
from apps.loyalty.tiering import (
    Grace,
    TierRuleSpec,
    apply_grace,
    assign_tiers,
    tier_changes_from,
    transition_counts,
)

logger = logging.getLogger(__name__)

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
    """`scores` with previous_tier_id (from the tier history), automated_decisions_opt_out (from the
    customers) and grace_since (when the customer's grace period in their previous tier started, NaT when
    none) added where the caller did not provide them."""
    frame = scores.reset_index(drop=True)
    ids = frame["customer_id"]
    if "previous_tier_id" not in frame:
        current = selectors.customer_current_tiers(brand=brand).set_index("customer_id")["tier_id"]
        frame = frame.assign(previous_tier_id=pd.array(ids.map(current), dtype="Int64"))
    if "automated_decisions_opt_out" not in frame:
        opted_out = selectors.customer_ids_opted_out(brand=brand)
        frame = frame.assign(automated_decisions_opt_out=ids.isin(opted_out).to_numpy())
    if "grace_since" not in frame:
        graces = selectors.customer_graces(brand=brand).set_index("customer_id")
        grace_tier = pd.array(ids.map(graces["tier_id"]), dtype="Int64")
        in_previous = (grace_tier == pd.array(frame["previous_tier_id"], dtype="Int64")).fillna(False)
        since = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
        if len(graces):
            since = pd.to_datetime(ids.map(graces["since"].astype(object)), utc=True)
        frame = frame.assign(grace_since=since.where(in_previous.to_numpy(dtype=bool)))
    return frame


def _planned(*, brand, scores: pd.DataFrame, when: datetime) -> tuple[pd.DataFrame, Grace]:
    """The customers' frame with their current state, and the tiers the brand's rules give them at `when`
    (grace periods applied)."""
    frame = _with_current_state(brand=brand, scores=scores)
    rules = tier_rules_for(brand=brand)
    tier_id, reason = assign_tiers(frame, rules)
    return frame, apply_grace(frame, tier_id, reason, rules, when)


def tiers_planned(*, brand, scores: pd.DataFrame, when: datetime) -> pd.DataFrame:
    """The tier (customer_id, tier_id: Int64) tiers_refresh would give each customer in `scores` at `when`,
    without writing anything: what a refresh stores beside the scores it writes, before they are published."""
    frame, grace = _planned(brand=brand, scores=scores, when=when)
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(dtype="int64"),
            "tier_id": pd.array(grace.tier_id, dtype="Int64"),
        }
    )


@dataclass
class TierRefresh:
    """What tiers_refresh did: every scored customer's tier and reason, and the counts it wrote."""

    assignment: pd.DataFrame  # customer_id, previous_tier_id, tier_id (Int64), reason
    changes: int
    grants_created: int
    grants_revoked: int
    in_grace: int = 0  # customers kept in their tier by its grace period


def tiers_refresh(*, brand, scores: pd.DataFrame, when: datetime, run_id: int | None = None) -> TierRefresh:
    """Assign every scored customer a tier by the brand's rules and apply the changes (history, benefits).

    `scores`: one row per scored customer of the brand (all of them: CLV percentiles are taken over the
    frame) with customer_id, clv, churn_probability, rfm_recency, rfm_frequency, rfm_monetary,
    rfm_segment; previous_tier_id and automated_decisions_opt_out are read from the database when absent.
    """
    frame, grace = _planned(brand=brand, scores=scores, when=when)
    changes = tier_changes_from(frame, grace.tier_id, grace.reason)
    with transaction.atomic():
        counts = tier_changes_apply(brand=brand, changes=changes, when=when, run_id=run_id)
        counts["in_grace"] = _graces_write(brand=brand, frame=frame, grace=grace)
    assignment = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(dtype="int64"),
            "previous_tier_id": pd.array(frame["previous_tier_id"], dtype="Int64"),
            "tier_id": pd.array(grace.tier_id, dtype="Int64"),
            "reason": grace.reason,
        }
    )
    return TierRefresh(assignment=assignment, **counts)


def _graces_write(*, brand, frame: pd.DataFrame, grace: Grace) -> int:
    """Replace the grace periods of the customers in `frame` by the ones `grace` holds (set-based); a grace
    keeps the time it started. Returns how many customers are in a grace period now."""
    ids = frame["customer_id"].to_numpy(dtype="int64")
    table = TierGrace._meta.db_table
    with connection.cursor() as cursor:
        # the ids as one array literal: adapting a million Python ints one by one took 1.3 s
        cursor.execute(
            f"DELETE FROM {table} WHERE brand_id = %s AND customer_id = ANY(%s::bigint[])",
            [brand.pk, "{" + ",".join(ids.astype(str).tolist()) + "}"],
        )
    held = np.flatnonzero(grace.held)
    if not len(held):
        return 0
    now = np.datetime64(timezone.now().astimezone(dt.UTC).replace(tzinfo=None), "s")
    columns = {
        "brand_id": [brand.pk] * len(held),
        "customer_id": ids[held].tolist(),
        "tier_id": [int(t) for t in grace.tier_id[held]],
        "since": timestamp_texts(grace.since[held].astype("datetime64[s]")),
        "created_at": timestamp_texts(np.full(len(held), now)),
        "updated_at": timestamp_texts(np.full(len(held), now)),
    }
    return copy_rows(table, list(columns), zip(*columns.values(), strict=True))


def tier_rules_preview(*, brand, rules: list[TierRuleSpec], scores: pd.DataFrame) -> pd.DataFrame:
    """What `rules` would do to the customers in `scores`, without writing anything: one row per
    (current tier, proposed tier) with from_tier_id, to_tier_id (nullable Int64: no tier), from_tier,
    to_tier (display names, '' for no tier) and customers. Opted-out customers stay where they are, and
    customers in a grace period keep their tier as a refresh now would."""
    frame = _with_current_state(brand=brand, scores=scores)
    tier_id, reason = assign_tiers(frame, rules)
    counts = transition_counts(frame, apply_grace(frame, tier_id, reason, rules, timezone.now()).tier_id)
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

    # one apply per brand; FOR NO KEY UPDATE, as the publish it runs in: rows other connections insert that
    # refer to the brand (orders being imported, stream views) do not wait for the publish to commit
    list(Brand.objects.select_for_update(no_key=True).filter(pk=brand.pk).values_list("pk"))
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
