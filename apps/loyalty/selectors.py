"""Reads for tiers: the current tier of each customer (from the tier history) and opt-outs, as frames."""

from __future__ import annotations

import pandas as pd
from django.db import connection

from apps.loyalty.models import TierChange


def customer_current_tiers(*, brand) -> pd.DataFrame:
    """customer_id, tier_id (nullable Int64): the to_tier of each customer's latest tier change.

    The tier history is the one record of a customer's tier; tier_refresh.tier_changes_apply is its only
    writer, and publishing a run applies the changes and copies each scored customer's tier onto the run's
    scores in the same transaction, so the published score's tier (what GraphQL and the admin show) is this
    tier for every scored customer. Customers who never changed tier are absent. Served by the (brand,
    customer, changed_at) index.
    """
    table = TierChange._meta.db_table
    sql = (
        f"SELECT DISTINCT ON (customer_id) customer_id, to_tier_id FROM {table} "
        "WHERE brand_id = %s ORDER BY customer_id, changed_at DESC, id DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand.pk])
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=["customer_id", "tier_id"])
    return frame.astype({"customer_id": "int64", "tier_id": "Int64"})


def customer_graces(*, brand) -> pd.DataFrame:
    """customer_id, tier_id, since (datetime64[ns, UTC]): the brand's customers in a tier grace period."""
    from apps.loyalty.models import TierGrace

    rows = TierGrace.objects.filter(brand=brand).values_list("customer_id", "tier_id", "since")
    frame = pd.DataFrame.from_records(list(rows), columns=["customer_id", "tier_id", "since"])
    return frame.astype({"customer_id": "int64", "tier_id": "int64"}).assign(
        since=pd.to_datetime(frame["since"], utc=True)
    )


def customer_ids_opted_out(*, brand) -> pd.Index:
    """Ids of the brand's customers who opted out of automated decisions."""
    from apps.customers.models import Customer

    ids = Customer.objects.filter(brand=brand, automated_decisions_opt_out=True).values_list("pk", flat=True)
    return pd.Index(list(ids), dtype="int64")


def grant_caps(*, brand, benefit, customer_ids: list[int], when) -> dict[int, tuple[int, int]]:
    """(quota, open grants held at `when`) of `benefit` for each of these customers whose current tier
    carries it with a quota (> 0); customers without such a cap are absent. One query, whatever the number."""
    from apps.loyalty.models import BenefitGrant, TierBenefit, open_grant_sql

    if not customer_ids:
        return {}
    changes, links, grants = (
        TierChange._meta.db_table,
        TierBenefit._meta.db_table,
        BenefitGrant._meta.db_table,
    )
    placeholders = ", ".join(["%s"] * len(customer_ids))
    current = (
        f"SELECT DISTINCT ON (customer_id) customer_id, to_tier_id FROM {changes} "
        f"WHERE brand_id = %s AND customer_id IN ({placeholders}) ORDER BY customer_id, changed_at DESC, id DESC"
    )
    sql = f"""
        SELECT c.customer_id, COALESCE(tb.quota, 0),
               (SELECT COUNT(*) FROM {grants} g
                 WHERE g.brand_id = %s AND g.customer_id = c.customer_id AND g.benefit_id = %s
                   AND {open_grant_sql("g")})
        FROM ({current}) c
        JOIN {links} tb ON tb.brand_id = %s AND tb.tier_id = c.to_tier_id AND tb.benefit_id = %s
        WHERE tb.quota > 0
    """
    b, w = brand.pk, when
    params = [b, benefit.pk, w, b, *customer_ids, b, benefit.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(pk): (int(quota), int(held)) for pk, quota, held in cursor.fetchall()}
