"""Reads cached per brand and data version: report results that change only when a run is published or data
arrive, computed once and shared by every process through Django's cache (Redis in production, set by
CACHE_URL; per process in the demo; off with `dummycache://`).

    reads_cached(brand=…, name=…, params=…, compute=…)   the cached result, computed first on a miss
    reads_forget(brand_id=…)                               every cached read of the brand is stale from now on

A key holds the brand, the report and its parameters, the brand's day (what depends on today: periods that
have started, censoring "now"), and the brand's read version: its published run, its data version
(snapshots.data_version: the newest order and the streams' count, newest id and latest change; with the
run, index reads in one query) and a generation that `reads_forget` moves on. Order imports that change
orders in place, erasures, stream views, a publish and saved customers call it, so an entry is never read again
once its data changed (but for the late reads below);
entries expire after READS_SECONDS in any case, which bounds what an edit the version does not see (a
stream's views of a stream still live) can leave unseen.

Root customer lists of the API count their totalCount through it too (analytics/graphql/counts.py).

New orders and streams move the data version only (not the generation). During a live stream that happens
every few seconds, and reports that take seconds at a million customers would be computed again all the time
(measured: 2 requests a second, p95 27 s, at 20 clients on bench/load's live phase). So the value of the same
report computed last for an earlier data version of the same generation stands while it is at most
snapshots.FRESH_SECONDS old: reports trail new orders by that much at most, never a publish, an erasure,
saved customers or orders changed in place (reads_forget). (A report computed from the dashboard snapshot reads
it for the current data version exactly: what is kept here is keyed by that version.) Past it, one reader computes the key at a time; the
others are served that last value when it is at most STALE_SECONDS old, or else wait for the computation's
result (up to COMPUTE_SECONDS) instead of computing it again.

Only figures and database ids are cached here, never a name, phone or external id: the callers resolve those
live, so an erasure or a rename shows at once. The API's response cache (apps/api/response_cache.py) keeps whole
responses, which may hold them, under the same version: encrypted with generation_secret, a key of the
brand's generation that reads_forget deletes (an erasure calls it), so no cached copy can be read afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

READS_SECONDS = 3600
COMPUTE_SECONDS = 30  # a reader waits at most this long for another's computation, then computes itself
STALE_SECONDS = 300  # while another reader computes, the last value computed is served if at most this old
WAIT_STEP_SECONDS = 0.05
PREFIX = "clv:reads"
_MISSING = object()


def _generation_key(brand_id: int) -> str:
    return f"{PREFIX}:gen:{brand_id}"


def _generation(brand_id: int) -> int:
    """The brand's generation; a missing one (first read, evicted) starts at a random 62-bit number, so it
    never falls back to a value whose entries may still be cached."""
    key = _generation_key(brand_id)
    generation = cache.get(key)
    if generation is None:
        cache.add(key, secrets.randbits(62), None)
        generation = cache.get(key, 0)
    return generation


def reads_version(*, brand_id: int) -> str | None:
    """The brand's read version: published run, data version and generation (one query of index reads and
    one cache get); None when the cache does not answer."""
    from apps.analytics.models import ModelRun, RunStatus
    from apps.analytics.snapshots import _version_sql

    try:
        generation = _generation(brand_id)
    except Exception:  # a cache that is down costs the computation, never the answer
        logger.warning("read cache unavailable", exc_info=True)
        return None
    data_sql, n = _version_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 'r' || COALESCE((SELECT MAX(id) FROM {ModelRun._meta.db_table} "  # noqa: S608 - constants
            f"WHERE brand_id = %s AND status = %s), 0) || '.' || ({data_sql})",
            [brand_id, RunStatus.PUBLISHED.value, *[brand_id] * n],
        )
        return f"{cursor.fetchone()[0]}.g{generation}"


def _secret_key(brand_id: int, generation) -> str:
    return f"{PREFIX}:secret:{brand_id}:{generation}"


def generation_secret(*, brand_id: int, generation) -> bytes | None:
    """A random 256-bit key of the brand's read generation, for cached entries that hold personal data (the
    API's response cache encrypts them under it): made on first use, kept until the generation moves on,
    then deleted, so that what was cached before an erasure cannot be read back from the cache, not even
    from a copy of its memory (crypto-shredding). None when the cache does not answer."""
    key = _secret_key(brand_id, generation)
    try:
        secret = cache.get(key)
        if secret is None:
            cache.add(key, secrets.token_bytes(32), None)
            secret = cache.get(key)
    except Exception:
        logger.warning("read cache unavailable", exc_info=True)
        return None
    return secret


def _generation_move(brand_id: int) -> None:
    key = _generation_key(brand_id)
    try:
        old = cache.get(key)
        if old is not None:  # the entries of the old generation that hold personal data become unreadable
            cache.delete(_secret_key(brand_id, old))
        try:
            cache.incr(key)
        except ValueError:  # not set yet (or evicted): any value other than the last one read will do
            cache.set(key, secrets.randbits(62), None)
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


def reads_cached(*, brand, name: str, params: dict, compute, daily: bool = True):
    """`compute()` for the brand's report `name` with `params` (JSON-able), from the cache when the brand's
    data have not changed since it was computed (and, when `daily`, on the same day of the brand: what
    depends on today). `brand` is a Brand, or a brand id when not `daily`. Errors of `compute` are not
    cached."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    version = reads_version(brand_id=brand_id)
    if version is None:
        return compute()
    day = timezone.now().astimezone(brand.tzinfo).date().isoformat() if daily else "-"
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:24]
    key = f"{PREFIX}:{brand_id}:{name}:{version}:{day}:{digest}"
    # which key of the same report (brand, name, day, parameters) was computed last in this generation, and
    # when: new orders and stream views move the data version only, and may be served late by STALE_SECONDS;
    # what reads_forget announces (a publish, an erasure, saved customers) never is
    generation = version.rsplit(".g", 1)[1]
    last_key = f"{PREFIX}:{brand_id}:{name}:last:g{generation}:{day}:{digest}"
    try:
        hit = cache.get(key, _MISSING)
    except Exception:
        logger.warning("read cache unavailable", exc_info=True)
        return compute()
    if hit is not _MISSING:
        return hit
    from apps.analytics.snapshots import FRESH_SECONDS

    fresh = _recent_stale(last_key, key, FRESH_SECONDS)  # only new orders or streams since: it stands
    if fresh is not _MISSING:
        return fresh
    # one computation at a time per key: the others wait for its result (a report that takes seconds,
    # asked by many screens at once after a publish, would otherwise be computed by every one of them)
    try:
        computing = cache.add(f"{key}:computing", 1, COMPUTE_SECONDS)
    except Exception:
        computing = True
    if not computing:
        stale = _recent_stale(last_key, key, STALE_SECONDS)
        if stale is not _MISSING:
            return stale
        deadline = time.monotonic() + COMPUTE_SECONDS
        while time.monotonic() < deadline:
            time.sleep(WAIT_STEP_SECONDS)
            try:
                hit = cache.get(key, _MISSING)
            except Exception:
                break
            if hit is not _MISSING:
                return hit
    try:
        value = compute()
        try:
            cache.set(key, value, READS_SECONDS)
            cache.set(last_key, (time.time(), key), READS_SECONDS)
        except Exception:
            logger.warning("read cache unavailable", exc_info=True)
        return value
    finally:
        if computing:
            try:
                cache.delete(f"{key}:computing")
            except Exception:
                logger.warning("read cache unavailable", exc_info=True)


def _recent_stale(last_key: str, key: str, max_age: float):
    """The value last computed for the report of `last_key`, under another key than `key`, when it is at most
    `max_age` seconds old; _MISSING otherwise (none, too old, evicted, or the cache does not answer)."""
    try:
        last = cache.get(last_key)
        if not last or last[1] == key or time.time() - last[0] > max_age:
            return _MISSING
        return cache.get(last[1], _MISSING)
    except Exception:
        return _MISSING
