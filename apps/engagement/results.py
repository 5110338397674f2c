"""Does following up work? Touched customers against the holdout, per rule, channel, lifecycle stage and send
hour: the share who placed a paid order within the attribution window after the (planned) send time, and the
revenue per customer in it, with the difference and its 95% confidence interval.

Intent to treat: the touched arm is every touch that went to sending (delivered or not, suppressed at send
time or not); the control arm is the holdout's touches, which passed every guard at planning and were held
back, with the time they would have gone out. Both arms are measured the same way, from orders, not from the
touches' own attribution, and only once their whole window has passed. A customer touched on several occasions is one cluster: the
intervals account for it (the rates' through the design effect, revenue's through the cluster-robust
variance), since the holdout is drawn by customer. A difference that cannot be computed (an empty arm) is
None with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection
from django.utils import timezone

from apps.engagement.models import ContactPolicy, Touch
from apps.orders.models import Order

Z95 = 1.959963984540054
DIMENSIONS = ("rule", "channel", "stage", "send_hour")


def outcome_frame(
    *, brand, now: dt.datetime | None = None, since: dt.datetime | None = None, rule_id: int | None = None
) -> pd.DataFrame:
    """One row per judged touch: customer_id, rule_id, channel, stage, send_hour, treated (bool),
    converted (bool), revenue (float). One query."""
    now = now or timezone.now()
    # read, never created here: a reader (the next actions prepared beside a publish) writes nothing
    hours = (
        ContactPolicy.objects.filter(brand=brand).first() or ContactPolicy(brand=brand)
    ).attribution_hours
    touches, orders = Touch._meta.db_table, Order._meta.db_table
    filters, params = "", {"brand": brand.pk, "now": now, "hours": hours}
    if since is not None:
        filters += " AND t.scheduled_at >= %(since)s"
        params["since"] = since
    if rule_id is not None:
        filters += " AND t.rule_id = %(rule)s"
        params["rule"] = rule_id
    sql = f"""
        SELECT t.customer_id, t.rule_id, t.channel, t.stage, t.send_hour, t.queued_at IS NOT NULL,
               COALESCE(o.n, 0) > 0, COALESCE(o.revenue, 0)
        FROM {touches} t
        LEFT JOIN LATERAL (
            SELECT COUNT(*) AS n, SUM(total_amount) AS revenue FROM {orders} o
            WHERE o.brand_id = t.brand_id AND o.customer_id = t.customer_id AND o.status = 'paid'
              AND o.placed_at >= t.scheduled_at
              AND o.placed_at < t.scheduled_at + make_interval(hours => %(hours)s)
        ) o ON true
        WHERE t.brand_id = %(brand)s
          AND t.scheduled_at + make_interval(hours => %(hours)s) <= %(now)s
          AND (t.queued_at IS NOT NULL OR (t.holdout AND t.reason = 'holdout')) {filters}
    """  # noqa: S608 - constant table names
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(
        rows,
        columns=[
            "customer_id",
            "rule_id",
            "channel",
            "stage",
            "send_hour",
            "treated",
            "converted",
            "revenue",
        ],
    )
    frame["revenue"] = frame["revenue"].astype(float)
    frame["treated"] = frame["treated"].astype(bool)
    frame["converted"] = frame["converted"].astype(bool)
    return frame


def wilson(x: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion x/n."""
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def newcombe(x1: float, n1: float, x2: float, n2: float, z: float = Z95) -> tuple[float, float, float]:
    """Difference p1 − p2 of two proportions and its interval by Newcombe's hybrid score method (method 10
    of Newcombe 1998), which keeps its coverage for small counts and rates near 0 where the Wald interval
    does not."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def clustered_mean_variance(values: np.ndarray, clusters: np.ndarray) -> float:
    """Variance of the mean of `values` when rows of one cluster (a customer touched on several occasions)
    are not independent: the cluster-robust (linearised ratio) estimator, with the C/(C−1) correction."""
    n = len(values)
    mean = values.mean()
    frame = pd.DataFrame({"c": clusters, "r": values - mean})
    residual = frame.groupby("c")["r"].sum().to_numpy()
    c = len(residual)
    if c < 2:
        return float("nan")
    return float((residual**2).sum() / n**2 * c / (c - 1))


def design_effect(values: np.ndarray, clusters: np.ndarray) -> float:
    """How much the repeated customers widen the variance of a rate against independent rows (≥ 1)."""
    n = len(values)
    p = values.mean()
    independent = p * (1 - p) / n
    if independent <= 0 or n < 2:
        return 1.0
    clustered = clustered_mean_variance(values, clusters)
    return max(1.0, clustered / independent) if np.isfinite(clustered) else 1.0


@dataclass
class ArmComparison:
    key: object  # the group: rule id, channel, stage or send hour ("all" for the total)
    treated: int
    treated_conversions: int
    control: int
    control_conversions: int
    treated_rate: float | None
    control_rate: float | None
    uplift: float | None  # treated rate − control rate
    uplift_low: float | None
    uplift_high: float | None
    treated_revenue: float | None  # per customer
    control_revenue: float | None
    revenue_uplift: float | None
    revenue_low: float | None
    revenue_high: float | None
    reason: str = ""  # why a figure is None: no_treated, no_control, too_few

    @property
    def significant(self) -> bool:
        return self.uplift_low is not None and (self.uplift_low > 0 or self.uplift_high < 0)


def compare(group: pd.DataFrame, key) -> ArmComparison:
    t = group[group["treated"]]
    c = group[~group["treated"]]
    nt, nc = len(t), len(c)
    xt, xc = int(t["converted"].sum()), int(c["converted"].sum())
    out = ArmComparison(
        key=key,
        treated=nt,
        treated_conversions=xt,
        control=nc,
        control_conversions=xc,
        treated_rate=xt / nt if nt else None,
        control_rate=xc / nc if nc else None,
        uplift=None,
        uplift_low=None,
        uplift_high=None,
        treated_revenue=float(t["revenue"].mean()) if nt else None,
        control_revenue=float(c["revenue"].mean()) if nc else None,
        revenue_uplift=None,
        revenue_low=None,
        revenue_high=None,
    )
    if not nt or not nc:
        out.reason = "no_treated" if not nt else "no_control"
        return out
    # a customer touched on several occasions is one cluster: the rates' intervals use the effective sample
    # size (rows / design effect), and the revenue interval the cluster-robust variance
    deff_t = design_effect(t["converted"].to_numpy(float), t["customer_id"].to_numpy())
    deff_c = design_effect(c["converted"].to_numpy(float), c["customer_id"].to_numpy())
    out.uplift, out.uplift_low, out.uplift_high = newcombe(xt / deff_t, nt / deff_t, xc / deff_c, nc / deff_c)
    rt, rc = t["revenue"].to_numpy(float), c["revenue"].to_numpy(float)
    vt = clustered_mean_variance(rt, t["customer_id"].to_numpy())
    vc = clustered_mean_variance(rc, c["customer_id"].to_numpy())
    if np.isfinite(vt) and np.isfinite(vc):
        out.revenue_uplift = float(rt.mean() - rc.mean())
        half = Z95 * math.sqrt(vt + vc)
        out.revenue_low, out.revenue_high = out.revenue_uplift - half, out.revenue_uplift + half
    else:
        out.reason = "too_few"
    return out


def results(
    *, brand, by: str = "rule", now=None, since=None, rule_id: int | None = None
) -> tuple[ArmComparison, list[ArmComparison]]:
    """(all touches, one comparison per group of `by`: rule, channel, stage or send_hour)."""
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    frame = outcome_frame(brand=brand, now=now, since=since, rule_id=rule_id)
    column = "rule_id" if by == "rule" else by
    total = compare(frame, "all")
    groups = [compare(group, key) for key, group in frame.groupby(column, sort=True)] if len(frame) else []
    return total, groups
