"""How often the demo's finished experiment covers its true effect, and what CUPED and CUPAC remove.

    .venv/bin/python bench/experiment_coverage.py [--seeds 8] [--customers 5000]

Seeds the demo brand `excov` once per seed (database clv_bench_experiments on the system PostgreSQL) with
scores, which runs demo-coupon (a ¥50 coupon with a known added purchase hazard) and demo-aa (no effect);
prints, per seed, the stored true effect on conversion, the measured difference with its 95% interval and
the CUPED / CUPAC intervals, and the variance each adjustment removed; then how many intervals cover the
truth (nominal 95%) and how many A/A intervals exclude 0 (nominal 5%).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "clvsite.settings.local"
os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/clv_bench_experiments"
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from experiments import ensure_database

    ensure_database(False)
    import django

    django.setup()
    import io

    from django.core.management import call_command

    from apps.demo.models import DemoTruth
    from apps.engagement.experiments import experiment_results
    from apps.engagement.models import Experiment

    call_command("migrate", verbosity=0)
    covered = covered_cuped = aa_false = 0
    reductions, cupac_reductions = [], []
    for seed in range(1, args.seeds + 1):
        call_command(
            "seed_demo", brand="excov", customers=args.customers, seed=seed, score=True, stdout=io.StringIO()
        )
        truth = DemoTruth.objects.get(brand__slug="excov").params["experiments"]["demo-coupon"]["true_effect"]
        coupon = experiment_results(
            experiment=Experiment.objects.get(brand__slug="excov", code="demo-coupon")
        )
        aa = experiment_results(experiment=Experiment.objects.get(brand__slug="excov", code="demo-aa"))
        v, w = coupon["variants"]["coupon"], aa["variants"]["a2"]
        hit = v["ci_low"] <= truth <= v["ci_high"]
        hit_cuped = v["cuped_ci_low"] <= truth <= v["cuped_ci_high"]
        covered += hit
        covered_cuped += hit_cuped
        aa_false += not (w["ci_low"] <= 0 <= w["ci_high"])
        reductions.append(v["variance_reduction"])
        cupac_reductions.append(v["cupac_variance_reduction"])
        print(
            f"seed {seed}: n {coupon['arms']['control']['n']}+{coupon['arms']['coupon']['n']}, true {truth:.3f}, "
            f"diff {v['diff']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}] {'✓' if hit else '✗'}, "
            f"CUPED [{v['cuped_ci_low']:.3f}, {v['cuped_ci_high']:.3f}] {'✓' if hit_cuped else '✗'} "
            f"(−{v['variance_reduction']:.0%} variance), CUPAC −{v['cupac_variance_reduction']:.0%}; "
            f"A/A diff {w['diff']:.3f} [{w['ci_low']:.3f}, {w['ci_high']:.3f}], srm_p {aa['srm_p']:.2f}"
        )
    n = args.seeds
    print(
        f"\ncoverage of the true effect: {covered}/{n} raw, {covered_cuped}/{n} CUPED (nominal 95%); "
        f"A/A intervals excluding 0: {aa_false}/{n} (nominal 5%)"
    )
    print(
        f"variance removed on the demo brand: CUPED (pre-period spend and purchases) mean {sum(reductions) / n:.0%}, "
        f"CUPAC (plus the product's predicted revenue and P(purchase)) mean {sum(cupac_reductions) / n:.0%}"
    )


if __name__ == "__main__":
    main()
