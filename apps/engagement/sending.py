"""Sending touches: claim the due ones, check every guard again, render, hand to the backend, record.

A touch is claimed (planned → queued) with FOR UPDATE SKIP LOCKED, so two workers never take the same one;
a touch left queued by a worker that died is claimed again after STALE_QUEUED and re-sent with the same
idempotency key (the gateway drops the repeat). The guards run again because time passed since planning:
consent or opt-outs may have changed, the customer may have bought, other touches may have gone out, the
holdout share may have changed, the worker may be late (quiet hours, the window). A touch caught by quiet
hours is moved to their end when that is still inside its window.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from apps.brands.models import Brand
from apps.engagement import guards, selectors
from apps.engagement.delivery import ConsoleBackend, EmailBackend, Message, Outcome, WebhookBackend
from apps.engagement.models import (
    ACTIVE_STATUSES,
    Channel,
    ContactPolicy,
    ExperimentAssignment,
    FollowupRule,
    Gateway,
    GroupPost,
    Reason,
    Touch,
    TouchStatus,
)
from apps.engagement.planning import rule_uses_scores
from apps.engagement.services import click_token

logger = logging.getLogger(__name__)

STALE_QUEUED = dt.timedelta(minutes=15)
BATCH = 1000


@dataclass
class SendResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    rescheduled: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    grants: int = 0
    group_posts_sent: int = 0

    def add(self, other: SendResult) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.rescheduled += other.rescheduled
        self.grants += other.grants
        self.group_posts_sent += other.group_posts_sent
        merged = Counter(self.suppressed)
        merged.update(other.suppressed)
        self.suppressed = dict(merged)


def touches_send_due(
    *,
    brand: Brand | None = None,
    now: dt.datetime | None = None,
    batch: int = BATCH,
    limit: int | None = None,
    backends=None,
) -> SendResult:
    """Send every touch due by `now` (of one brand, or all), `batch` at a time, at most `limit` in this call.
    `backends`: a callable (policy, kind) -> backend, for tests and benchmarks; default per the brand's
    policy."""
    now = now or timezone.now()
    total = SendResult()
    total.add(group_posts_send_due(brand=brand, now=now, backends=backends))
    while limit is None or total.claimed < limit:
        size = batch if limit is None else min(batch, limit - total.claimed)
        ids = _claim(brand=brand, now=now, batch=size)
        if not ids:
            return total
        part = touches_send(touch_ids=ids, now=now, backends=backends)
        part.claimed = len(ids)
        total.add(part)
    return total


def _claim(*, brand, now, batch: int | None, model=Touch) -> list[int]:
    """Claim (planned → queued) up to `batch` due rows of `model` (touches or group posts), and rows left
    queued by a worker that died; SKIP LOCKED keeps two workers off the same rows.

    The due rows are found through the (brand, status, scheduled_at) index and sorted: ordering by an
    expression keeps the planner off the list's (brand, -scheduled_at, -id) index, whose backward walk from the
    oldest row reads every future touch before the due ones (24 s a claim on a demo brand with fresh rows and
    no statistics yet)."""
    table = model._meta.db_table
    limit = "" if batch is None else "LIMIT %s"
    where = "(status = 'planned' AND scheduled_at <= %s) OR (status = 'queued' AND queued_at < %s)"
    params: list = [now, now - STALE_QUEUED]
    if brand is not None:
        where = f"brand_id = %s AND ({where})"
        params.insert(0, brand.pk)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = 'queued', queued_at = %s, updated_at = %s WHERE id IN ("  # noqa: S608
            f"SELECT id FROM {table} WHERE {where} ORDER BY scheduled_at + interval '0 s', id {limit} "
            "FOR UPDATE SKIP LOCKED) "
            "RETURNING id",
            [now, now, *params, *([] if batch is None else [batch])],
        )
        return sorted(r[0] for r in cursor.fetchall())


def _claimed_frame(ids: list[int]) -> pd.DataFrame:
    from apps.customers.models import Customer

    touches, customers = Touch._meta.db_table, Customer._meta.db_table
    sql = (
        "SELECT t.id, t.key::text, t.brand_id, t.customer_id, t.rule_id, t.stream_id, t.channel, t.sender, "  # noqa: S608
        "t.mass_send, t.window_ends_at, t.tier_code, c.external_id, c.email, c.marketing_consent, "
        "c.automated_decisions_opt_out, c.erased_at IS NOT NULL "
        f"FROM {touches} t JOIN {customers} c ON c.brand_id = t.brand_id AND c.id = t.customer_id "
        "WHERE t.id = ANY(%s) ORDER BY t.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        rows = cursor.fetchall()
    columns = [
        "id",
        "key",
        "brand_id",
        "customer_id",
        "rule_id",
        "stream_id",
        "channel",
        "sender",
        "mass_send",
        "window_ends_at",
        "tier_code",
        "external_id",
        "email",
        "consent",
        "profiling_opt_out",
        "erased",
    ]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame["window_ends_at"] = pd.to_datetime(frame["window_ends_at"], utc=True).dt.tz_localize(None)
    return frame


def touches_send(*, touch_ids: list[int], now: dt.datetime, backends=None) -> SendResult:
    """Check, render, send and record these (claimed) touches."""
    frame = _claimed_frame(touch_ids)
    result = SendResult()
    for brand_id, part in frame.groupby("brand_id"):
        brand = Brand.objects.get(pk=brand_id)
        result.add(_send_brand(brand=brand, part=part.reset_index(drop=True), now=now, backends=backends))
    return result


def _send_brand(*, brand: Brand, part: pd.DataFrame, now: dt.datetime, backends) -> SendResult:
    policy = ContactPolicy.objects.get_or_create(brand=brand)[0]
    rules = {
        r.pk: r
        for r in FollowupRule.objects.filter(brand=brand, pk__in=part["rule_id"].unique().tolist())
        .select_related("template", "benefit", "segment")
        .prefetch_related("tiers")
    }
    zone = brand.tzinfo
    n = len(part)
    now64 = guards.as_utc64(now)
    ids = part["customer_id"].to_numpy(dtype=np.int64)
    reason = np.full(n, "", dtype=object)

    def fail(mask, code: str) -> None:
        reason[(reason == "") & np.asarray(mask, dtype=bool)] = str(code)

    rule_of = [rules[int(r)] for r in part["rule_id"]]
    fail([not r.is_active for r in rule_of], Reason.RULE_INACTIVE)
    fail(part["erased"].to_numpy(dtype=bool), Reason.ERASED)
    fail(~part["consent"].to_numpy(dtype=bool), Reason.NO_CONSENT)
    uses = {pk: rule_uses_scores(r, [t.pk for t in r.tiers.all()]) for pk, r in rules.items()}
    by_scores = np.array([uses[int(r)] for r in part["rule_id"]], dtype=bool)
    fail(by_scores & part["profiling_opt_out"].to_numpy(dtype=bool), Reason.PROFILING_OPT_OUT)
    opted = selectors.opt_outs(brand=brand, customer_ids=ids)
    channel = part["channel"].to_numpy(dtype=object)
    opted_mask = np.isin(ids, list(opted.get("", set())))
    for c in Channel.values:
        opted_mask |= (channel == c) & np.isin(ids, list(opted.get(c, set())))
    fail(opted_mask, Reason.OPTED_OUT)
    fail((channel == Channel.EMAIL) & (part["email"].fillna("") == "").to_numpy(), Reason.NO_CHANNEL)
    fail(guards.holdout_mask(ids, policy.holdout_salt, float(policy.holdout_percent)), Reason.HOLDOUT)
    window_end = part["window_ends_at"].to_numpy(dtype="datetime64[ns]")
    fail(now64 > window_end, Reason.WINDOW_PASSED)
    # quiet hours now: move to their end inside the window, else drop
    quiet = guards.in_quiet_hours(np.full(n, now64), zone, policy.quiet_start, policy.quiet_end) & (
        reason == ""
    )
    later = guards.quiet_shift(np.full(n, now64), zone, policy.quiet_start, policy.quiet_end)
    fail(quiet & (later > window_end), Reason.QUIET_HOURS)
    reschedule = quiet & (reason == "")
    # bought since the occasion (rules that skip buyers)
    window = np.array(
        [np.timedelta64(int(r.window_hours) * 3600, "s") for r in rule_of], dtype="timedelta64[ns]"
    )
    skip = np.array([r.skip_if_bought for r in rule_of], dtype=bool) & (reason == "") & ~reschedule
    if skip.any():
        bought = np.zeros(n, dtype=bool)
        bought[skip] = selectors.paid_since(
            brand=brand, customer_ids=ids[skip], since=(window_end - window)[skip], until=now
        )
        fail(bought, Reason.ALREADY_BOUGHT)
    # caps, counting the touches that went or are going out except these ones
    live = (reason == "") & ~reschedule
    if live.any():
        existing = selectors.active_touches(
            brand=brand,
            customer_ids=ids[live],
            start=(now - dt.timedelta(days=32)),
            end=(now + dt.timedelta(days=32)),
        )
        existing = existing[~existing["id"].isin(part["id"])]
        times = np.full(n, now64)
        cap = np.ones(n, dtype=bool)
        cap[live] = guards.rolling_cap_ok(ids[live], times[live], existing, policy.cap_72h)
        fail(~cap, Reason.CAP_72H)
        month = np.ones(n, dtype=bool)
        month[live] = guards.month_cap_ok(ids[live], times[live], existing, policy.cap_month, zone)
        fail(~month, Reason.CAP_MONTH)
        wecom = live & (channel == Channel.WECOM)
        if wecom.any():
            senders = part["sender"].to_numpy(dtype=object)
            daily = np.ones(n, dtype=bool)
            wecom_existing = existing[existing["channel"] == Channel.WECOM]
            for sender in set(senders[wecom]):
                rows = wecom & (senders == sender)
                daily[rows] = guards.wecom_daily_ok(
                    ids[rows], times[rows], sender, wecom_existing, policy.wecom_daily_per_sender, zone
                )
            fail(~daily, Reason.WECOM_DAILY)
    result = SendResult()
    go = (reason == "") & ~reschedule
    outcomes = _dispatch(brand=brand, policy=policy, part=part[go], rules=rules, backends=backends)
    result.rescheduled = int(reschedule.sum())
    result.suppressed = dict(Counter(reason[reason != ""]))
    result.grants = _grant_benefits(brand=brand, part=part[go], rules=rules, outcomes=outcomes, now=now)
    _record(
        part=part, reason=reason, reschedule=reschedule, later=later, outcomes=outcomes, now=now, zone=zone
    )
    result.sent = sum(1 for o in outcomes.values() if o.ok)
    result.failed = sum(1 for o in outcomes.values() if not o.ok)
    return result


def render(template, *, context: dict) -> tuple[str, str]:
    """(subject, body) of a template in its language, placeholders filled. Default texts (msgids) come out
    translated; text staff wrote comes out as written."""
    with translation.override(template.language):
        subject = gettext(template.subject) if template.subject else ""
        body = gettext(template.body)
        values = {k: (str(v) if v is not None else "") for k, v in context.items()}
        return subject.format_map(_Missing(values)), body.format_map(_Missing(values))


class _Missing(dict):
    def __missing__(self, key):
        return ""


def _recommended_categories(brand, customer_ids: list[int]) -> dict[int, str]:
    """Each customer's first recommended product category under the published run (one query)."""
    from apps.analytics.models import CustomerRecommendation

    rows = CustomerRecommendation.objects.filter(
        brand=brand, run__status="published", customer_id__in=customer_ids
    ).values_list("customer_id", "categories")
    return {customer: categories[0] for customer, categories in rows if categories}


def _tracked_link(brand_id: int, key: str) -> str:
    token = click_token(brand_id, key)
    return settings.CLV_SITE_URL + _click_path().replace("TOKEN", token)


@functools.cache
def _click_path() -> str:
    """The click endpoint's path with TOKEN where the token goes (reversed once, not per touch)."""
    return reverse("engagement_click", args=["TOKEN"])


def _dispatch(*, brand, policy, part: pd.DataFrame, rules, backends) -> dict[str, Outcome]:
    """Render and send; returns key → outcome."""
    if part.empty:
        return {}
    from apps.loyalty.models import Tier
    from apps.streams.models import Stream

    streams = dict(
        Stream.objects.filter(brand=brand, pk__in=[int(s) for s in part["stream_id"].dropna()]).values_list(
            "pk", "title"
        )
    )
    tiers = {t.code: t for t in Tier.objects.filter(brand=brand)}
    wanted = any("{recommendation}" in (r.template.body + r.template.subject) for r in rules.values())
    offers = _recommended_categories(brand, part["customer_id"].astype(int).tolist()) if wanted else {}
    by_backend: dict[str, list[Message]] = {}
    for row in part.itertuples(index=False):
        rule = rules[int(row.rule_id)]
        with translation.override(rule.template.language):
            tier = tiers.get(row.tier_code)
            context = {
                "brand": brand.name,
                "stream": streams.get(int(row.stream_id), "") if not pd.isna(row.stream_id) else "",
                "benefit": gettext(rule.benefit.name) if rule.benefit_id else "",
                "tier": tier.display_name if tier else "",
                "link": _tracked_link(brand.pk, row.key),
                "recommendation": offers.get(int(row.customer_id), ""),
            }
        subject, body = render(rule.template, context=context)
        kind = "email" if row.channel == Channel.EMAIL else "gateway"
        by_backend.setdefault(kind, []).append(
            Message(
                key=row.key,
                brand=brand.slug,
                channel=row.channel,
                customer_id=row.external_id,
                to=row.email if kind == "email" else "",
                subject=subject,
                body=body,
                link=context["link"],
                sender=row.sender or "",
                mass_send=None if pd.isna(row.mass_send) else int(row.mass_send),
            )
        )
    outcomes: dict[str, Outcome] = {}
    for kind, messages in by_backend.items():
        backend = backends(policy, kind) if backends else backend_for(policy, kind)
        for outcome in backend.send(messages):
            outcomes[outcome.key] = outcome
    return outcomes


def backend_for(policy: ContactPolicy, kind: str):
    """The backend a brand's policy names for e-mail ("email") or its gateway channels ("gateway")."""
    if kind == "email":
        return EmailBackend(from_email=settings.DEFAULT_FROM_EMAIL)
    if policy.gateway == Gateway.WEBHOOK and policy.webhook_url and policy.webhook_secret:
        return WebhookBackend(
            url=policy.webhook_url,
            secret=policy.webhook_secret,
            timeout=policy.webhook_timeout_seconds,
            max_attempts=policy.webhook_max_attempts,
        )
    return ConsoleBackend()


def _grant_benefits(*, brand, part: pd.DataFrame, rules, outcomes: dict[str, Outcome], now) -> int:
    """Grant each sent touch's rule benefit (source campaign: quotas and opt-outs apply) and link the grant."""
    from apps.loyalty.services import GRANT_BATCH_MAX, benefit_grant

    if part.empty:
        return 0
    sent = part[[outcomes.get(k, Outcome(k, False, 0)).ok for k in part["key"]]]
    granted = 0
    links: list[tuple[int, int]] = []
    for rule_id, group in sent.groupby("rule_id"):
        rule = rules[int(rule_id)]
        if rule.benefit_id is None or not rule.benefit.is_active:
            continue
        touch_of = dict(zip(group["customer_id"].astype(int), group["id"].astype(int), strict=False))
        customers = list(touch_of)
        for start in range(0, len(customers), GRANT_BATCH_MAX):
            chunk = customers[start : start + GRANT_BATCH_MAX]
            grants = benefit_grant(
                brand=brand,
                benefit=rule.benefit,
                customer_ids=chunk,
                source="campaign",
                note=gettext("Follow-up rule %(rule)s") % {"rule": rule.pk},
                when=now,
            ).grants
            granted += len(grants)
            links += [(touch_of[g.customer_id], g.pk) for g in grants]
    if links:
        table = Touch._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} t SET benefit_grant_id = x.grant_id FROM unnest(%s::bigint[], %s::bigint[]) "  # noqa: S608
                "AS x(id, grant_id) WHERE t.id = x.id",
                [[a for a, _b in links], [b for _a, b in links]],
            )
    return granted


def _record(*, part, reason, reschedule, later, outcomes: dict[str, Outcome], now, zone) -> None:
    """Write every claimed touch's new state in three set-based updates."""
    table = Touch._meta.db_table
    assignments = ExperimentAssignment._meta.db_table
    ids = part["id"].astype(int).to_numpy()
    keys = part["key"].to_numpy(dtype=object)
    # flag: delivered (sent rows) or holdout (suppressed rows)
    status, why, error, attempts, sent, flag = [], [], [], [], [], []
    for i in range(len(part)):
        outcome = outcomes.get(keys[i])
        if reason[i]:
            holdout = reason[i] == Reason.HOLDOUT
            status.append(TouchStatus.SUPPRESSED.value)
            why.append(reason[i])
            error.append("")
            attempts.append(0)
            sent.append(False)
            flag.append(holdout)
        elif reschedule[i] or outcome is None:
            status.append(None)
            why.append("")
            error.append("")
            attempts.append(0)
            sent.append(False)
            flag.append(False)
        elif outcome.ok:
            status.append((TouchStatus.DELIVERED if outcome.delivered else TouchStatus.SENT).value)
            why.append("")
            error.append("")
            attempts.append(outcome.attempts)
            sent.append(True)
            flag.append(outcome.delivered)
        else:
            status.append(TouchStatus.FAILED.value)
            why.append((Reason.GATEWAY_REJECTED if outcome.rejected else Reason.GATEWAY_ERROR).value)
            error.append(outcome.error[:200])
            attempts.append(outcome.attempts)
            sent.append(False)
            flag.append(False)
    done = np.array([s is not None for s in status], dtype=bool)
    with transaction.atomic(), connection.cursor() as cursor:
        if done.any():
            cursor.execute(
                f"""
                WITH updated AS (
                UPDATE {table} t SET status = x.status, reason = x.reason, last_error = x.error,
                    attempts = t.attempts + x.attempts,
                    sent_at = CASE WHEN x.sent THEN %s ELSE t.sent_at END,
                    delivered_at = CASE WHEN x.sent AND x.flag THEN %s ELSE t.delivered_at END,
                    holdout = CASE WHEN x.status = 'suppressed' THEN x.flag ELSE t.holdout END,
                    updated_at = %s
                FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::int[], %s::bool[], %s::bool[])
                    AS x(id, status, reason, error, attempts, sent, flag)
                WHERE t.id = x.id
                RETURNING t.brand_id, t.customer_id, t.occasion, t.sent_at
                )
                -- a touch of an experiment's arm that went out exposes its customer to the treatment
                UPDATE {assignments} a SET exposed_at = u.sent_at
                FROM updated u
                WHERE u.occasion LIKE 'exp:%%' AND u.sent_at IS NOT NULL AND a.exposed_at IS NULL
                  AND a.brand_id = u.brand_id AND a.customer_id = u.customer_id
                  AND a.experiment_id::text = substr(u.occasion, 5)
                """,  # noqa: S608
                [
                    now,
                    now,
                    now,
                    ids[done].tolist(),
                    [s for s, d in zip(status, done, strict=True) if d],
                    [s for s, d in zip(why, done, strict=True) if d],
                    [s for s, d in zip(error, done, strict=True) if d],
                    [s for s, d in zip(attempts, done, strict=True) if d],
                    [s for s, d in zip(sent, done, strict=True) if d],
                    [s for s, d in zip(flag, done, strict=True) if d],
                ],
            )
        if reschedule.any():
            when = later[reschedule]
            cursor.execute(
                f"""
                UPDATE {table} t SET status = 'planned', scheduled_at = x.at, send_hour = x.hour, updated_at = %s
                FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[]) AS x(id, at, hour) WHERE t.id = x.id
                """,  # noqa: S608
                [
                    now,
                    ids[reschedule].tolist(),
                    [pd.Timestamp(w, tz="UTC").to_pydatetime() for w in when],
                    guards.send_hours(when, zone).astype(int).tolist(),
                ],
            )


# --- posts in WeCom groups ---------------------------------------------------------------------------------


def group_posts_send_due(*, brand: Brand | None = None, now: dt.datetime, backends=None) -> SendResult:
    """Send the group posts due by `now` (a few per occasion): claimed like touches, the rule, the window,
    the quiet hours and the group's monthly limit checked again, sent through the brand's gateway."""
    ids = _claim(brand=brand, now=now, batch=None, model=GroupPost)
    result = SendResult()
    if not ids:
        return result
    posts = list(
        GroupPost.objects.filter(pk__in=ids).select_related("brand", "community", "rule__template", "stream")
    )
    for brand_id in sorted({p.brand_id for p in posts}):
        mine = [p for p in posts if p.brand_id == brand_id]
        result.add(_group_posts_send_brand(brand=mine[0].brand, posts=mine, now=now, backends=backends))
    return result


def _group_posts_send_brand(*, brand, posts: list, now: dt.datetime, backends) -> SendResult:
    policy = ContactPolicy.objects.get_or_create(brand=brand)[0]
    zone = brand.tzinfo
    now64 = guards.as_utc64(now)
    existing = selectors.group_posts_around(
        brand=brand, start=now - dt.timedelta(days=32), end=now + dt.timedelta(days=32)
    )
    active = existing[existing["status"].isin(ACTIVE_STATUSES) & ~existing["id"].isin([p.pk for p in posts])]
    quiet = bool(guards.in_quiet_hours(np.array([now64]), zone, policy.quiet_start, policy.quiet_end)[0])
    later = guards.quiet_shift(np.array([now64]), zone, policy.quiet_start, policy.quiet_end)[0]
    result = SendResult()
    going, messages = [], []
    for post in posts:
        window_end = guards.as_utc64(post.window_ends_at)
        if not post.rule.is_active:
            post.status, post.reason = TouchStatus.SUPPRESSED, Reason.RULE_INACTIVE
        elif now64 > window_end:
            post.status, post.reason = TouchStatus.SUPPRESSED, Reason.WINDOW_PASSED
        elif quiet and later > window_end:
            post.status, post.reason = TouchStatus.SUPPRESSED, Reason.QUIET_HOURS
        elif quiet:
            post.status = TouchStatus.PLANNED
            post.scheduled_at = pd.Timestamp(later, tz="UTC").to_pydatetime()
            result.rescheduled += 1
        elif not guards.group_monthly_ok(np.array([post.community_id]), np.array([now64]), active, zone)[0]:
            post.status, post.reason = TouchStatus.SUPPRESSED, Reason.GROUP_MONTHLY
        else:
            active = pd.concat(
                [active, pd.DataFrame({"community_id": [post.community_id], "scheduled_at": [now64]})],
                ignore_index=True,
            )
            going.append(post)
            with translation.override(post.rule.template.language):
                context = {
                    "brand": brand.name,
                    "stream": post.stream.title if post.stream_id else "",
                    "benefit": gettext(post.rule.benefit.name) if post.rule.benefit_id else "",
                    "tier": "",
                    "link": _landing_link(policy, post.rule),
                }
            subject, body = render(post.rule.template, context=context)
            messages.append(
                Message(
                    key=str(post.key),
                    brand=brand.slug,
                    channel=Channel.WECOM,
                    customer_id="",
                    to="",
                    subject=subject,
                    body=body,
                    link=context["link"],
                    sender=post.rule.wecom_sender or "",
                    group_id=post.community.external_id,
                )
            )
        if post.status == TouchStatus.SUPPRESSED:
            result.suppressed[post.reason] = result.suppressed.get(post.reason, 0) + 1
    backend = backends(policy, "gateway") if backends else backend_for(policy, "gateway")
    outcomes = {o.key: o for o in backend.send(messages)} if messages else {}
    for post in going:
        outcome = outcomes[str(post.key)]
        post.attempts += outcome.attempts
        if outcome.ok:
            post.status, post.sent_at = TouchStatus.SENT, now
            result.group_posts_sent += 1
        else:
            post.status = TouchStatus.FAILED
            post.reason = Reason.GATEWAY_REJECTED if outcome.rejected else Reason.GATEWAY_ERROR
            post.last_error = outcome.error[:200]
    for post in posts:
        post.updated_at = now
    GroupPost.objects.bulk_update(
        posts, ["status", "reason", "scheduled_at", "attempts", "sent_at", "last_error", "updated_at"]
    )
    return result


def _landing_link(policy: ContactPolicy, rule) -> str:
    """A group post's link: the rule's link, else the brand's landing page (a post has no click tracking:
    it is not one customer's)."""
    return rule.link_url or policy.landing_url or ""
