"""Judging the model on time it has not seen: the holdout of every refresh and the backtest command, with
the KM-per-stage and naive RFM baselines beside the model, per stage and overall."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics import selectors
from apps.analytics.models import ModelRun, RunKind, RunStatus
from apps.analytics.runs import (
    Clock,
    config_snapshot,
    enough_data,
    fit_at,
    predict_frame,
    run_failed,
    run_start,
    sample_per_mille,
    scoring_config_get,
)
from apps.analytics.survival.engine import fit_engine
from apps.analytics.survival.evaluation import evaluate
from apps.analytics.survival.rfm import rfm_baseline, rfm_cell, rfm_scores
from apps.analytics.survival.scoring import GRID_DAYS
from apps.analytics.survival.stages import assign_stage

# Above this many customers, holdouts and backtests judge a pseudo-random sample of about this many.
JUDGED_CUSTOMERS = 100_000


def evaluate_window(
    *, brand, start, end, horizon: int, config, rules, estimator: str, clock: Clock, label: str
) -> dict:
    """Fit as of `start`, predict for every buyer then, and judge against what happened in (start, end]:
    the model beside the KM-per-stage and naive RFM baselines, overall and per stage (stage at `start`)."""
    follow_up = (end - start).total_seconds() / 86400.0
    with clock.phase(f"{label}: fit"):
        engine, gaps, info = fit_at(
            brand=brand, cutoff=start, config=config, rules=rules, estimator=estimator, tune=False
        )
        # the baseline: the same stage paths without covariates, fitted on the same gaps
        km = fit_engine(
            gaps,
            [],
            rules,
            estimator="kaplan_meier",
            min_events=config.min_stage_events,
            seed=config.random_seed,
        )
    with clock.phase(f"{label}: predict"):
        # judged on every buyer, or on a pseudo-random sample of about JUDGED_CUSTOMERS of them: the metrics'
        # sampling error is then far below their differences, and the holdout costs the same at any size
        per_mille = sample_per_mille(selectors.customer_count(brand=brand), JUDGED_CUSTOMERS)
        sample = {"sample_per_mille": per_mille, "seed": config.random_seed}
        customers = selectors.customer_frame(brand=brand, cutoff=start, **sample)
        outcomes = selectors.outcome_frame(brand=brand, start=start, end=end, horizon_days=horizon)
        judged = selectors.with_outcomes(customers, outcomes, follow_up_days=follow_up)
        model_pred = predict_frame(engine, customers, config, horizon, horizon_only=True)
        km_pred = predict_frame(km, customers, config, horizon, horizon_only=True)
        # naive RFM: cell rates observed over the window of the same length before `start`
        earlier = start - timedelta(days=horizon)
        before = selectors.customer_frame(brand=brand, cutoff=earlier, **sample)
        before = selectors.with_outcomes(
            before,
            selectors.outcome_frame(brand=brand, start=earlier, end=start, horizon_days=horizon),
            follow_up_days=float(horizon),
        )
        r0, f0, _m0 = rfm_scores(before["elapsed_days"], before["k"], before["cum_amount"])
        r1, f1, _m1 = rfm_scores(customers["elapsed_days"], customers["k"], customers["cum_amount"])
        rfm_p, rfm_rev = rfm_baseline(
            rfm_cell(r0, f0),
            before["event"] & (before["duration"] <= horizon),
            before["revenue_horizon"],
            rfm_cell(r1, f1),
        )
        stages, _rules = assign_stage(
            customers["k"],
            customers["elapsed_days"],
            model_pred["rhythm_days"],
            model_pred["churn_probability"].to_numpy(),
            rules,
        )
    with clock.phase(f"{label}: metrics"):
        results: dict = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "follow_up_days": round(follow_up, 1),
            "horizon_days": horizon,
            "fit": info,
            "customers_judged": len(customers),
            "customer_sample_per_mille": per_mille,
        }
        groups = {"overall": np.ones(len(customers), bool)}
        groups.update(
            {str(s): stages == s for s in ("introduction", "growth", "maturity", "decline", "churned")}
        )
        curves = np.vstack(model_pred["survival_curve"].to_numpy()) if len(model_pred) else None
        for name, mask in groups.items():
            if not mask.any():
                continue
            common = {
                "duration": judged["duration"].to_numpy()[mask],
                "event": judged["event"].to_numpy()[mask],
                "revenue_horizon": judged["revenue_horizon"].to_numpy()[mask],
                "horizon_days": horizon,
            }
            results[name] = {
                "model": evaluate(
                    **common,
                    p_purchase_horizon=model_pred["p_purchase_horizon"].to_numpy()[mask],
                    expected_revenue_horizon=model_pred["expected_revenue_horizon"].to_numpy()[mask],
                    train_duration=gaps["duration_days"].to_numpy(),
                    train_event=gaps["event"].to_numpy(),
                    survival_curve=curves[mask] if curves is not None else None,
                    grid_days=GRID_DAYS,
                ),
                "kaplan_meier_by_stage": evaluate(
                    **common,
                    p_purchase_horizon=km_pred["p_purchase_horizon"].to_numpy()[mask],
                    expected_revenue_horizon=km_pred["expected_revenue_horizon"].to_numpy()[mask],
                ),
                "naive_rfm": evaluate(
                    **common, p_purchase_horizon=rfm_p[mask], expected_revenue_horizon=rfm_rev[mask]
                ),
            }
    return results


def holdout_metrics(*, brand, run: ModelRun, config, rules, clock: Clock) -> dict:
    """Judge the model on held-out time: fit as of (cutoff − max(horizon, 180 days)), compare with what
    happened up to the cutoff."""
    holdout = max(run.horizon_days, 180) + 7  # follow-up past 180 days, so AUC at 180 days is measurable
    return evaluate_window(
        brand=brand,
        start=run.cutoff - timedelta(days=holdout),
        end=run.cutoff,
        horizon=run.horizon_days,
        config=config,
        rules=rules,
        estimator=run.estimator,
        clock=clock,
        label="holdout",
    )


def backtest_run(
    *, brand, as_of: date, horizon_days: int, estimator: str | None = None, triggered_by: str = ""
) -> ModelRun:
    """Fit as of `as_of`, compare with what happened in (as_of, as_of + horizon]: the model beside the naive
    RFM and KM-per-stage baselines. Stored as a backtest run; no scores are written or published."""
    config = scoring_config_get(brand=brand)
    start = selectors.cutoff_for(brand, as_of)
    end = start + timedelta(days=horizon_days)
    if end > timezone.now():
        raise ValueError(
            _(
                "The backtest window ends on %(end)s, after today: pick an as-of date at least %(days)d days ago."
            )
            % {"end": end.date(), "days": horizon_days}
        )
    run = ModelRun.objects.create(
        brand=brand,
        kind=RunKind.BACKTEST,
        as_of=as_of,
        cutoff=start,
        horizon_days=horizon_days,
        estimator=estimator or config.estimator,
        settings_snapshot=config_snapshot(config),
        triggered_by=triggered_by[:100],
    )
    config, rules, clock = run_start(run)
    try:
        if not enough_data(run):
            return run
        with selectors.purchase_window(brand=brand, cutoff=start):
            run.metrics = evaluate_window(
                brand=brand,
                start=start,
                end=end,
                horizon=horizon_days,
                config=config,
                rules=rules,
                estimator=run.estimator,
                clock=clock,
                label="backtest",
            )
        run.status = RunStatus.SUCCEEDED
        return run
    except Exception as exc:
        run_failed(run, exc)
        raise
    finally:
        run.timings = clock.timings
        run.finished_at = timezone.now()
        run.save()
