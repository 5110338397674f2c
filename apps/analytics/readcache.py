"""Reads cached per brand and data version: report results that change only when a run is published or data
arrive, computed once and shared by every process through Django's cache (Redis in production, set by
CACHE_URL; per process in the demo; off with `dummycache://`).

    reads_cached(brand=…, name=…, params=…, compute=…)   the cached result, computed first on a miss
    reads_forget(brand_id=…)                               every cached read of the brand is stale from now on

A key holds the brand, the report and its parameters, the brand's day (what depends on today: periods that
have started, censoring "now"), and the brand's read version: its published run, its data version
(snapshots.data_version: the newest order and the streams' count, newest id and latest change, from
indexes in one query) and a generation that `reads_forget` moves on. Order imports, erasures, stream views,
a publish and changes of customers' tiers call it, so an entry is never read again once its data changed;
entries expire after READS_SECONDS in any case, which bounds what an edit the version does not see (a
stream's views of a stream still live) can leave unseen.

Only figures and database ids are cached, never a name, phone or external id: the callers resolve those live,
so an erasure or a rename shows at once.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

READS_SECONDS = 3600
PREFIX = "clv:reads"
_MISSING = object()


def _generation_key(brand_id: int) -> str:
    return f"{PREFIX}:gen:{brand_id}"


def _generation(brand_id: int) -> int:
    """The brand's generation; a missing one (first read, evicted) starts at the current millisecond, so it
    never falls back to a value whose entries may still be cached."""
    key = _generation_key(brand_id)
    generation = cache.get(key)
    if generation is None:
        cache.add(key, int(timezone.now().timestamp() * 1000), None)
        generation = cache.get(key, 0)
    return generation


def reads_version(*, brand) -> str | None:
    """The brand's read version: published run, data version, generation (two index reads, one cache get);
    None when the cache does not answer."""
    from apps.analytics.selectors import published_run
    from apps.analytics.snapshots import data_version

    try:
        generation = _generation(brand.pk)
    except Exception:  # a cache that is down costs the computation, never the answer
        logger.warning("read cache unavailable", exc_info=True)
        return None
    run = published_run(brand=brand, only=("id",))
    return f"r{run.pk if run else 0}.{data_version(brand)}.g{generation}"


def _generation_move(brand_id: int) -> None:
    key = _generation_key(brand_id)
    try:
        try:
            cache.incr(key)
        except ValueError:  # not set yet (or evicted): any value other than the last one read will do
            cache.set(key, int(timezone.now().timestamp() * 1000), None)
    except Exception:  # the cache is down: the data version still sees new orders; entries expire anyway
        logger.warning(
            "read cache unavailable: brand %s's cached reads not forgotten", brand_id, exc_info=True
        )


def reads_forget(*, brand_id: int) -> None:
    """Every cached read of the brand is stale from now on (the generation moves on), and again when the
    caller's transaction commits: a reader between the two would have cached what it read before the
    commit under the first new generation."""
    _generation_move(brand_id)
    transaction.on_commit(lambda: _generation_move(brand_id))


def reads_cached(*, brand, name: str, params: dict, compute):
    """`compute()` for the brand's report `name` with `params` (JSON-able), from the cache when the brand's
    data have not changed since it was computed. Errors raised by `compute` are not cached."""
    version = reads_version(brand=brand)
    if version is None:
        return compute()
    day = timezone.now().astimezone(brand.tzinfo).date().isoformat()
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:24]
    key = f"{PREFIX}:{brand.pk}:{name}:{version}:{day}:{digest}"
    try:
        hit = cache.get(key, _MISSING)
    except Exception:
        logger.warning("read cache unavailable", exc_info=True)
        return compute()
    if hit is not _MISSING:
        return hit
    value = compute()
    try:
        cache.set(key, value, READS_SECONDS)
    except Exception:
        logger.warning("read cache unavailable", exc_info=True)
    return value
