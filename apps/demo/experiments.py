"""Experiments in the demo world, with a known effect.

`demo-coupon` (finished): the scored customers (outside the follow-up holdout) as of the first demo refresh
are split 50/50 the day after it; the variant is granted the ¥50 coupon. The simulation then adds what the
coupon caused: for each holder, an extra paid order during its validity with probability 1 − exp(−λ·days),
λ the added purchase hazard per day; the coupon is redeemed on that order. Control gets nothing.

`demo-aa` (running): the same population split 50/50 fourteen days before the demo's last day, both arms
receive nothing, so any difference is noise (and the sample-ratio check has nothing to find).

The truth stored with the demo's other truths (DemoTruth.params["experiments"]): λ, and the realised effect
on conversion, intention to treat: the share of the variant's customers who converted in the window only
because of the coupon (they had no organic paid order in it). The experiment's interval must cover it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from django.db import connection

from apps.demo.models import DemoCustomerTruth, DemoTruth
from apps.engagement.experiments import experiment_create, experiment_finish, experiment_start
from apps.engagement.models import Experiment, ExperimentAssignment, Metric
from apps.loyalty.models import Benefit
from apps.loyalty.services import benefit_grant_redeem
from apps.orders.models import Order

EXTRA_PREFIX = "XC"  # external ids of the orders the coupon caused


@dataclass(frozen=True)
class CouponTruth:
    uplift_hazard_per_day: float = 0.006  # λ added to a coupon holder's purchase hazard while it is valid
    window_days: int = 30


def demo_experiments(
    *, brand, first_as_of: dt.date, end: dt.datetime, seed: int, truth: CouponTruth | None = None
) -> dict:
    """Create, start and play out demo-coupon, and start demo-aa. Call with the first demo refresh published
    (its scores are the covariates) and before the second. Returns the summary stored in
    DemoTruth.params["experiments"]."""
    truth = truth or CouponTruth()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 12]))
    Experiment.objects.filter(brand=brand).delete()
    Order.objects.filter(brand=brand, external_id__startswith=EXTRA_PREFIX).delete()
    zone = brand.tzinfo
    start = dt.datetime.combine(first_as_of + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    coupon = Benefit.objects.get(brand=brand, code="coupon-50")
    experiment = experiment_create(
        brand=brand,
        code="demo-coupon",
        name="¥50 coupon against nothing",
        hypothesis="A ¥50 coupon brings scored customers back sooner and more often within 30 days.",
        starts_at=start,
        ends_at=start + dt.timedelta(days=truth.window_days),
        window_days=truth.window_days,
        primary_metric=Metric.CONVERSION,
        secondary_metrics=[Metric.REVENUE, Metric.TIME_TO_PURCHASE],
        arms=[
            {"code": "control", "name": "Control", "is_control": True, "share": 50},
            {"code": "coupon", "name": "¥50 coupon", "share": 50, "treatment": "benefit", "benefit": coupon},
        ],
    )
    experiment_start(experiment=experiment, at=start)
    played = _play_out(experiment=experiment, truth=truth, rng=rng, start=start)
    experiment_finish(experiment=experiment)

    last_day = (end - dt.timedelta(days=1)).astimezone(zone).date()
    aa_start = dt.datetime.combine(last_day - dt.timedelta(days=14), dt.time(), tzinfo=zone)
    aa = experiment_create(
        brand=brand,
        code="demo-aa",
        name="A/A check",
        hypothesis="Two arms that receive nothing do not differ (checks assignment and the statistics).",
        starts_at=aa_start,
        ends_at=aa_start + dt.timedelta(days=30),
        window_days=30,
        primary_metric=Metric.CONVERSION,
        secondary_metrics=[Metric.REVENUE],
        arms=[
            {"code": "a1", "name": "A", "is_control": True, "share": 50},
            {"code": "a2", "name": "A′", "share": 50},
        ],
    )
    experiment_start(experiment=aa, at=aa_start)
    summary = {"demo-coupon": {**asdict(truth), **played}, "demo-aa": {"true_effect": 0.0}}
    truth_row = DemoTruth.objects.get(brand=brand)
    truth_row.params = {**truth_row.params, "experiments": summary}
    truth_row.save(update_fields=["params"])
    return summary


def _play_out(*, experiment: Experiment, truth: CouponTruth, rng, start: dt.datetime) -> dict:
    """The extra orders the coupon caused, each redeeming its grant; the realised effect on conversion."""
    treated = pd.DataFrame.from_records(
        ExperimentAssignment.objects.filter(experiment=experiment, benefit_grant__isnull=False).values_list(
            "customer_id", "benefit_grant_id", "benefit_grant__expires_at"
        ),
        columns=["customer_id", "grant_id", "expires_at"],
    )
    n_variant = ExperimentAssignment.objects.filter(experiment=experiment, arm__is_control=False).count()
    if treated.empty:
        return {"true_effect": None, "extra_orders": 0, "variant_n": n_variant}
    window_end = start + dt.timedelta(days=truth.window_days)
    valid_days = (
        pd.to_datetime(treated["expires_at"], utc=True).clip(upper=pd.Timestamp(window_end))
        - pd.Timestamp(start)
    ).dt.total_seconds().to_numpy() / 86400
    lam = truth.uplift_hazard_per_day
    # the time to the coupon's extra purchase is exponential with rate λ; it happens if inside the validity
    wait = rng.exponential(1 / lam, len(treated))
    added = wait < valid_days
    placed = pd.Timestamp(start) + pd.to_timedelta(wait, unit="D")
    ids = treated["customer_id"].to_numpy()
    organic = _organic(experiment.brand_id, ids, start, window_end)
    spend = dict(
        DemoCustomerTruth.objects.filter(
            brand_id=experiment.brand_id, customer_id__in=ids.tolist()
        ).values_list("customer_id", "spend_level")
    )
    orders = []
    for i in np.flatnonzero(added):
        c = int(ids[i])
        orders.append(
            Order(
                brand_id=experiment.brand_id,
                external_id=f"{EXTRA_PREFIX}{i:06d}",
                customer_id=c,
                placed_at=placed[i].floor("s").to_pydatetime(),
                status="paid",
                total_amount=round(float(spend.get(c, 100)) * float(rng.uniform(0.6, 1.4)), 2),
                currency=experiment.brand.currency,
                channel="live_stream",
            )
        )
    Order.objects.bulk_create(orders, batch_size=2000)
    from apps.loyalty.models import BenefitGrant

    grants = {g.pk: g for g in BenefitGrant.objects.filter(pk__in=treated.loc[added, "grant_id"].tolist())}
    for i in np.flatnonzero(added):
        benefit_grant_redeem(
            grant=grants[int(treated["grant_id"].iloc[i])], when=placed[i].floor("s").to_pydatetime()
        )
    caused = added & ~organic
    return {
        # intention to treat: over every customer assigned to the variant (a few may have got no grant)
        "true_effect": float(caused.sum() / n_variant) if n_variant else None,
        "extra_orders": int(added.sum()),
        "variant_n": n_variant,
    }


def _organic(brand_id: int, customer_ids: np.ndarray, start: dt.datetime, end: dt.datetime) -> np.ndarray:
    """Whether each customer had a paid order in [start, end) before any extra order was added."""
    sql = f"""
        SELECT DISTINCT customer_id FROM {Order._meta.db_table}
        WHERE brand_id = %s AND status = 'paid' AND placed_at >= %s AND placed_at < %s
          AND customer_id = ANY(%s::bigint[])
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand_id, start, end, "{" + ",".join(map(str, customer_ids.tolist())) + "}"])
        hit = {r[0] for r in cursor.fetchall()}
    return np.array([int(c) in hit for c in customer_ids], dtype=bool)
