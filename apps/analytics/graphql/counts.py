"""The customer list's totalCount through the read cache (readcache.py): hooked into core.graphql.relay as its
count_reader by the analytics app, for a caller of exactly one brand and without a search term."""

from __future__ import annotations

from apps.analytics.readcache import reads_cached
from apps.core.graphql.permissions import caller_brand_ids

# Root lists whose totalCount the read version covers: the customers (their scores change at a publish, their
# number with imports, which move the data version or the generation; edits and erasures move the generation).
COUNTED_MODELS = ("customers.customer",)


def list_count(queryset, info, compute) -> int:
    """A root list's totalCount (core.graphql.relay.count_reader): from the cache for a caller of exactly one
    brand listing customers without a search term (a term may be a name or a phone, which stays out of the
    cache, even hashed); else compute()."""
    if queryset.model._meta.label_lower not in COUNTED_MODELS:
        return compute()
    brand_ids = caller_brand_ids(info)
    if brand_ids is None or len(brand_ids) != 1:
        return compute()
    for field in info.selected_fields:
        if (field.arguments.get("filter") or {}).get("search"):
            return compute()
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except Exception:  # EmptyResultSet and the like: counting says it best
        return compute()
    return reads_cached(
        brand=int(brand_ids[0]),
        name=f"count:{queryset.model._meta.label_lower}",
        params={"sql": sql, "params": [str(p) for p in params]},
        compute=compute,
        daily=False,
    )
