"""Planning follow-ups: for an occasion (a stream that ended, or customers entering win-back), every active
rule of its trigger picks its customers, and each of them gets a touch row, planned or suppressed with the
first guard that stopped it. Set-based: one frame per occasion, the guards in guards.py over arrays, one COPY
and one INSERT … ON CONFLICT DO NOTHING, so planning a stream with 200,000 viewers takes a fixed number of
queries, and planning the same occasion again adds only customers who were not planned yet.

Order of the guards (the first that fails is the reason recorded): erased, consent, automated-decision
opt-out (rules that target by scores), channel (opt-outs, reachability), window, quiet hours, the 72-hour
cap, the monthly cap, WeCom's daily limit per sender; the holdout last, so the control group is exactly the
customers who would otherwise have been touched (with the time and channel they would have had). Held-out
touches count toward the caps like sent ones, so both arms hold the same kinds of occasions.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.bulk import copy_rows, timestamp_texts
from apps.engagement import guards, segments, selectors
from apps.engagement.models import (
    ACTIVE_STATUSES,
    Audience,
    Channel,
    ContactPolicy,
    FollowupRule,
    GroupPost,
    Reason,
    Touch,
    TouchStatus,
    Trigger,
)

logger = logging.getLogger(__name__)

MONTH = 32 * guards.DAY  # reach of the monthly cap around an occasion
# channels that reach a customer through the brand's gateway by their external id (no address needed here)
GATEWAY_CHANNELS = (Channel.WECHAT, Channel.WECOM, Channel.APP_PUSH)


class PlanError(Exception):
    """An occasion that cannot be planned, with a message for staff."""


@dataclass
class RulePlan:
    rule_id: int
    name: str
    eligible: int = 0
    planned: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    groups_planned: int = 0  # posts in WeCom groups (rules that post to groups)
    group_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class PlanResult:
    occasion: str
    audience: int  # customers the occasion concerns
    written: int = 0  # touch rows added now (a repeated plan adds only the new customers)
    rules: list[RulePlan] = field(default_factory=list)
    send_times: list[dt.datetime] = field(default_factory=list)  # distinct minutes with planned touches
    frame: pd.DataFrame | None = None  # a dry run's outcome per customer (preview)

    @property
    def planned(self) -> int:
        return sum(r.planned for r in self.rules)

    @property
    def reasons(self) -> dict[str, int]:
        total: Counter = Counter()
        for r in self.rules:
            total.update(r.reasons)
        return dict(total)

    @property
    def groups_planned(self) -> int:
        return sum(r.groups_planned for r in self.rules)


def rule_uses_scores(rule: FollowupRule, tier_ids: list[int]) -> bool:
    """Whether the rule picks customers by model outputs (an automated decision about them), its saved
    segment's filters included."""
    return bool(
        rule.trigger == Trigger.WIN_BACK
        or rule.stages
        or tier_ids
        or rule.min_churn_probability is not None
        or rule.max_churn_probability is not None
        or rule.min_prospect_propensity is not None
        or (rule.segment_id is not None and rule.segment.uses_scores)
    )


# why a customer of the occasion is not in a rule's audience (the first condition that fails)
EXCLUSIONS = ("audience", "segment", "stage", "tier", "churn", "watch_time", "interactions", "propensity")


def segment_members(rule, frame: pd.DataFrame) -> np.ndarray | None:
    """The customers of an audience frame in the saved segment the rule (or experiment) targets; None when it
    targets none. One query."""
    if rule.segment_id is None:
        return None
    return segments.segment_member_ids(rule.segment, frame["customer_id"].to_numpy(dtype=np.int64))


def rule_exclusions(
    rule: FollowupRule, tier_ids: list[int], frame: pd.DataFrame, members: np.ndarray | None = None
) -> np.ndarray:
    """For each row of an audience frame (selectors.AUDIENCE_COLUMNS), the first of the rule's audience and
    conditions it fails (EXCLUSIONS), or "" when the rule takes it. `members`: the frame's customers in the
    rule's saved segment (segment_members), None when it targets none."""
    out = np.full(len(frame), "", dtype=object)

    def fail(mask, code):
        out[(out == "") & ~np.asarray(mask, dtype=bool)] = code

    if rule.trigger == Trigger.STREAM_END:
        if rule.audience == Audience.VIEWERS:
            fail(frame["watched"].to_numpy() & ~frame["bought"].to_numpy(), "audience")
        elif rule.audience == Audience.BUYERS:
            fail(frame["bought"].to_numpy(), "audience")
    if members is not None:
        fail(np.isin(frame["customer_id"].to_numpy(dtype=np.int64), members), "segment")
    if rule.stages:
        fail(frame["stage"].isin(rule.stages).to_numpy(), "stage")
    if tier_ids:
        fail(frame["tier_id"].isin(tier_ids).fillna(False).to_numpy(dtype=bool), "tier")
    churn = frame["churn_probability"].to_numpy(dtype=float)
    if rule.min_churn_probability is not None:
        fail(churn >= float(rule.min_churn_probability), "churn")
    if rule.max_churn_probability is not None:
        fail(churn <= float(rule.max_churn_probability), "churn")
    if rule.min_watch_minutes is not None:
        fail(frame["watch_seconds"].to_numpy() >= rule.min_watch_minutes * 60, "watch_time")
    if rule.min_interactions is not None:
        fail(frame["interactions"].to_numpy() >= rule.min_interactions, "interactions")
    if rule.min_prospect_propensity is not None:
        fail(
            frame["prospect_propensity"].to_numpy(dtype=float) >= float(rule.min_prospect_propensity),
            "propensity",
        )
    return out


def rule_mask(
    rule: FollowupRule, tier_ids: list[int], frame: pd.DataFrame, members: np.ndarray | None = None
) -> np.ndarray:
    """The rows of an audience frame the rule's audience and conditions take."""
    return rule_exclusions(rule, tier_ids, frame, members) == ""


def _hours(value) -> np.timedelta64:
    return np.timedelta64(int(round(float(value) * 3600)), "s").astype("timedelta64[ns]")


def followups_plan(*, brand, stream, now: dt.datetime | None = None) -> PlanResult:
    """Plan the follow-ups of a stream that ended: every active stream-end rule, from the stream's end."""
    if stream.brand_id != brand.pk:
        raise PlanError(_("This live stream belongs to another brand."))
    if stream.ended_at is None:
        raise PlanError(
            _("The live stream %(stream)s has not ended: follow-ups are planned from its end time.")
            % {"stream": stream.external_id}
        )
    now = now or timezone.now()
    if now < stream.ended_at:
        # planned "before" the stream ended, the audience would be read up to a time it did not have yet
        raise PlanError(
            _("The live stream %(stream)s ended at %(end)s, after the time planned for (%(now)s).")
            % {
                "stream": stream.external_id,
                "end": stream.ended_at.astimezone(brand.tzinfo).isoformat(timespec="minutes"),
                "now": now.astimezone(brand.tzinfo).isoformat(timespec="minutes"),
            }
        )
    frame = selectors.stream_audience(brand=brand, stream=stream, until=now)
    return occasion_plan(
        brand=brand,
        trigger=Trigger.STREAM_END,
        occasion=f"stream:{stream.pk}",
        anchor=stream.ended_at,
        frame=frame,
        stream_id=stream.pk,
        now=now,
    )


def win_back_plan(*, brand, run, customer_ids, now: dt.datetime | None = None) -> PlanResult:
    """Plan win-back touches for customers who entered the at-risk list or the decline stage at `run`'s
    publish (the occasion time is the publish time)."""
    anchor = run.published_at or timezone.now()
    frame = selectors.customers_audience(brand=brand, customer_ids=customer_ids, at=anchor)
    return occasion_plan(
        brand=brand,
        trigger=Trigger.WIN_BACK,
        occasion=f"run:{run.pk}",
        anchor=anchor,
        frame=frame,
        stream_id=None,
        now=now,
    )


def occasion_plan(
    *,
    brand,
    trigger: str,
    occasion: str,
    anchor: dt.datetime,
    frame: pd.DataFrame,
    stream_id: int | None,
    now: dt.datetime | None = None,
    only_rule: FollowupRule | None = None,
    dry_run: bool = False,
) -> PlanResult:
    """Plan every active rule of `trigger` for the occasion. With `only_rule` and `dry_run` (the admin's
    preview): that rule alone, as if the occasion had never been planned, nothing written; the result's
    `frame` holds every customer of the occasion with the rule's exclusion or the guard that stopped them."""
    now = now or timezone.now()
    policy = ContactPolicy.objects.get_or_create(brand=brand)[0]
    if only_rule is not None:
        rules = [only_rule]
    else:
        rules = list(
            FollowupRule.objects.filter(brand=brand, is_active=True, trigger=trigger)
            .select_related("template", "segment")
            .prefetch_related("tiers")
            .order_by("priority", "pk")
        )
    result = PlanResult(occasion=occasion, audience=len(frame))
    if frame.empty or not rules:
        return result
    zone = brand.tzinfo
    anchor64, now64 = guards.as_utc64(anchor), guards.as_utc64(now)
    ids = frame["customer_id"].to_numpy(dtype=np.int64)
    longest = max(_hours(r.window_hours) for r in rules)
    existing = selectors.active_touches(
        brand=brand,
        customer_ids=ids,
        start=pd.Timestamp(anchor64 - MONTH - 72 * guards.HOUR, tz="UTC").to_pydatetime(),
        end=pd.Timestamp(anchor64 + longest + MONTH, tz="UTC").to_pydatetime(),
    )
    if dry_run:
        existing = existing[existing["occasion"] != occasion]
        done = pd.DataFrame({"rule_id": pd.Series(dtype="int64"), "customer_id": pd.Series(dtype="int64")})
    else:
        done = selectors.occasion_customers(brand=brand, occasion=occasion)
    opted = selectors.opt_outs(brand=brand, customer_ids=ids)
    posting = trigger == Trigger.STREAM_END and any(r.post_to_groups for r in rules)
    if posting:
        members = selectors.group_members(brand=brand, customer_ids=ids, at=anchor)
        posts = selectors.group_posts_around(
            brand=brand,
            start=pd.Timestamp(anchor64 - MONTH, tz="UTC").to_pydatetime(),
            end=pd.Timestamp(anchor64 + longest + MONTH, tz="UTC").to_pydatetime(),
        )
        if dry_run:
            posts = posts[posts["occasion"] != occasion]
    post_rows: list[pd.DataFrame] = []
    hours = (
        selectors.learned_send_hours(brand=brand, min_clicks=policy.min_timing_clicks)
        if policy.learn_send_hour
        else {}
    )
    in_holdout = guards.holdout_mask(ids, policy.holdout_salt, float(policy.holdout_percent))
    opted_all = np.isin(ids, list(opted.get("", set())))
    opted_by = {c: np.isin(ids, list(opted.get(c, set()))) | opted_all for c in Channel.values}
    reachable = {
        Channel.SMS.value: frame["has_phone"].to_numpy(dtype=bool),
        Channel.EMAIL.value: frame["has_email"].to_numpy(dtype=bool),
        **{c.value: np.ones(len(frame), dtype=bool) for c in GATEWAY_CHANNELS},
    }
    rows: list[pd.DataFrame] = []
    for rule in rules:
        tier_ids = [t.pk for t in rule.tiers.all()]
        plan = RulePlan(rule_id=rule.pk, name=rule.name)
        result.rules.append(plan)
        excluded = rule_exclusions(rule, tier_ids, frame, segment_members(rule, frame))
        take = excluded == ""
        if posting and rule.post_to_groups:
            outcome = _group_outcome(
                rule=rule,
                members=members[np.isin(members["customer_id"], ids[take])],
                posts=posts,
                occasion=occasion,
                policy=policy,
                zone=zone,
                anchor64=anchor64,
                now64=now64,
            )
            planned = outcome["status"] == TouchStatus.PLANNED
            plan.groups_planned = int(planned.sum())
            plan.group_reasons = dict(Counter(outcome.loc[~planned, "reason"]))
            post_rows.append(outcome)
            if planned.any():
                posts = pd.concat(
                    [
                        posts,
                        outcome.loc[planned, ["community_id", "scheduled_at", "rule_id"]].assign(
                            occasion=occasion, status=TouchStatus.PLANNED.value
                        ),
                    ],
                    ignore_index=True,
                )
        already = done.loc[done["rule_id"] == rule.pk, "customer_id"].to_numpy()
        take &= ~np.isin(ids, already)
        index = np.flatnonzero(take)
        plan.eligible = len(index)
        if not len(index):
            continue
        part = frame.iloc[index]
        outcome = _rule_outcome(
            rule=rule,
            uses_scores=rule_uses_scores(rule, tier_ids),
            part=part,
            policy=policy,
            zone=zone,
            anchor64=anchor64,
            now64=now64,
            existing=existing,
            hours=hours,
            holdout=in_holdout[index],
            reachable={c: r[index] for c, r in reachable.items()},
            opted={c: o[index] for c, o in opted_by.items()},
            opted_all=opted_all[index],
        )
        planned = outcome["status"] == TouchStatus.PLANNED
        plan.planned = int(planned.sum())
        plan.reasons = dict(Counter(outcome.loc[~planned, "reason"]))
        rows.append(outcome)
        counted = planned | outcome["holdout"].to_numpy(dtype=bool)  # the holdout is capped like the touched
        if counted.any():
            new = outcome.loc[counted, ["customer_id", "scheduled_at", "channel", "sender"]]
            existing = pd.concat(
                [existing, new.assign(rule_id=rule.pk, occasion=occasion)], ignore_index=True
            )
    touches = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if dry_run:
        result.frame = _preview_frame(frame, excluded, touches)
        return result
    due = []
    if not touches.empty:
        result.written = _touches_write(
            brand=brand, occasion=occasion, stream_id=stream_id, touches=touches, now=now
        )
        due.append(touches.loc[touches["status"] == TouchStatus.PLANNED, "scheduled_at"])
    if post_rows:
        group_posts = pd.concat(post_rows, ignore_index=True)
        _group_posts_write(brand=brand, occasion=occasion, stream_id=stream_id, posts=group_posts)
        due.append(group_posts.loc[group_posts["status"] == TouchStatus.PLANNED, "scheduled_at"])
    if due:
        minutes = sorted(set(pd.to_datetime(pd.concat(due)).dt.floor("min")))
        result.send_times = [pd.Timestamp(m, tz="UTC").to_pydatetime() for m in minutes]
    logger.info(
        "follow-ups planned: brand=%s occasion=%s audience=%d written=%d planned=%d suppressed=%s",
        brand.pk,
        occasion,
        result.audience,
        result.written,
        result.planned,
        result.reasons,
    )
    return result


def _preview_frame(frame: pd.DataFrame, excluded: np.ndarray, touches: pd.DataFrame) -> pd.DataFrame:
    """customer_id, stage, watch_seconds, excluded (the condition that left them out, or ""), status, reason,
    channel, scheduled_at for every customer of the occasion, for one rule's dry run."""
    out = frame[["customer_id", "stage", "watch_seconds", "interactions", "bought"]].copy()
    out["excluded"] = excluded
    if touches.empty:
        touches = pd.DataFrame(columns=["customer_id", "status", "reason", "channel", "scheduled_at"])
    merged = out.merge(
        touches[["customer_id", "status", "reason", "channel", "scheduled_at"]], on="customer_id", how="left"
    )
    for column in ("status", "reason", "channel"):
        merged[column] = merged[column].fillna("")
    return merged


def followups_preview(*, brand, rule: FollowupRule, stream) -> PlanResult:
    """What `rule` would do for `stream` (a past one too) if it were planned when the stream ended: nothing is
    written. Every customer who watched or bought is in the result's frame, with why they were not taken."""
    if stream.ended_at is None:
        raise PlanError(
            _("The live stream %(stream)s has not ended: follow-ups are planned from its end time.")
            % {"stream": stream.external_id}
        )
    return occasion_plan(
        brand=brand,
        trigger=rule.trigger,
        occasion=f"stream:{stream.pk}",
        anchor=stream.ended_at,
        frame=selectors.stream_audience(brand=brand, stream=stream, until=stream.ended_at),
        stream_id=stream.pk,
        now=stream.ended_at,
        only_rule=rule,
        dry_run=True,
    )


def _rule_outcome(
    *,
    rule: FollowupRule,
    uses_scores: bool,
    part: pd.DataFrame,
    policy: ContactPolicy,
    zone,
    anchor64,
    now64,
    existing: pd.DataFrame,
    hours: dict[str, int],
    holdout: np.ndarray,
    reachable: dict[str, np.ndarray],
    opted: dict[str, np.ndarray],
    opted_all: np.ndarray,
) -> pd.DataFrame:
    """One rule's touches for its customers (`part`): time, channel, status and reason of each."""
    n = len(part)
    ids = part["customer_id"].to_numpy(dtype=np.int64)
    stage = part["stage"].to_numpy(dtype=object)
    window_end = anchor64 + _hours(rule.window_hours)
    earliest = np.full(n, max(anchor64 + _hours(rule.delay_min_hours), now64), dtype="datetime64[ns]")
    latest = np.full(n, anchor64 + _hours(rule.delay_max_hours), dtype="datetime64[ns]")
    wanted_hour = np.array([hours.get(s, -1) for s in stage], dtype=int)
    times = guards.at_local_hour(earliest, latest, wanted_hour, zone)
    times = guards.quiet_shift(times, zone, policy.quiet_start, policy.quiet_end)
    reason = np.full(n, "", dtype=object)

    def fail(mask, code: str) -> None:
        reason[(reason == "") & np.asarray(mask, dtype=bool)] = str(code)

    fail(part["erased"].to_numpy(), Reason.ERASED)
    fail(~part["marketing_consent"].to_numpy(dtype=bool), Reason.NO_CONSENT)
    if uses_scores:
        fail(part["automated_decisions_opt_out"].to_numpy(dtype=bool), Reason.PROFILING_OPT_OUT)
    channel = guards.choose_channels(
        part["preferred_channel"].to_numpy(dtype=object), rule.channels, reachable, opted
    )
    no_channel = channel == ""
    every_rule_channel_opted = np.ones(n, dtype=bool)
    for c in rule.channels:
        every_rule_channel_opted &= opted.get(c, np.zeros(n, dtype=bool))
    fail(no_channel & (opted_all | every_rule_channel_opted), Reason.OPTED_OUT)
    fail(no_channel, Reason.NO_CHANNEL)
    fail(np.full(n, earliest[0] > window_end) if n else np.zeros(0, bool), Reason.WINDOW_PASSED)
    fail(times > window_end, Reason.QUIET_HOURS)
    fail(~guards.rolling_cap_ok(ids, times, existing, policy.cap_72h), Reason.CAP_72H)
    fail(~guards.month_cap_ok(ids, times, existing, policy.cap_month, zone), Reason.CAP_MONTH)
    sender = rule.wecom_sender or ""
    wecom = channel == Channel.WECOM
    if wecom.any():
        wecom_existing = existing[existing["channel"] == Channel.WECOM] if not existing.empty else existing
        ok = guards.wecom_daily_ok(
            ids[wecom], times[wecom], sender, wecom_existing, policy.wecom_daily_per_sender, zone
        )
        blocked = np.zeros(n, dtype=bool)
        blocked[np.flatnonzero(wecom)[~ok]] = True
        fail(blocked, Reason.WECOM_DAILY)
    fail(holdout, Reason.HOLDOUT)
    status = np.where(reason == "", TouchStatus.PLANNED.value, TouchStatus.SUPPRESSED.value).astype(object)
    mass = np.full(n, None, dtype=object)
    going = wecom & (reason == "")
    if going.any():
        mass[going] = guards.mass_send_batches(int(going.sum()), policy.wecom_mass_max)
    return pd.DataFrame(
        {
            "rule_id": rule.pk,
            "customer_id": ids,
            "channel": channel,
            "sender": np.where(wecom, sender, ""),
            "mass_send": mass,
            "stage": stage,
            "tier_code": part["tier_code"].to_numpy(dtype=object),
            "scheduled_at": times,
            "window_ends_at": np.full(n, window_end, dtype="datetime64[ns]"),
            "send_hour": guards.send_hours(times, zone),
            "status": status,
            "reason": reason,
            "holdout": reason == Reason.HOLDOUT,
        }
    )


def _group_outcome(
    *,
    rule: FollowupRule,
    members: pd.DataFrame,
    posts: pd.DataFrame,
    occasion: str,
    policy,
    zone,
    anchor64,
    now64,
) -> pd.DataFrame:
    """One rule's posts in the WeCom groups its customers are in: one per group not posted in yet for this
    occasion, at the rule's earliest send time moved out of the quiet hours, suppressed when the window
    passed or the group already has as many messages that month as the month has days."""
    counts = members.groupby("community_id").size()
    done = posts.loc[(posts["rule_id"] == rule.pk) & (posts["occasion"] == occasion), "community_id"]
    counts = counts[~counts.index.isin(done)]
    n = len(counts)
    groups = counts.index.to_numpy(dtype=np.int64)
    window_end = anchor64 + _hours(rule.window_hours)
    earliest = np.full(n, max(anchor64 + _hours(rule.delay_min_hours), now64), dtype="datetime64[ns]")
    times = guards.quiet_shift(earliest, zone, policy.quiet_start, policy.quiet_end)
    reason = np.full(n, "", dtype=object)

    def fail(mask, code: str) -> None:
        reason[(reason == "") & np.asarray(mask, dtype=bool)] = str(code)

    fail(earliest > window_end, Reason.WINDOW_PASSED)
    fail(times > window_end, Reason.QUIET_HOURS)
    active = posts[posts["status"].isin(ACTIVE_STATUSES)]
    fail(~guards.group_monthly_ok(groups, times, active, zone), Reason.GROUP_MONTHLY)
    return pd.DataFrame(
        {
            "rule_id": rule.pk,
            "community_id": groups,
            "members_taken": counts.to_numpy(dtype=np.int64),
            "scheduled_at": times,
            "window_ends_at": np.full(n, window_end, dtype="datetime64[ns]"),
            "status": np.where(reason == "", TouchStatus.PLANNED.value, TouchStatus.SUPPRESSED.value),
            "reason": reason,
        }
    )


def _group_posts_write(*, brand, occasion: str, stream_id, posts: pd.DataFrame) -> None:
    """Insert the posts (a few per occasion: one per group); a post already there stays as it is."""
    GroupPost.objects.bulk_create(
        [
            GroupPost(
                brand=brand,
                community_id=int(row.community_id),
                rule_id=int(row.rule_id),
                occasion=occasion,
                stream_id=stream_id,
                members_taken=int(row.members_taken),
                scheduled_at=pd.Timestamp(row.scheduled_at, tz="UTC").to_pydatetime(),
                window_ends_at=pd.Timestamp(row.window_ends_at, tz="UTC").to_pydatetime(),
                status=row.status,
                reason=row.reason,
            )
            for row in posts.itertuples(index=False)
        ],
        ignore_conflicts=True,
    )


TOUCH_COLUMNS = (
    "brand_id",
    "customer_id",
    "rule_id",
    "occasion",
    "stream_id",
    "channel",
    "sender",
    "mass_send",
    "stage",
    "tier_code",
    "scheduled_at",
    "window_ends_at",
    "send_hour",
    "status",
    "reason",
    "holdout",
)
STAGING = "_engagement_plan"


def _touches_write(*, brand, occasion: str, stream_id, touches: pd.DataFrame, now: dt.datetime) -> int:
    """COPY the plan into a temporary table and insert it; rows a previous plan of the occasion already
    wrote stay as they are (ON CONFLICT DO NOTHING). Returns how many rows were added."""
    n = len(touches)
    columns = {
        "brand_id": [brand.pk] * n,
        "customer_id": touches["customer_id"].astype(int).tolist(),
        "rule_id": touches["rule_id"].astype(int).tolist(),
        "occasion": [occasion] * n,
        "stream_id": [stream_id] * n,
        "channel": touches["channel"].tolist(),
        "sender": touches["sender"].tolist(),
        "mass_send": [None if m is None else int(m) for m in touches["mass_send"]],
        "stage": touches["stage"].tolist(),
        "tier_code": touches["tier_code"].tolist(),
        "scheduled_at": timestamp_texts(touches["scheduled_at"].to_numpy(), unit="us"),
        "window_ends_at": timestamp_texts(touches["window_ends_at"].to_numpy(), unit="us"),
        "send_hour": touches["send_hour"].astype(int).tolist(),
        "status": touches["status"].tolist(),
        "reason": touches["reason"].tolist(),
        "holdout": touches["holdout"].astype(bool).tolist(),
    }
    table = Touch._meta.db_table
    names = ", ".join(TOUCH_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
        cursor.execute(
            f"CREATE TEMP TABLE {STAGING} (brand_id bigint, customer_id bigint, rule_id bigint, occasion text, "
            "stream_id bigint, channel text, sender text, mass_send integer, stage text, tier_code text, "
            "scheduled_at timestamptz, window_ends_at timestamptz, send_hour smallint, status text, reason text, "
            "holdout boolean) ON COMMIT DROP"
        )
        copy_rows(STAGING, TOUCH_COLUMNS, zip(*columns.values(), strict=True))
        cursor.execute(
            f"INSERT INTO {table} ({names}, key, attempts, last_error, created_at, updated_at) "  # noqa: S608
            f"SELECT {names}, gen_random_uuid(), 0, '', %s, %s FROM {STAGING} "
            "ON CONFLICT (brand_id, rule_id, customer_id, occasion) DO NOTHING",
            [now, now],
        )
        return cursor.rowcount
