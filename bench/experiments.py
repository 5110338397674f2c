"""Benchmark: the results of an experiment with 500,000 customers (target ≤ 5 s).

    .venv/bin/python bench/experiments.py [--customers 500000] [--rebuild]

Uses the database clv_bench_experiments on the system PostgreSQL (created and migrated if missing). The brand
`bench-experiments` is generated with set-based SQL: `--customers` customers, each with 0-3 paid orders in the
90 days before the start (the pre-period), assigned 50/50 to control and a coupon arm by the product's own
hash; after the start, control buys with probability 0.20 and the coupon arm 0.23 within 30 days, plus 0.08 per pre-period order, at a
uniform time.

Prints, beside a bare baseline measured in the same run:
- product: experiment_results (outcomes query, differences with intervals, CUPED/CUPAC, anytime-valid
  intervals, SRM, Holm, power, Kaplan-Meier, log-rank, RMST, Cox hazard ratio), wall time and SQL queries,
  and its parts;
- baseline: what a bare A/B readout does: one GROUP BY of conversions per arm and a two-proportion z-test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DB_URL = "postgres://postgres@127.0.0.1:5432/clv_bench_experiments"
os.environ["DJANGO_SETTINGS_MODULE"] = "clvsite.settings.local"
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("LOG_LEVEL", "WARNING")

SLUG = "bench-experiments"
TARGET_SECONDS = 5.0
START = "2026-06-01 00:00+08"


def ensure_database(rebuild: bool) -> None:
    from _db import ensure_database as ensure

    ensure(DB_URL, rebuild)


def generate(brand, n: int):
    import datetime as dt

    import numpy as np
    from django.db import connection

    from apps.engagement.experiments import arm_indexes, experiment_create, hash_positions
    from apps.engagement.models import Experiment, ExperimentStatus
    from apps.loyalty.models import Benefit

    b = brand.pk
    start = dt.datetime.fromisoformat("2026-06-01T00:00:00+08:00")
    coupon = Benefit.objects.get(brand=brand, code="coupon-50")
    experiment = experiment_create(
        brand=brand,
        code="bench-coupon",
        name="Bench coupon",
        starts_at=start,
        ends_at=start + dt.timedelta(days=30),
        secondary_metrics=["revenue", "time_to_purchase"],
        arms=[
            {"code": "control", "is_control": True, "share": 50},
            {"code": "coupon", "share": 50, "treatment": "benefit", "benefit": coupon},
        ],
    )
    arms = list(experiment.arms.order_by("-is_control", "code").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """INSERT INTO customers_customer (created_at, updated_at, external_id, display_name, phone, gender,
                   age_band, province, city, acquisition_channel, first_seen_at, marketing_consent,
                   automated_decisions_opt_out, preferred_touch_channel, brand_id)
               SELECT now(), now(), 'c' || g, '', '', 'unknown', '', '', '', 'live_stream', '2025-01-01', true,
                      false, '', %s FROM generate_series(1, %s) g""",
            [b, n],
        )
        cursor.execute("SELECT id, external_id FROM customers_customer WHERE brand_id = %s ORDER BY id", [b])
        rows = cursor.fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    index = arm_indexes(hash_positions("bench-coupon", [r[1] for r in rows]), [50, 50])
    arm_of = np.array(arms)[index]
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO engagement_experimentassignment (created_at, updated_at, brand_id, experiment_id, arm_id,
                   customer_id, assigned_at, exposed_at, pre_revenue, pre_orders, predicted_revenue, p_purchase)
               SELECT now(), now(), %s, %s, x.arm, x.customer, %s, %s, 0, 0, random() * 300, random()
               FROM unnest(%s::bigint[], %s::bigint[]) AS x(customer, arm)""",
            [b, experiment.pk, start, start, ids.tolist(), arm_of.tolist()],
        )
        # the pre-period: 0-3 paid orders in the 90 days before the start
        cursor.execute(
            """INSERT INTO orders_order (created_at, updated_at, external_id, placed_at, status, total_amount,
                   currency, channel, brand_id, customer_id)
               SELECT now(), now(), 'p' || c.id || '-' || k, %s::timestamptz - random() * interval '90 days', 'paid',
                      round((50 + random() * 250)::numeric, 2), 'CNY', 'live_stream', %s, c.id
               FROM customers_customer c CROSS JOIN generate_series(1, 3) k
               WHERE c.brand_id = %s AND random() < 0.35""",
            [START, b, b],
        )
        cursor.execute(
            """UPDATE engagement_experimentassignment a SET pre_revenue = p.revenue, pre_orders = p.n
               FROM (SELECT customer_id, sum(total_amount) AS revenue, count(*) AS n FROM orders_order
                     WHERE brand_id = %s GROUP BY customer_id) p
               WHERE a.brand_id = %s AND a.customer_id = p.customer_id""",
            [b, b],
        )
        # after the start: control buys with p 0.20, coupon 0.23, plus 0.08 per pre-period order
        cursor.execute(
            """INSERT INTO orders_order (created_at, updated_at, external_id, placed_at, status, total_amount,
                   currency, channel, brand_id, customer_id)
               SELECT now(), now(), 'x' || a.customer_id, %s::timestamptz + random() * interval '30 days', 'paid',
                      round((50 + random() * 250)::numeric, 2), 'CNY', 'live_stream', %s, a.customer_id
               FROM engagement_experimentassignment a
               WHERE a.brand_id = %s
                 AND random() < CASE WHEN a.arm_id = %s THEN 0.20 ELSE 0.23 END + 0.08 * a.pre_orders""",
            [START, b, b, arms[0]],
        )
        cursor.execute("ANALYZE")
    Experiment.objects.filter(pk=experiment.pk).update(status=ExperimentStatus.FINISHED, started_at=start)
    return experiment


def baseline(experiment) -> float:
    from django.db import connection
    from scipy import stats

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT a.arm_id, count(*), count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM orders_order o WHERE o.brand_id = a.brand_id AND o.customer_id = a.customer_id
                   AND o.status = 'paid' AND o.placed_at >= %s AND o.placed_at < %s::timestamptz + interval '30 days'))
               FROM engagement_experimentassignment a WHERE a.brand_id = %s AND a.experiment_id = %s
               GROUP BY a.arm_id ORDER BY a.arm_id""",
            [experiment.starts_at, experiment.starts_at, experiment.brand_id, experiment.pk],
        )
        (_, n1, x1), (_, n2, x2) = cursor.fetchall()
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / (pooled * (1 - pooled) * (1 / n1 + 1 / n2)) ** 0.5
    stats.norm.sf(abs(z))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    ensure_database(args.rebuild)
    import django

    django.setup()
    import datetime as dt

    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    from apps.brands.models import Brand
    from apps.brands.services import brand_create
    from apps.engagement import experiment_stats as es
    from apps.engagement import experiments
    from apps.engagement.models import Experiment, ExperimentAssignment

    brand = Brand.objects.filter(slug=SLUG).first()
    if brand is not None and ExperimentAssignment.objects.filter(brand=brand).count() != args.customers:
        sys.exit(f"{SLUG} was generated with another --customers: run with --rebuild")
    if brand is None:
        brand, _ = brand_create(slug=SLUG, name="Bench experiments", timezone="Asia/Shanghai", currency="CNY")
        began = time.perf_counter()
        generate(brand, args.customers)
        print(
            f"generated {args.customers:,} customers, assignments and orders in {time.perf_counter() - began:.1f} s"
        )
    experiment = Experiment.objects.get(brand=brand, code="bench-coupon")
    at = experiment.starts_at + dt.timedelta(days=45)

    print(f"\nresults of an experiment with {args.customers:,} customers")
    runs = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as ctx:
            began = time.perf_counter()
            results = experiments.experiment_results(experiment=experiment, at=at)
            runs.append(time.perf_counter() - began)
    began = time.perf_counter()
    frame = experiments.outcomes(experiment=experiment, at=at)
    query_s = time.perf_counter() - began
    began = time.perf_counter()
    es.survival_by_arm(frame["days"], frame["event"], frame["arm_id"].astype(str), str(frame["arm_id"].min()))
    survival_s = time.perf_counter() - began
    base = min(baseline(experiment) for _ in range(3))
    best = min(runs)
    v = results["variants"]["coupon"]
    print(
        f"  product: {best:.2f} s (best of 3; {', '.join(f'{r:.2f}' for r in runs)}), {len(ctx.captured_queries) + 1} SQL statements (one COPY)"
    )
    print(
        f"    parts: outcomes query {query_s:.2f} s, Kaplan-Meier + log-rank + Cox {survival_s:.2f} s, the rest in numpy"
    )
    print(
        f"  bare baseline (GROUP BY per arm + two-proportion z-test): {base:.2f} s  (product = {best / base:.1f}× it)"
    )
    print(
        f"  diff {v['diff']:.4f} [{v['ci_low']:.4f}, {v['ci_high']:.4f}], CUPED variance reduction "
        f"{v['variance_reduction']:.1%}, CUPAC {v['cupac_variance_reduction']:.1%}, hazard ratio {v['hazard_ratio']:.3f}, "
        f"srm_p {results['srm_p']:.3f}"
    )
    print(f"  target ≤ {TARGET_SECONDS:.0f} s: {'met' if best <= TARGET_SECONDS else 'NOT met'}")


if __name__ == "__main__":
    main()
