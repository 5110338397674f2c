"""Judging the model on time it has not seen: the holdout of every refresh and the backtest command, with
three baselines beside the model (Kaplan-Meier by stage, naive RFM, the classic BG/NBD + Gamma-Gamma model),
per stage and overall.

Nothing here fails on the shape of the data. The holdout window adapts to the history there is (`holdout_plan`):
the wanted window when the brand's purchases before it are enough to fit, a shorter one down to
HOLDOUT_FLOOR_DAYS, or none; the run records which and why. A baseline or metric that cannot be computed is
absent with a reason code (survival.evaluation.REASONS, worded for staff by `reason_text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.analytics import selectors
from apps.analytics.models import ModelRun, RunKind, RunStatus
from apps.analytics.runs import (
    Clock,
    config_snapshot,
    fit_at,
    fit_classic_at,
    history_check,
    predict_frame,
    run_failed,
    run_start,
    sample_per_mille,
    scoring_config_get,
)
from apps.analytics.survival.classic import ClassicEngine
from apps.analytics.survival.engine import fit_engine
from apps.analytics.survival.evaluation import METRICS, evaluate
from apps.analytics.survival.rfm import rfm_baseline, rfm_cell, rfm_scores
from apps.analytics.survival.scoring import GRID_DAYS
from apps.analytics.survival.stages import assign_stage

# Above this many customers, holdouts and backtests judge a pseudo-random sample of about this many.
JUDGED_CUSTOMERS = 100_000
# The holdout window: wanted max(horizon, 180) + 7 days (so AUC at 180 days is measurable); shorter when the
# history before it is too thin to fit, never under HOLDOUT_FLOOR_DAYS (a shorter follow-up judges too few
# purchases to mean anything).
HOLDOUT_FLOOR_DAYS = 28
SHORTER_WINDOWS = (365, 273, 180, 120, 90, 60, 45, 30)
# Fitting at the start of a judged window needs at least these many buyers and repeat purchases before it.
MIN_FIT_BUYERS = 30
MIN_FIT_REPEAT_PURCHASES = 10
# The naive RFM baseline reads cell rates from the window of the same length before the judged one: it needs
# customers then, with at least this much history (days) before that window.
MIN_RFM_HISTORY_DAYS = 90
BASELINES = ("kaplan_meier_by_stage", "naive_rfm", "classic")

REASON_TEXT = {
    "too_few_customers": gettext_lazy("fewer than 20 customers to judge"),
    "one_outcome": gettext_lazy("everyone bought, or nobody did: it needs both outcomes"),
    "no_event": gettext_lazy("nobody bought during the follow-up"),
    "no_amounts": gettext_lazy("the purchase log has no amounts"),
    "no_revenue": gettext_lazy("no revenue in the follow-up"),
    "no_training_gaps": gettext_lazy("needs the model's training gaps"),
    "ipcw_support": gettext_lazy(
        "the follow-up lies beyond the training data's censoring support: no censoring weight exists there"
    ),
    "no_comparable_pairs": gettext_lazy("no pair of customers can be compared"),
    "not_computable": gettext_lazy("it could not be computed on these data"),
    "no_previous_window": gettext_lazy(
        "needs a window of the same length before the judged one, with enough history before it"
    ),
    "nobody_bought_twice": gettext_lazy("nobody had bought twice before the window"),
    "classic_not_fitted": gettext_lazy("the classic model could not be fitted"),
    "history_too_short": gettext_lazy("too little history before the shortest window to fit a model"),
    "fit_failed": gettext_lazy("the model could not be fitted at the window's start"),
}


def reason_text(code: str) -> str:
    """A reason code of the stored metrics, in the staff member's language."""
    return str(REASON_TEXT.get(code, code))


def unavailable(code: str) -> dict:
    """The figures of a model or baseline that cannot be judged: every metric absent for the same reason."""
    return {"available": False, "reason": code, "reasons": dict.fromkeys(METRICS, code)}


# --- The window -------------------------------------------------------------------------------------------------


@dataclass
class HoldoutPlan:
    wanted_days: int
    window_days: int | None  # None: not judged
    judged_horizon_days: int | None
    reason: str = ""  # why shorter than wanted, or why none

    def as_dict(self) -> dict:
        return {
            "wanted_days": self.wanted_days,
            "window_days": self.window_days,
            "judged_horizon_days": self.judged_horizon_days,
            "status": "none"
            if self.window_days is None
            else ("full" if self.window_days == self.wanted_days else "shortened"),
            "reason": self.reason,
        }


def holdout_plan(*, brand, cutoff, horizon: int) -> HoldoutPlan:
    """The longest window ending at `cutoff` whose start leaves enough purchases before it to fit (MIN_FIT_BUYERS
    buyers, MIN_FIT_REPEAT_PURCHASES repeat purchases): the wanted max(horizon, 180) + 7 days, else shorter down
    to HOLDOUT_FLOOR_DAYS. The horizon judged is the window's length when that is shorter than the horizon."""
    wanted = max(horizon, 180) + 7
    candidates = [wanted] + [w for w in SHORTER_WINDOWS if HOLDOUT_FLOOR_DAYS <= w < wanted]
    for window in candidates:
        stats = selectors.history_stats(brand=brand, cutoff=cutoff - timedelta(days=window))
        if stats["buyers"] >= MIN_FIT_BUYERS and stats["repeat_purchases"] >= MIN_FIT_REPEAT_PURCHASES:
            return HoldoutPlan(
                wanted_days=wanted,
                window_days=window,
                judged_horizon_days=min(horizon, window),
                reason="" if window == wanted else "history_too_short",
            )
    return HoldoutPlan(
        wanted_days=wanted, window_days=None, judged_horizon_days=None, reason="history_too_short"
    )


# --- Judging one window -----------------------------------------------------------------------------------------


def evaluate_window(
    *, brand, start, end, horizon: int, config, rules, estimator: str, clock: Clock, label: str
) -> dict:
    """Fit as of `start`, predict for every buyer then, and judge against what happened in (start, end]:
    the model beside the baselines, overall and per stage (stage at `start`). Never raises on thin or odd data:
    what cannot be judged is absent with its reason."""
    follow_up = (end - start).total_seconds() / 86400.0
    results: dict = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "follow_up_days": round(follow_up, 1),
        "horizon_days": horizon,
    }
    stats = selectors.history_stats(brand=brand, cutoff=start)
    amounts = stats["amounts_known"]
    results["amounts_known"] = amounts
    with clock.phase(f"{label}: fit"):
        try:
            engine, gaps, info = fit_at(
                brand=brand,
                cutoff=start,
                config=config,
                rules=rules,
                estimator=estimator,
                tune=False,
                stats=stats,
            )
        except ValueError:
            results["model_fit"] = {"available": False, "reason": "fit_failed"}
            return results
        results["fit"] = info
        # the Kaplan-Meier baseline: the same stage paths without covariates, fitted on the same gaps
        try:
            km = fit_engine(
                gaps,
                [],
                rules,
                estimator="kaplan_meier",
                min_events=config.min_stage_events,
                seed=config.random_seed,
            )
        except ValueError:
            km = None
        try:
            classic = fit_classic_at(brand=brand, cutoff=start, rules=rules, amounts_known=amounts)
        except ValueError:
            classic = None
    with clock.phase(f"{label}: predict"):
        # judged on every buyer, or on a pseudo-random sample of about JUDGED_CUSTOMERS of them: the metrics'
        # sampling error is then far below their differences, and the holdout costs the same at any size
        per_mille = sample_per_mille(selectors.customer_count(brand=brand), JUDGED_CUSTOMERS)
        sample = {"sample_per_mille": per_mille, "seed": config.random_seed}
        customers = selectors.customer_frame(brand=brand, cutoff=start, **sample)
        customers = customers.merge(
            selectors.classic_frame(brand=brand, cutoff=start), on="customer_id", how="left"
        )
        outcomes = selectors.outcome_frame(brand=brand, start=start, end=end, horizon_days=horizon)
        judged = selectors.with_outcomes(customers, outcomes, follow_up_days=follow_up)
        predictions = {
            "model": predict_frame(
                engine, customers, config, horizon, horizon_only=True, amounts_known=amounts
            )
        }
        if km is not None:
            predictions["kaplan_meier_by_stage"] = predict_frame(
                km, customers, config, horizon, horizon_only=True, amounts_known=amounts
            )
        if classic is not None:
            predictions["classic"] = predict_frame(
                classic, customers, config, horizon, horizon_only=True, amounts_known=amounts
            )
        rfm = _naive_rfm(brand=brand, start=start, horizon=horizon, customers=customers, sample=sample)
        model_pred = predictions["model"]
        stages, _rules = assign_stage(
            customers["k"],
            customers["elapsed_days"],
            model_pred["rhythm_days"],
            model_pred["churn_probability"].to_numpy(),
            rules,
        )
    with clock.phase(f"{label}: metrics"):
        results["customers_judged"] = len(customers)
        results["customer_sample_per_mille"] = per_mille
        missing = {
            "kaplan_meier_by_stage": None if km is not None else "fit_failed",
            "classic": None if classic is not None else "nobody_bought_twice",
            "naive_rfm": None if isinstance(rfm, tuple) else rfm,
        }
        groups = {"overall": np.ones(len(customers), bool)}
        groups.update({str(s): stages == s for s in selectors.STAGE_ORDER})
        train = {
            "train_duration": gaps["duration_days"].to_numpy() if len(gaps) else None,
            "train_event": gaps["event"].to_numpy() if len(gaps) else None,
        }
        curves = {
            name: np.vstack(pred["survival_curve"].to_numpy()) if len(pred) else None
            for name, pred in predictions.items()
        }
        purchases = judged["purchases_horizon"].to_numpy(float)
        for name, mask in groups.items():
            if not mask.any():
                continue
            common = {
                "duration": judged["duration"].to_numpy()[mask],
                "event": judged["event"].to_numpy()[mask],
                "revenue_horizon": judged["revenue_horizon"].to_numpy()[mask],
                "purchases_horizon": purchases[mask],
                "horizon_days": horizon,
                "amounts_known": amounts,
                **train,  # every model's censoring weights come from the same training gaps
            }
            group = {}
            for key in ("model", *BASELINES):
                if key != "model" and missing[key] is not None:
                    group[key] = unavailable(missing[key])
                elif key == "naive_rfm":
                    p, revenue = rfm
                    group[key] = evaluate(
                        **common, p_purchase_horizon=p[mask], expected_revenue_horizon=revenue[mask]
                    )
                else:
                    pred = predictions[key]
                    group[key] = evaluate(
                        **common,
                        p_purchase_horizon=pred["p_purchase_horizon"].to_numpy()[mask],
                        expected_revenue_horizon=pred["expected_revenue_horizon"].to_numpy()[mask],
                        expected_purchases_horizon=pred["expected_purchases_horizon"].to_numpy()[mask],
                        survival_curve=curves[key][mask] if curves[key] is not None else None,
                        grid_days=GRID_DAYS,
                    )
            results[name] = group
        if isinstance(engine, ClassicEngine):
            results["model_engine"] = "classic"
    return results


def _naive_rfm(*, brand, start, horizon: int, customers, sample: dict):
    """The naive RFM baseline: each R×F cell's repurchase rate and revenue over the window of the same length
    before `start`, applied to the customers by their cell at `start`. A reason code instead when that earlier
    window has too few customers or too little history before it (a brand whose customers all arrived lately)."""
    earlier = start - timedelta(days=horizon)
    stats = selectors.history_stats(brand=brand, cutoff=earlier)
    if stats["buyers"] < MIN_FIT_BUYERS or stats["history_days"] < min(horizon, MIN_RFM_HISTORY_DAYS):
        return "no_previous_window"
    before = selectors.customer_frame(brand=brand, cutoff=earlier, **sample)
    before = selectors.with_outcomes(
        before,
        selectors.outcome_frame(brand=brand, start=earlier, end=start, horizon_days=horizon),
        follow_up_days=float(horizon),
    )
    if len(before) < MIN_FIT_BUYERS:
        return "no_previous_window"
    r0, f0, _m0 = rfm_scores(before["elapsed_days"], before["k"], before["cum_amount"])
    r1, f1, _m1 = rfm_scores(customers["elapsed_days"], customers["k"], customers["cum_amount"])
    return rfm_baseline(
        rfm_cell(r0, f0),
        before["event"] & (before["duration"] <= horizon),
        before["revenue_horizon"],
        rfm_cell(r1, f1),
    )


def holdout_metrics(*, brand, run: ModelRun, config, rules, clock: Clock) -> dict:
    """Judge the model on held-out time: fit as of (cutoff − the window of `holdout_plan`), compare with what
    happened up to the cutoff. The plan is recorded under "holdout"; without a window, only the plan."""
    plan = holdout_plan(brand=brand, cutoff=run.cutoff, horizon=run.horizon_days)
    if plan.window_days is None:
        return {"holdout": plan.as_dict()}
    metrics = evaluate_window(
        brand=brand,
        start=run.cutoff - timedelta(days=plan.window_days),
        end=run.cutoff,
        horizon=plan.judged_horizon_days,
        config=config,
        rules=rules,
        estimator=run.estimator,
        clock=clock,
        label="holdout",
    )
    return {**metrics, "holdout": plan.as_dict()}


def backtest_run(
    *, brand, as_of: date, horizon_days: int, estimator: str | None = None, triggered_by: str = ""
) -> ModelRun:
    """Fit as of `as_of`, compare with what happened in (as_of, as_of + horizon]: the model beside the
    baselines. Stored as a backtest run; no scores are written or published."""
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
        if history_check(run) is None:
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
