"""The contact guards as pure functions: quiet hours across midnight and daylight saving in the brand's zone,
the send hour, the rolling and monthly caps, WeCom's limits, the holdout hash and the channel choice."""

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from apps.engagement import guards

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
QUIET = (dt.time(22, 0), dt.time(8, 0))


def utc(text: str) -> np.datetime64:
    """A local Shanghai wall time as naive UTC datetime64."""
    return guards.as_utc64(pd.Timestamp(text, tz=SHANGHAI))


def local(value: np.datetime64, zone=SHANGHAI) -> str:
    return pd.Timestamp(value, tz="UTC").tz_convert(zone).strftime("%Y-%m-%d %H:%M")


def test_quiet_hours_across_midnight_in_the_brand_zone():
    times = np.array(
        [
            utc(t)
            for t in (
                "2026-05-01 21:59",
                "2026-05-01 22:00",
                "2026-05-02 03:00",
                "2026-05-02 07:59",
                "2026-05-02 08:00",
            )
        ]
    )
    assert list(guards.in_quiet_hours(times, SHANGHAI, *QUIET)) == [False, True, True, True, False]
    shifted = guards.quiet_shift(times, SHANGHAI, *QUIET)
    # before midnight moves to 08:00 the next day, after midnight to 08:00 the same day; others stay
    assert [local(t) for t in shifted] == [
        "2026-05-01 21:59",
        "2026-05-02 08:00",
        "2026-05-02 08:00",
        "2026-05-02 08:00",
        "2026-05-02 08:00",
    ]


def test_quiet_hours_within_one_day_and_the_same_instant_in_another_zone():
    # 13:00–14:00 quiet (a lunch break): 13:30 moves to 14:00
    times = np.array([utc("2026-05-01 13:30"), utc("2026-05-01 14:00")])
    assert [local(t) for t in guards.quiet_shift(times, SHANGHAI, dt.time(13), dt.time(14))] == [
        "2026-05-01 14:00",
        "2026-05-01 14:00",
    ]
    # 23:30 in Shanghai is 11:30 in New York: quiet for the first brand only
    late = np.array([utc("2026-05-01 23:30")])
    assert guards.in_quiet_hours(late, SHANGHAI, *QUIET)[0]
    assert not guards.in_quiet_hours(late, NEW_YORK, *QUIET)[0]


def test_quiet_end_on_a_daylight_saving_day_is_the_local_wall_time():
    # New York springs forward on 2026-03-08: 08:00 that day is 12:00 UTC (EDT), the day before 13:00 UTC (EST)
    night = guards.as_utc64(pd.Timestamp("2026-03-08 01:30", tz=NEW_YORK))
    eve = guards.as_utc64(pd.Timestamp("2026-03-06 23:00", tz=NEW_YORK))
    out = guards.quiet_shift(np.array([night, eve]), NEW_YORK, *QUIET)
    assert pd.Timestamp(out[0]).strftime("%Y-%m-%d %H:%M") == "2026-03-08 12:00"
    assert pd.Timestamp(out[1]).strftime("%Y-%m-%d %H:%M") == "2026-03-07 13:00"


def test_send_at_a_learned_local_hour_inside_the_span_else_the_earliest():
    earliest = np.array([utc("2026-05-01 10:20")] * 3)
    latest = np.array([utc("2026-05-01 16:20")] * 3)
    out = guards.at_local_hour(earliest, latest, np.array([14, 9, -1]), SHANGHAI)
    # 14:00 is inside; 09:00 would be tomorrow (past the span): earliest; -1: earliest
    assert [local(t) for t in out] == ["2026-05-01 14:00", "2026-05-01 10:20", "2026-05-01 10:20"]
    assert list(guards.send_hours(out, SHANGHAI)) == [14, 10, 10]


def existing(rows):
    return pd.DataFrame(
        {
            "customer_id": np.array([r[0] for r in rows], dtype=np.int64),
            "scheduled_at": np.array([utc(r[1]) for r in rows], dtype="datetime64[ns]"),
            "channel": [r[2] if len(r) > 2 else "sms" for r in rows],
            "sender": [r[3] if len(r) > 3 else "" for r in rows],
        }
    )


def test_the_72_hour_cap_counts_every_window_that_would_hold_the_new_touch():
    past = existing(
        [
            (1, "2026-05-01 10:00"),
            (1, "2026-05-02 10:00"),  # customer 1: two in the last day
            (2, "2026-04-30 09:00"),
            (2, "2026-05-06 09:00"),  # customer 2: one 73 h before, one 71 h after
            (3, "2026-05-01 09:00"),
            (3, "2026-05-05 09:00"),  # customer 3: 49 h before and 47 h after: no 72 h window holds all three
        ]
    )
    new = np.array([utc("2026-05-03 10:00")] * 4)
    ok = guards.rolling_cap_ok(np.array([1, 2, 3, 4]), new, past, cap=2)
    assert list(ok) == [False, True, True, True]
    # with a cap of 3 the first one fits too
    assert guards.rolling_cap_ok(np.array([1]), new[:1], past, cap=3)[0]
    # customer 2's touches 73 h before and 71 h after: a window from the new one holds the later one only
    assert guards.rolling_cap_ok(np.array([2]), new[:1], past, cap=1)[0] == False  # noqa: E712 - 71 h after


def test_the_monthly_cap_counts_the_local_calendar_month():
    past = existing([(1, "2026-05-31 23:30"), (1, "2026-05-15 12:00"), (2, "2026-04-30 23:30")])
    times = np.array([utc("2026-05-20 12:00"), utc("2026-06-01 00:30"), utc("2026-05-01 00:10")])
    # customer 1 has 2 touches in May (local): a third in May is over a cap of 2, one in June is fine
    assert list(guards.month_cap_ok(np.array([1, 1, 2]), times, past, cap=2, zone=SHANGHAI)) == [
        False,
        True,
        True,
    ]


def test_wecom_allows_one_mass_message_per_customer_per_sender_per_local_day():
    past = existing([(1, "2026-05-01 09:00", "wecom", "anna"), (2, "2026-04-30 23:00", "wecom", "anna")])
    times = np.array([utc("2026-05-01 20:00"), utc("2026-05-01 20:00"), utc("2026-05-01 07:00")])
    ok = guards.wecom_daily_ok(np.array([1, 2, 1]), times, "anna", past, limit=1, zone=SHANGHAI)
    assert list(ok) == [False, True, False]
    # another sender has their own allowance
    assert guards.wecom_daily_ok(np.array([1]), times[:1], "ben", past, limit=1, zone=SHANGHAI)[0]


def test_one_mass_send_reaches_at_most_the_wecom_limit():
    batches = guards.mass_send_batches(45_001, 20_000)
    assert np.bincount(batches).tolist()[1:] == [20_000, 20_000, 5_001]


def test_the_holdout_is_a_stable_share_that_only_grows_with_it():
    ids = np.arange(1, 200_001)
    five = guards.holdout_mask(ids, "salt-a", 5)
    assert abs(five.mean() - 0.05) < 0.003
    assert (guards.holdout_mask(ids, "salt-a", 5) == five).all()  # stable
    ten = guards.holdout_mask(ids, "salt-a", 10)
    assert (ten[five]).all() and abs(ten.mean() - 0.10) < 0.004  # raising the share only adds
    other = guards.holdout_mask(ids, "salt-b", 5)
    assert (five & other).mean() < 0.01  # another brand's salt picks other customers
    assert not guards.holdout_mask(ids, "salt-a", 0).any()


def test_channel_choice_prefers_the_customer_then_the_rule_order_skipping_unreachable_and_opted_out():
    n = 4
    reachable = {
        "sms": np.array([True, False, True, True]),
        "wecom": np.ones(n, bool),
        "app_push": np.ones(n, bool),
    }
    opted = {"wecom": np.array([False, False, False, True])}
    chosen = guards.choose_channels(["sms", "sms", "email", "wecom"], ["wecom", "sms"], reachable, opted)
    # 0 prefers sms (reachable); 1 prefers sms but has no phone; 2 prefers a channel the rule lacks;
    # 3 prefers wecom but opted out of it
    assert list(chosen) == ["sms", "wecom", "wecom", "sms"]
    nobody = guards.choose_channels(["", ""], ["sms"], {"sms": np.array([False, False])}, {})
    assert list(nobody) == ["", ""]


def _cap_by_brute_force(customer_ids, times, existing, cap, span=72 * guards.HOUR):
    """The 72-hour cap checked window by window: every window that holds the new touch starts at one of the
    customer's touches before it (within the span) or at the new touch itself."""
    ok = []
    for customer, t in zip(customer_ids, times, strict=True):
        mine = np.sort(
            existing.loc[existing["customer_id"] == customer, "scheduled_at"].to_numpy("datetime64[ns]")
        )
        starts = [s for s in (*mine, t) if s <= t < s + span]
        ok.append(max(int(((mine >= s) & (mine < s + span)).sum()) for s in starts) + 1 <= cap)
    return np.array(ok)


def test_the_set_based_cap_agrees_with_checking_every_window_on_random_histories():
    rng = np.random.default_rng(7)
    base = np.datetime64("2026-05-01T00:00:00", "ns")
    for _ in range(100):
        ids = rng.integers(0, 15, 40)
        times = base + rng.integers(0, 200, 40) * guards.HOUR  # whole hours: ties with existing touches too
        existing = pd.DataFrame(
            {
                "customer_id": rng.integers(0, 15, 60).astype(np.int64),
                "scheduled_at": base + rng.integers(0, 200, 60) * guards.HOUR,
            }
        )
        for cap in (1, 2, 3):
            expected = _cap_by_brute_force(ids, times, existing, cap)
            assert (guards.rolling_cap_ok(ids, times, existing, cap) == expected).all()
