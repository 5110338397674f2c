"""Follow-ups in the demo world, with a known effect.

For the streams of the last FOLLOWUP_DAYS days, the brand's real planner plans the follow-ups as each stream
ends; planned touches go out at their time (the product's console gateway); then the simulation adds what the
touch caused: for each touched customer, an extra paid order within the 72 hours after the send with
probability 1 − exp(−λ·3 days), λ the uplift hazard per day, larger for engaged viewers (watched at least
ENGAGED_MINUTES or interacted ENGAGED_INTERACTIONS times), largest in the evening. Held-out customers get no
touch and no extra order. Some touched customers click (their click is recorded at the send hour).

The truth stored with the demo's other truths (DemoTruth.params["followups"]): the hazards, and the realised
effect on the touched: the share of touched customers who bought within the window only because of the
touch (they had no organic paid order in it). The holdout comparison must cover it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from django.db import connection, transaction

from apps.demo.models import DemoCustomerTruth, DemoTruth
from apps.engagement.attribution import touches_attribute
from apps.engagement.models import FollowupRule, GroupPost, Touch
from apps.engagement.planning import followups_plan
from apps.engagement.sending import touches_send_due
from apps.orders.models import Order
from apps.streams.models import Stream

FOLLOWUP_DAYS = 60
ENGAGED_MINUTES = 20
ENGAGED_INTERACTIONS = 5
EXTRA_PREFIX = "FU"  # external ids of the orders the touches caused


@dataclass(frozen=True)
class FollowupTruth:
    uplift_hazard_per_day: float = 0.02  # λ for a touched customer
    engaged_multiplier: float = 2.5  # × λ for engaged viewers
    evening_multiplier: float = 1.5  # × λ when sent 19:00–22:59 brand time
    click_share: float = 0.2
    holdout_percent: float = 10.0  # the demo brand keeps a larger holdout, so the effect shows on 5,000

    def hazard(self, engaged: np.ndarray, evening: np.ndarray) -> np.ndarray:
        return (
            self.uplift_hazard_per_day
            * np.where(engaged, self.engaged_multiplier, 1.0)
            * np.where(evening, self.evening_multiplier, 1.0)
        )


def demo_followups(*, brand, end: dt.datetime, seed: int, truth: FollowupTruth | None = None) -> dict:
    """Plan, send and play out the follow-ups of the demo brand's last FOLLOWUP_DAYS days; store the truth.
    Returns the summary stored in DemoTruth.params["followups"]."""
    truth = truth or FollowupTruth()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 72]))
    policy = brand.contact_policy
    policy.holdout_percent = truth.holdout_percent
    policy.holdout_salt = f"demo-{seed}"  # the same seed, the same holdout (a brand's own salt is random)
    policy.save(update_fields=["holdout_percent", "holdout_salt", "updated_at"])
    Touch.objects.filter(brand=brand).delete()
    GroupPost.objects.filter(brand=brand).delete()
    # the viewers' rule also posts in the brand's WeCom group (the demo has one), to show group posts
    FollowupRule.objects.filter(brand=brand, trigger="stream_end", audience="viewers").update(
        post_to_groups=True
    )
    Order.objects.filter(brand=brand, external_id__startswith=EXTRA_PREFIX).delete()
    since = end - dt.timedelta(days=FOLLOWUP_DAYS)
    streams = list(
        Stream.objects.filter(brand=brand, ended_at__gte=since, ended_at__lt=end).order_by("ended_at")
    )
    for stream in streams:
        # what fell due before this stream ended goes out at its time, then this stream is planned at its end
        _send_until(brand, stream.ended_at)
        followups_plan(brand=brand, stream=stream, now=stream.ended_at)
    _send_until(brand, end)
    sent = _sent_touches(brand)
    extra = _play_out(brand=brand, sent=sent, truth=truth, rng=rng, end=end)
    touches_attribute(brand=brand, now=end, since=since)
    caused = set(sent.loc[extra["caused"].to_numpy(dtype=bool), "id"]) if len(extra) else set()
    judged = _judged_touches(brand, end)  # the touched arm the results page compares, as of the end
    summary = {
        **asdict(truth),
        "streams": len(streams),
        "touches_sent": int(len(sent)),
        "group_posts_sent": GroupPost.objects.filter(brand=brand, status="sent").count(),
        "extra_orders": int(extra["added"].sum()) if len(extra) else 0,
        # the realised effect, intention to treat: among touches that went to sending and whose window has
        # passed, the share whose customer bought in it only because of the touch
        "true_uplift": float(np.isin(judged, list(caused)).mean()) if len(judged) else None,
        # the same among touches that reached the gateway
        "true_uplift_sent": float(extra["caused"].mean()) if len(extra) else None,
        "true_uplift_engaged_sent": float(extra.loc[extra["engaged"], "caused"].mean())
        if len(extra) and extra["engaged"].any()
        else None,
    }
    DemoTruth.objects.filter(brand=brand).update(
        params=_merged(DemoTruth.objects.get(brand=brand).params, summary)
    )
    return summary


def _send_until(brand, until: dt.datetime) -> None:
    """Send the planned touches due by `until`, each minute's at that minute (as the schedule would)."""
    due = (
        Touch.objects.filter(brand=brand, status="planned", scheduled_at__lte=until)
        .order_by("scheduled_at")
        .values_list("scheduled_at", flat=True)
        .distinct()
    )
    for when in due:
        touches_send_due(brand=brand, now=when)


def _judged_touches(brand, end: dt.datetime) -> np.ndarray:
    """Ids of the touched arm of apps.engagement.results as of `end` (went to sending, window passed)."""
    hours = brand.contact_policy.attribution_hours
    ids = Touch.objects.filter(
        brand=brand, queued_at__isnull=False, scheduled_at__lte=end - dt.timedelta(hours=hours)
    ).values_list("pk", flat=True)
    return np.array(list(ids), dtype=np.int64)


def _merged(params: dict, summary: dict) -> dict:
    return {**params, "followups": summary}


def _sent_touches(brand) -> pd.DataFrame:
    from apps.streams.models import StreamView

    touches, views = Touch._meta.db_table, StreamView._meta.db_table
    sql = f"""
        SELECT t.id, t.customer_id, t.scheduled_at, t.send_hour, t.window_ends_at,
               COALESCE(v.watch_seconds, 0), COALESCE(v.comments + v.likes + v.shares, 0)
        FROM {touches} t
        LEFT JOIN {views} v ON v.brand_id = t.brand_id AND v.stream_id = t.stream_id AND v.customer_id = t.customer_id
        WHERE t.brand_id = %s AND t.status IN ('sent', 'delivered') ORDER BY t.id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand.pk])
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(
        rows,
        columns=["id", "customer_id", "scheduled_at", "send_hour", "window_ends_at", "watch", "interactions"],
    )


def _play_out(*, brand, sent: pd.DataFrame, truth: FollowupTruth, rng, end: dt.datetime) -> pd.DataFrame:
    """Clicks and the extra orders the touches cause; returns one row per sent touch with `added` (an extra
    order was written) and `caused` (the customer converted in the window only because of it)."""
    if sent.empty:
        return sent.assign(added=[], caused=[], engaged=[])
    n = len(sent)
    engaged = (sent["watch"].to_numpy() >= ENGAGED_MINUTES * 60) | (
        sent["interactions"].to_numpy() >= ENGAGED_INTERACTIONS
    )
    hour = sent["send_hour"].to_numpy()
    evening = (hour >= 19) & (hour <= 22)
    p = 1 - np.exp(-truth.hazard(engaged, evening) * 3.0)
    added = rng.random(n) < p
    at = pd.to_datetime(sent["scheduled_at"], utc=True)
    delay = pd.to_timedelta(rng.uniform(0.5, 71.5, n), unit="h")
    placed = (at + delay).dt.floor("s")
    added &= (placed < pd.Timestamp(end)).to_numpy()
    organic = _organic(brand, sent["customer_id"].to_numpy(), at)
    clicked = added | (rng.random(n) < truth.click_share)
    _write_clicks(sent["id"].to_numpy()[clicked], at[clicked] + pd.Timedelta(minutes=7))
    _write_orders(brand, sent.loc[added, "customer_id"].to_numpy(), placed[added], rng)
    return pd.DataFrame({"added": added, "caused": added & ~organic, "engaged": engaged})


def _organic(brand, customer_ids: np.ndarray, at: pd.Series) -> np.ndarray:
    """Whether each customer had a paid order in the 72 hours from at[i] before any extra order was added."""
    orders = Order._meta.db_table
    sql = (
        "SELECT x.i FROM unnest(%s::bigint[], %s::timestamptz[]) WITH ORDINALITY AS x(customer_id, at, i) "
        f"WHERE EXISTS (SELECT 1 FROM {orders} o WHERE o.brand_id = %s AND o.customer_id = x.customer_id "  # noqa: S608
        "AND o.status = 'paid' AND o.placed_at >= x.at AND o.placed_at < x.at + interval '72 hours')"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [customer_ids.tolist(), [t.to_pydatetime() for t in at], brand.pk])
        hits = [int(r[0]) - 1 for r in cursor.fetchall()]
    out = np.zeros(len(customer_ids), dtype=bool)
    out[hits] = True
    return out


def _write_clicks(ids: np.ndarray, when: pd.Series) -> None:
    if not len(ids):
        return
    table = Touch._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} t SET clicked_at = x.at, status = 'clicked' FROM unnest(%s::bigint[], "  # noqa: S608
            "%s::timestamptz[]) AS x(id, at) WHERE t.id = x.id",
            [ids.tolist(), [t.to_pydatetime() for t in when]],
        )


@transaction.atomic
def _write_orders(brand, customer_ids: np.ndarray, placed: pd.Series, rng) -> None:
    if not len(customer_ids):
        return
    spend = dict(
        DemoCustomerTruth.objects.filter(brand=brand, customer_id__in=customer_ids.tolist()).values_list(
            "customer_id", "spend_level"
        )
    )
    orders = [
        Order(
            brand=brand,
            external_id=f"{EXTRA_PREFIX}{i:06d}",
            customer_id=int(c),
            placed_at=t.to_pydatetime(),
            status="paid",
            total_amount=round(float(spend.get(int(c), 100)) * float(rng.uniform(0.6, 1.4)), 2),
            currency=brand.currency,
            channel="live_stream",
        )
        for i, (c, t) in enumerate(zip(customer_ids, placed, strict=True))
    ]
    Order.objects.bulk_create(orders, batch_size=2000)
