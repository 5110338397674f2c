"""The contact guards as pure functions over arrays: quiet hours in the brand's time zone, the window, the
frequency caps, WeCom's limits, the holdout hash and the channel choice. No ORM: planning and sending load
frames, call these, and write the outcome in bulk. Times are numpy datetime64[ns] in UTC (naive).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

HOUR = np.timedelta64(3600, "s").astype("timedelta64[ns]")
DAY = np.timedelta64(1, "D").astype("timedelta64[ns]")


def as_utc64(value) -> np.datetime64:
    """An aware datetime (or pandas Timestamp) as naive UTC datetime64[ns]."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError("a time zone-aware time is needed")
    return stamp.tz_convert("UTC").tz_localize(None).to_datetime64().astype("datetime64[ns]")


def local_times(times: np.ndarray, zone: ZoneInfo) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(times, dtype="datetime64[ns]")).tz_localize("UTC").tz_convert(zone)


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def in_quiet_hours(times: np.ndarray, zone: ZoneInfo, start: dt.time, end: dt.time) -> np.ndarray:
    """Which times fall in the quiet hours [start, end) of the brand's local day; a span whose start is after
    its end runs across midnight (22:00–08:00)."""
    local = local_times(times, zone)
    minute = local.hour * 60 + local.minute + local.second / 60
    s, e = _minutes(start), _minutes(end)
    minute = np.asarray(minute, dtype=float)
    if s < e:
        return (minute >= s) & (minute < e)
    return (minute >= s) | (minute < e)


def quiet_shift(times: np.ndarray, zone: ZoneInfo, start: dt.time, end: dt.time) -> np.ndarray:
    """Each time moved to the end of the quiet hours it falls in (the next allowed minute, local wall time,
    daylight-saving changes included); times outside the quiet hours are kept."""
    times = np.asarray(times, dtype="datetime64[ns]")
    quiet = in_quiet_hours(times, zone, start, end)
    if not quiet.any():
        return times
    local = local_times(times[quiet], zone)
    end_minutes = _minutes(end)
    minute = np.asarray(local.hour * 60 + local.minute, dtype=int)
    # the quiet end is today when we are before it (after midnight), else tomorrow
    day = local.normalize().tz_localize(None) + pd.to_timedelta(
        np.where(minute < end_minutes, 0, 1), unit="D"
    )
    wall = day + pd.Timedelta(minutes=end_minutes)
    shifted = wall.tz_localize(zone, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
    out = times.copy()
    out[quiet] = shifted.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return out


def send_hours(times: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """The local hour (0–23) of each time."""
    return np.asarray(local_times(times, zone).hour, dtype=np.int16)


def at_local_hour(earliest: np.ndarray, latest: np.ndarray, hours: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """For each row, the first time ≥ earliest whose local hour is hours[i] (at :00), if it is ≤ latest;
    else earliest. hours[i] < 0 keeps earliest."""
    earliest = np.asarray(earliest, dtype="datetime64[ns]")
    latest = np.asarray(latest, dtype="datetime64[ns]")
    hours = np.asarray(hours, dtype=int)
    out = earliest.copy()
    wanted = hours >= 0
    if not wanted.any():
        return out
    local = local_times(earliest[wanted], zone)
    base = local.floor("h")
    add = (hours[wanted] - np.asarray(local.hour, dtype=int)) % 24
    candidate = base + pd.to_timedelta(add, unit="h")
    # floor put the candidate before earliest when the hour is the current one: the next day's
    candidate = candidate.where(candidate >= local, candidate + pd.Timedelta(days=1))
    utc = candidate.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
    chosen = np.where(utc <= latest[wanted], utc, earliest[wanted])
    out[wanted] = chosen
    return out


def holdout_mask(customer_ids: np.ndarray, salt: str, percent: float) -> np.ndarray:
    """Customers in the brand's holdout: a stable hash (splitmix64 of id and salt) below `percent` %.
    Stable across plans and sends; raising the share only adds customers."""
    return holdout_position(customer_ids, salt) < percent / 100.0


def holdout_position(customer_ids: np.ndarray, salt: str) -> np.ndarray:
    """Each customer's stable position in [0, 1) for the holdout."""
    ids = np.asarray(customer_ids, dtype=np.uint64)
    salt_value = np.uint64(int.from_bytes(salt.encode()[:8].ljust(8, b"\0"), "little"))
    with np.errstate(over="ignore"):
        z = ids ^ salt_value
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def rolling_cap_ok(
    customer_ids: np.ndarray,
    times: np.ndarray,
    existing: pd.DataFrame,
    cap: int,
    span: np.timedelta64 = 72 * HOUR,
) -> np.ndarray:
    """Whether a new touch at times[i] keeps every `span`-long window (any start) at ≤ `cap` touches for
    customer customer_ids[i], given the customer's `existing` active touches (customer_id, scheduled_at).
    Exact: a window that would exceed the cap can be taken to start at an existing touch or at the new one.
    Vectorised: only customers with at least `cap` touches within `span` of the new one are checked one by
    one."""
    n = len(customer_ids)
    ok = np.ones(n, dtype=bool)
    if existing.empty or not n:
        return ok
    times = np.asarray(times, dtype="datetime64[ns]")
    new = pd.DataFrame(
        {"row": np.arange(n), "customer_id": np.asarray(customer_ids, dtype=np.int64), "t": times}
    )
    near = new.merge(existing[["customer_id", "scheduled_at"]], on="customer_id")
    gap = near["scheduled_at"].to_numpy(dtype="datetime64[ns]") - near["t"].to_numpy(dtype="datetime64[ns]")
    near = near[(gap > -span) & (gap < span)]
    if near.empty:
        return ok
    counts = near.groupby("row").size()
    crowded = counts[counts >= cap].index.to_numpy()
    if not len(crowded):
        return ok
    # the windows that hold the new touch start at one of the customer's touches in (t - span, t], or at t:
    # count the touches in each such window, set-based (a customer has only a few touches near t)
    crowd = near.loc[near["row"].isin(crowded), ["row", "t", "scheduled_at"]]
    starts = pd.concat(
        [
            crowd.loc[crowd["scheduled_at"] <= crowd["t"], ["row", "scheduled_at"]].rename(
                columns={"scheduled_at": "s"}
            ),
            pd.DataFrame({"row": crowded, "s": times[crowded]}),
        ],
        ignore_index=True,
    ).drop_duplicates()  # two touches at one time are one window start
    pairs = starts.merge(crowd[["row", "scheduled_at"]], on="row")
    inside = (pairs["scheduled_at"] >= pairs["s"]) & (pairs["scheduled_at"] < pairs["s"] + span)
    worst = pairs[inside].groupby(["row", "s"]).size().groupby(level=0).max()
    worst = worst.reindex(crowded, fill_value=0).to_numpy()
    ok[crowded] = worst + 1 <= cap
    return ok


def month_cap_ok(
    customer_ids: np.ndarray, times: np.ndarray, existing: pd.DataFrame, cap: int, zone: ZoneInfo
) -> np.ndarray:
    """Whether a new touch at times[i] keeps the customer's touches in that local calendar month ≤ cap."""
    if existing.empty or not len(customer_ids):
        return np.ones(len(customer_ids), dtype=bool)
    months = existing.assign(month=local_months(existing["scheduled_at"].to_numpy(), zone))
    counts = months.groupby(["customer_id", "month"]).size()
    keys = pd.MultiIndex.from_arrays([np.asarray(customer_ids, dtype=np.int64), local_months(times, zone)])
    held = counts.reindex(keys).fillna(0).to_numpy()
    return held + 1 <= cap


def local_months(times: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """The local calendar month of each time as one number (year × 12 + month)."""
    local = local_times(times, zone)
    return np.asarray(local.year, dtype=np.int64) * 12 + np.asarray(local.month, dtype=np.int64)


def local_days(times: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """The local calendar day of each time as one number (days since 1970-01-01)."""
    wall = local_times(times, zone).tz_localize(None).normalize()
    return np.asarray(wall.asi8 // (86_400 * 10**9), dtype=np.int64)


def wecom_daily_ok(
    customer_ids: np.ndarray,
    times: np.ndarray,
    sender: str,
    existing: pd.DataFrame,
    limit: int,
    zone: ZoneInfo,
) -> np.ndarray:
    """Whether a WeCom mass message at times[i] from `sender` keeps the customer at ≤ `limit` messages from
    that sender on that local day; `existing` holds active WeCom touches (customer_id, scheduled_at, sender)."""
    if not len(customer_ids):
        return np.ones(0, dtype=bool)
    mine = existing[existing["sender"] == sender] if not existing.empty else existing
    if mine.empty:
        return (
            np.ones(len(customer_ids), dtype=bool) if limit >= 1 else np.zeros(len(customer_ids), dtype=bool)
        )
    counts = (
        mine.assign(day=local_days(mine["scheduled_at"].to_numpy(), zone))
        .groupby(["customer_id", "day"])
        .size()
    )
    keys = pd.MultiIndex.from_arrays([np.asarray(customer_ids, dtype=np.int64), local_days(times, zone)])
    return counts.reindex(keys).fillna(0).to_numpy() + 1 <= limit


def days_in_month(times: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """How many days the local calendar month of each time has (28–31)."""
    return np.asarray(local_times(times, zone).days_in_month, dtype=np.int64)


def group_monthly_ok(
    group_ids: np.ndarray, times: np.ndarray, existing: pd.DataFrame, zone: ZoneInfo
) -> np.ndarray:
    """WeCom's group limit: whether a post in group group_ids[i] at times[i] keeps the group at no more
    messages in that local calendar month than the month has days; `existing` holds the group's active posts
    (community_id, scheduled_at). Each group appears at most once among the new posts."""
    n = len(group_ids)
    if not n:
        return np.ones(0, dtype=bool)
    limit = days_in_month(times, zone)
    if existing.empty:
        return limit >= 1
    months = existing.assign(month=local_months(existing["scheduled_at"].to_numpy(), zone))
    counts = months.groupby(["community_id", "month"]).size()
    keys = pd.MultiIndex.from_arrays([np.asarray(group_ids, dtype=np.int64), local_months(times, zone)])
    return counts.reindex(keys).fillna(0).to_numpy() + 1 <= limit


def mass_send_batches(n: int, size: int) -> np.ndarray:
    """Batch number (1, 2, …) of each of n WeCom touches of one rule and occasion: at most `size` a batch."""
    return (np.arange(n) // max(size, 1) + 1).astype(np.int64)


def choose_channels(
    preferred: Sequence[str],
    rule_channels: Sequence[str],
    reachable: dict[str, np.ndarray],
    opted_out: dict[str, np.ndarray],
) -> np.ndarray:
    """Each customer's channel among the rule's: their preferred channel first when the rule uses it, then the
    rule's channels in order; the first that is reachable and not opted out. "" when none is.
    `reachable[c]` and `opted_out[c]` are boolean arrays (a channel missing from `reachable` is unreachable)."""
    n = len(preferred)
    preferred = np.asarray(preferred, dtype=object)
    chosen = np.full(n, "", dtype=object)
    order = [c for c in dict.fromkeys(rule_channels) if c in reachable]
    none = np.zeros(n, dtype=bool)
    usable = {c: reachable[c] & ~opted_out.get(c, none) for c in order}
    for channel in order:
        take = (chosen == "") & (preferred == channel) & usable[channel]
        chosen[take] = channel
    for channel in order:
        take = (chosen == "") & usable[channel]
        chosen[take] = channel
    return chosen
