"""Benchmark on a real purchase log: ../shared/data/grocery_elog.csv (BTYDplus; see its README).

    .venv/bin/python bench/realdata.py [--log ../shared/data/grocery_elog.csv] [--dates 2006-12-31:364,...]

Imports the log through the product's import (`orders_import`, as `import_orders` does: no amounts, no order
ids, several orders on one day), then at each as-of date runs a refresh and a backtest over the next N days,
and in the same process fits the classic peers on the same customers: Pareto/NBD and BG/NBD (our
implementations in apps/analytics/survival/classic.py, which reproduce the published CDNOW parameters).

Prints, per date, for the product and every peer (and the product's naive RFM baseline): AUC of buying again
within the window, Harrell's C for the time to the next purchase, Spearman of predicted against actual
purchases in the window, the aggregate purchase-count error, the mean absolute error per customer and the
expected calibration error; the error of the expected next-order date against "last order + average gap";
and the refresh's wall time against Pareto/NBD's fit and predict (Django start-up excluded).

Runs on the embedded PostgreSQL (database clv_bench_realdata) unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clvsite.settings.local")
os.environ.setdefault("EMBEDDED_DATABASE_NAME", "clv_bench_realdata")
os.environ.setdefault("LANGUAGE_CODE", "en")

DEFAULT_LOG = ROOT.parent / "shared" / "data" / "grocery_elog.csv"
# (as-of date, window days): the literature's split (calibrate on 2006, hold out 52 weeks) and two others
DEFAULT_DATES = "2006-12-31:364,2006-09-30:364,2007-06-30:182"
SLUG = "bench-grocery"
TARGETS = {"ece": 0.03, "aggregate_error": 0.05}


def setup():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def import_log(path: Path):
    from apps.analytics.models import ModelRun
    from apps.brands.services import brand_create
    from apps.orders.importers import orders_import

    # the brand is kept between runs (a re-import changes nothing); its earlier runs are dropped
    brand, _ = brand_create(slug=SLUG, name="Grocery (BTYDplus)", timezone="UTC", currency="CNY")
    ModelRun.objects.filter(brand=brand).delete()
    start = time.perf_counter()
    result = orders_import(brand=brand, path=str(path))
    seconds = time.perf_counter() - start
    if result.errors:
        raise SystemExit(f"import failed: {result.errors[:3]}")
    return brand, result, seconds


def judged_frame(brand, as_of: date, days: int):
    """The customers judged at `as_of` (every buyer up to it) with the classic columns and what happened."""
    from apps.analytics import selectors

    start = selectors.cutoff_for(brand, as_of)
    end = start + timedelta(days=days)
    customers = selectors.customer_frame(brand=brand, cutoff=start)
    customers = customers.merge(
        selectors.classic_frame(brand=brand, cutoff=start), on="customer_id", how="left"
    )
    outcomes = selectors.outcome_frame(brand=brand, start=start, end=end, horizon_days=days)
    return start, selectors.with_outcomes(customers, outcomes, follow_up_days=float(days))


def peer_metrics(name, fit, judged, days: int) -> dict:
    """Fit a classic peer on the judged customers' histories and judge it like the product."""
    import numpy as np

    from apps.analytics.survival.evaluation import evaluate

    x, t_x, T = (judged[c].to_numpy(float) for c in ("x", "t_x", "T"))
    clock = time.perf_counter()
    model = fit(x, t_x, T)
    p = 1.0 - model.p_no_purchase(x, t_x, T, [float(days)])[:, 0]
    expected = model.expected_purchases(x, t_x, T, [float(days)])[:, 0]
    seconds = time.perf_counter() - clock
    figures = evaluate(
        duration=judged["duration"].to_numpy(),
        event=judged["event"].to_numpy(),
        revenue_horizon=np.zeros(len(judged)),
        p_purchase_horizon=p,
        expected_revenue_horizon=np.zeros(len(judged)),
        horizon_days=days,
        amounts_known=False,
        expected_purchases_horizon=expected,
        purchases_horizon=judged["purchases_horizon"].to_numpy(float),
    )
    return {"name": name, "seconds": seconds, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--dates", default=DEFAULT_DATES, help="as-of:days pairs, comma-separated")
    args = parser.parse_args()
    setup()
    from rich.console import Console
    from rich.table import Table

    from apps.analytics.models import ModelRun
    from apps.analytics.services import backtest_run, scores_refresh
    from apps.analytics.survival.classic import fit_bgnbd, fit_pareto_nbd

    console = Console(width=150)
    brand, result, import_seconds = import_log(args.log)
    console.print(
        f"imported {args.log.name}: {result.rows_read:,} rows ({result.created:,} orders created, "
        f"{result.unchanged:,} unchanged) in {import_seconds:.1f} s"
    )
    summary = []
    for pair in args.dates.split(","):
        as_of_text, days_text = pair.split(":")
        as_of, days = date.fromisoformat(as_of_text), int(days_text)
        clock = time.perf_counter()
        run = scores_refresh(brand=brand, as_of=as_of, horizon_days=min(days, 365), triggered_by="bench")
        refresh_seconds = time.perf_counter() - clock
        backtest = backtest_run(brand=brand, as_of=as_of, horizon_days=days, triggered_by="bench")
        overall = backtest.metrics.get("overall", {})
        _start, judged = judged_frame(brand, as_of, days)
        peers = [
            peer_metrics("Pareto/NBD", fit_pareto_nbd, judged, days),
            peer_metrics("BG/NBD", fit_bgnbd, judged, days),
        ]
        rows = [("product", overall.get("model", {}))]
        rows += [(p["name"], p) for p in peers]
        rows += [
            ("naive RFM", overall.get("naive_rfm", {})),
            ("KM by stage", overall.get("kaplan_meier_by_stage", {})),
        ]
        table = Table(
            title=f"as of {as_of}, next {days} days: {backtest.metrics.get('customers_judged', 0):,} customers, "
            f"{overall.get('model', {}).get('buyers_in_horizon', 0):,} bought again"
        )
        for column in ("model", "AUC", "Harrell C", "Spearman", "aggregate error", "MAE/customer", "ECE"):
            table.add_column(column, justify="right" if column != "model" else "left")

        def cell(figures, key, percent=False):
            value = figures.get(key)
            if value is None:
                reason = (figures.get("reasons") or {}).get(key)
                return f"— ({reason})" if reason else "—"
            return f"{value:+.1%}" if percent else f"{value:.3f}"

        for name, figures in rows:
            table.add_row(
                name,
                cell(figures, "auc_horizon"),
                cell(figures, "harrell_c"),
                cell(figures, "spearman_purchases"),
                cell(figures, "purchases_error", percent=True),
                cell(figures, "mae_purchases"),
                cell(figures, "ece_horizon"),
            )
        console.print(table)
        pareto_seconds = peers[0]["seconds"]
        next_order = backtest.metrics.get("next_order") or {}
        console.print(
            f"  refresh {refresh_seconds:.1f} s (status {run.status}, holdout {run.metrics.get('holdout', {})}); "
            f"Pareto/NBD fit + predict {pareto_seconds:.2f} s: ratio {refresh_seconds / pareto_seconds:.1f}×"
        )
        if next_order:
            console.print(f"  next-order date error (days, buyers): {next_order}")
        model = overall.get("model", {})
        beaten = [
            p["name"]
            for p in peers
            if any(
                (model.get(k) or 0) <= (p.get(k) or 0)
                for k in ("auc_horizon", "harrell_c", "spearman_purchases")
            )
        ]
        summary.append(
            {
                "as_of": as_of,
                "days": days,
                "ahead_of_every_peer": not beaten,
                "not_ahead_of": beaten,
                "ece": model.get("ece_horizon"),
                "aggregate_error": model.get("purchases_error"),
                "refresh_vs_pareto": refresh_seconds / pareto_seconds,
            }
        )
        learned = backtest.metrics.get("calibration_learned_before") or {}
        console.print(
            f"  recalibration learned before the as-of date: adopted {learned.get('adopted')}"
            f" ({learned.get('not_adopted_because') or learned.get('reason') or ''}; a = {learned.get('a')},"
            f" count factor {learned.get('count_factor')}, ECE before {(learned.get('report') or {}).get('ece_before')},"
            f" after (cross-fitted) {(learned.get('report') or {}).get('ece_after_crossfitted')})"
        )
        ModelRun.objects.filter(pk=backtest.pk).delete()
    console.print(
        "\n[bold]Targets[/bold]: ahead of every peer on AUC, C and Spearman at every date; aggregate "
        f"error within ±{TARGETS['aggregate_error']:.0%}; ECE ≤ {TARGETS['ece']}; refresh ≤ 1× Pareto/NBD"
    )
    for row in summary:
        ece, agg = row["ece"], row["aggregate_error"]
        console.print(
            f"  {row['as_of']} ({row['days']} d): ahead of every peer: {'yes' if row['ahead_of_every_peer'] else 'NO ' + str(row['not_ahead_of'])}; "
            f"ECE {ece if ece is not None else '—'} ({'met' if ece is not None and ece <= TARGETS['ece'] else 'NOT met'}); "
            f"aggregate error {agg if agg is not None else '—'} "
            f"({'met' if agg is not None and abs(agg) <= TARGETS['aggregate_error'] else 'NOT met'}); "
            f"refresh {row['refresh_vs_pareto']:.1f}× Pareto/NBD "
            f"({'met' if row['refresh_vs_pareto'] <= 1 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
