"""The plumbing every engine run shares: configuration, the brand lock, timing, fitting at a cutoff,
predicting, and a run's life cycle (started, skipped for thin data, failed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import pandas as pd
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.analytics import selectors
from apps.analytics.features import FEATURE_NAMES
from apps.analytics.models import CustomerScore, ModelRun, RunStatus, ScoringConfig
from apps.analytics.survival.calibration import Recalibration
from apps.analytics.survival.classic import (
    ClassicEngine,
    GammaGamma,
    classic_predict,
    fit_classic,
    fit_gamma_gamma,
)
from apps.analytics.survival.engine import Engine, fit_engine, predict_finish, predict_prepare
from apps.analytics.survival.scoring import GRID_DAYS
from apps.analytics.survival.stages import StageRules

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 72_001  # pg advisory lock namespace for score refreshes (second key: brand id)

# Data sufficiency (docs/engine.md). Below MIN_BUYERS buyers, or with no repeat purchase at all, a run is
# skipped and says why. The survival models need `min_stage_events` repeat purchases (the brand's setting, 50
# by default) for a stage's own model, and EVENTS_PER_FEATURE per covariate in all; with fewer, a brand with at
# least MIN_CLASSIC_REPEAT_BUYERS repeat buyers is scored by the classic BG/NBD + Gamma-Gamma model, else by the
# pooled Kaplan-Meier curve.
MIN_BUYERS = 20
MIN_CLASSIC_REPEAT_BUYERS = 5
# The survival engine also needs this many repeat purchases per covariate in all (the usual ten events per
# variable of a Cox model; with fewer its coefficients run off on thin data).
EVENTS_PER_FEATURE = 10
# Renewal bins for expected purchases and CLV. Measured on the demo backtest (as of 2026-03-31, 90 days):
# total revenue error −23% with 30-day bins, −7.7% with 15, −3.5% with 7 (frequent buyers repeat within a bin).
RENEWAL_BIN_DAYS = 7


class RefreshSkipped(Exception):
    """Another refresh of the brand holds the lock; this one did nothing."""


def scoring_config_get(*, brand) -> ScoringConfig:
    config, _ = ScoringConfig.objects.get_or_create(brand=brand)
    return config


def stage_rules_for(config: ScoringConfig) -> StageRules:
    return StageRules(
        growth_min_orders=config.growth_min_orders,
        maturity_min_orders=config.maturity_min_orders,
        decline_gap_ratio=float(config.decline_gap_ratio),
        churn_gap_ratio=float(config.churn_gap_ratio),
        churn_probability=float(config.churn_probability),
    )


@contextmanager
def brand_refresh_lock(brand):
    """A PostgreSQL session advisory lock per brand: a second refresh of the same brand raises RefreshSkipped."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, brand.pk])
        if not cursor.fetchone()[0]:
            raise RefreshSkipped(_("Another refresh of this brand is running; this one was skipped."))
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, brand.pk])


def brand_refresh_locked(brand) -> bool:
    """Whether a refresh of the brand holds its lock now (a live process; a killed one's lock is gone)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, brand.pk])
        if not cursor.fetchone()[0]:
            return True
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, brand.pk])
    return False


# The run's timed phases (services.Clock and the refresh's own entries) as staff read them; a holdout,
# backtest or calibration phase is "<window>: <phase>".
PHASE_LABELS = {
    "purchase window": gettext_lazy("reading the purchases"),
    "fit": gettext_lazy("fit"),
    "rfm": gettext_lazy("RFM cut points"),
    "predict": gettext_lazy("predict"),
    "survival paths": gettext_lazy("survival along the stage paths"),
    "metrics": gettext_lazy("metrics"),
    "features: customers": gettext_lazy("customer features"),
    "wait for the recalibration": gettext_lazy("waiting for the recalibration"),
    "write scores": gettext_lazy("writing the scores"),
    "score chunks (after the holdout)": gettext_lazy("scoring in chunks (after the holdout)"),
    "tiers and percentiles, scores written": gettext_lazy("tiers and percentiles, scores written"),
    "prospects": gettext_lazy("prospects"),
    "prospects (beside the scoring)": gettext_lazy("prospects (beside the scoring)"),
    "recommendations": gettext_lazy("recommendations"),
    "recommendations (beside the scoring)": gettext_lazy("recommendations (beside the scoring)"),
    "publish": gettext_lazy("publish"),
    "stage changes": gettext_lazy("stage changes"),
    "tiers": gettext_lazy("tiers and benefits"),
    "old scores pruned": gettext_lazy("old scores pruned"),
    "next actions and win-back": gettext_lazy("next actions and win-back"),
    "planner statistics": gettext_lazy("database statistics"),
    "dashboard snapshot": gettext_lazy("dashboard snapshot"),
    "paid orders folded (beside the publish)": gettext_lazy("paid orders folded (beside the publish)"),
    "holdout": gettext_lazy("held-out time"),
    "backtest": gettext_lazy("backtest"),
    "calibration": gettext_lazy("recalibration window"),
}


# The order a run's phases are shown in (run.timings is JSON: PostgreSQL keeps its keys in its own order): the
# pipeline's, a window's phases ("holdout: fit") and the publish's steps ("publish: tiers") after their window.
PHASE_ORDER = (
    "purchase window",
    "calibration",
    "backtest",
    "holdout",
    "fit",
    "rfm",
    "features: customers",
    "survival paths",
    "wait for the recalibration",
    "predict",
    "metrics",
    "write scores",
    "score chunks (after the holdout)",
    "tiers and percentiles, scores written",
    "prospects",
    "prospects (beside the scoring)",
    "recommendations",
    "recommendations (beside the scoring)",
    "publish",
    "stage changes",
    "tiers",
    "old scores pruned",
    "next actions and win-back",
    "planner statistics",
    "dashboard snapshot",
    "paid orders folded (beside the publish)",
)


def phase_sort_key(name: str) -> tuple[int, int]:
    """Where a timed phase comes in PHASE_ORDER (a window's phase right after its window; unknown names last)."""
    rank = {phase: i for i, phase in enumerate(PHASE_ORDER)}
    if name in rank:
        return rank[name], -1
    window, sep, phase = name.partition(": ")
    if sep and window in rank:
        return rank[window], rank.get(phase, len(rank))
    return len(rank), 0


def phase_label(name: str) -> str:
    """A timed phase in the staff's language (a name it does not know as it is)."""
    if name in PHASE_LABELS:
        return str(PHASE_LABELS[name])
    window, sep, phase = name.partition(": ")
    if sep and window in PHASE_LABELS and phase in PHASE_LABELS:
        return _("%(window)s: %(phase)s") % {"window": PHASE_LABELS[window], "phase": PHASE_LABELS[phase]}
    return name


class Clock:
    """Times each phase; `on_phase` (a progress display) hears each phase's name as it starts."""

    def __init__(self, on_phase: Callable[[str], None] | None = None):
        self.timings: dict[str, float] = {}
        self.on_phase = on_phase

    @contextmanager
    def phase(self, name: str):
        if self.on_phase is not None:
            self.on_phase(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)


def sample_per_mille(purchases: int, wanted: int) -> int:
    return 1000 if purchases <= wanted else max(1, int(1000 * wanted / purchases))


# The classic baseline and the survival engine's Gamma-Gamma spend model are fitted on at most this many buyers
# (a seeded random sample beyond): their four BG/NBD and three Gamma-Gamma parameters are population means,
# whose sampling error at 200,000 buyers is far below the differences the holdout judges, while the
# likelihood's cost grows with every buyer (117 s for 900,000 buyers, the holdout's longest step at a million
# customers).
CLASSIC_FIT_CUSTOMERS = 200_000


def fit_at(
    *,
    brand,
    cutoff,
    config: ScoringConfig,
    rules: StageRules,
    estimator: str,
    tune: bool,
    stats: dict | None = None,
):
    """The engine as of `cutoff`: the survival stage models when the brand has `min_stage_events` repeat
    purchases, else the classic model (enough repeat buyers) or the pooled Kaplan-Meier curve. Returns
    (engine, gap rows, what was fitted)."""
    stats = stats or selectors.history_stats(brand=brand, cutoff=cutoff)
    per_mille = sample_per_mille(stats["purchases"], config.fit_sample_rows)
    gaps = selectors.gap_frame(
        brand=brand, cutoff=cutoff, sample_per_mille=per_mille, seed=config.random_seed
    )
    info = {"purchases": stats["purchases"], "sample_per_mille": per_mille, "gap_rows": len(gaps)}
    events = int(gaps["event"].sum()) if len(gaps) else 0
    needed = max(config.min_stage_events, EVENTS_PER_FEATURE * len(FEATURE_NAMES))
    if (
        estimator != "kaplan_meier"
        and events < needed
        and stats["repeat_buyers"] >= MIN_CLASSIC_REPEAT_BUYERS
    ):
        history = selectors.classic_frame(brand=brand, cutoff=cutoff)
        try:
            engine = fit_classic(history, rules, amounts_known=stats["amounts_known"])
        except ValueError:
            engine = None  # the likelihood could not be maximised: the pooled Kaplan-Meier curve below
        if engine is not None:
            engine.params = engine.describe()
            return engine, gaps, {**info, "engine": "classic"}
    engine = fit_engine(
        gaps,
        FEATURE_NAMES if estimator != "kaplan_meier" else [],
        rules,
        estimator=estimator,
        tune_params=tune,
        min_events=config.min_stage_events,
        seed=config.random_seed,
    )
    if stats["amounts_known"]:
        engine.spend, info["spend_fitted_buyers"] = spend_fit_at(
            brand=brand, cutoff=cutoff, seed=config.random_seed
        )
    return engine, gaps, {**info, "engine": "survival"}


def spend_fit_at(*, brand, cutoff, seed: int = 0) -> tuple[GammaGamma | None, int]:
    """The value of a future order as of `cutoff`: Gamma-Gamma over the buyers' orders (the customer's own
    mean spend shrunk toward the brand's by how many orders it rests on), fitted on every buyer or a sample of
    CLASSIC_FIT_CUSTOMERS of them (drawn with `seed`), and how many buyers it was fitted on; None when it
    cannot be fitted."""
    history = selectors.classic_frame(brand=brand, cutoff=cutoff)
    if len(history) > CLASSIC_FIT_CUSTOMERS:
        history = history.sample(n=CLASSIC_FIT_CUSTOMERS, random_state=seed)
    try:
        spend = fit_gamma_gamma(history["x"].to_numpy(float) + 1.0, history["mean_spend"].to_numpy(float))
    except ValueError:
        spend = None
    return spend, len(history)


def fit_classic_at(
    *, brand, cutoff, rules: StageRules, amounts_known: bool, seed: int = 0, info: dict | None = None
) -> ClassicEngine:
    """The classic BG/NBD + Gamma-Gamma model as of `cutoff` (the baseline; raises ValueError when nobody
    bought twice), fitted on every buyer or a sample of CLASSIC_FIT_CUSTOMERS of them (drawn with `seed`);
    `info` receives how many buyers it was fitted on, of how many."""
    history = selectors.classic_frame(brand=brand, cutoff=cutoff)
    buyers = len(history)
    if buyers > CLASSIC_FIT_CUSTOMERS:
        history = history.sample(n=CLASSIC_FIT_CUSTOMERS, random_state=seed)
    if info is not None:
        info.update({"fitted_buyers": len(history), "buyers": buyers})
    return fit_classic(history, rules, amounts_known=amounts_known)


def predict_frame(
    engine: Engine | ClassicEngine,
    customers: pd.DataFrame,
    config: ScoringConfig,
    horizon: int,
    *,
    horizon_only: bool = False,
    amounts_known: bool = True,
    calibration: Recalibration | None = None,
    advance_covariates: bool = True,
) -> pd.DataFrame:
    """Predictions for `customers` (with the classic columns x, t_x, T and mean_spend for a classic engine).
    `horizon_only` (evaluation) skips the lifetime renewal: everything judged (probabilities, curve, revenue
    within the horizon) is the same, but CLV then covers the horizon only. Without amounts, expected revenue
    and CLV are NaN (unknown), never 0."""
    finish = predict_frame_prepare(
        engine,
        customers,
        config,
        horizon,
        horizon_only=horizon_only,
        amounts_known=amounts_known,
        renewal_held=not advance_covariates,
    )
    return finish(calibration=calibration, advance_covariates=advance_covariates)


def predict_frame_prepare(
    engine: Engine | ClassicEngine,
    customers: pd.DataFrame,
    config: ScoringConfig,
    horizon: int,
    *,
    horizon_only: bool = False,
    amounts_known: bool = True,
    renewal_held: bool = True,
) -> Callable[..., pd.DataFrame]:
    """predict_frame in two steps: what does not depend on the recalibration now (for the survival engine,
    nearly all the work; with `renewal_held`, the renewal with the covariates held too), and a function
    finish(calibration=, advance_covariates=) that returns predict_frame's frame. A refresh's chunks prepare
    while the refresh process is still learning the recalibration on held-out time."""
    lifetime = horizon if horizon_only else config.lifetime_days
    if isinstance(engine, ClassicEngine):

        def classic_finish(*, calibration: Recalibration | None = None, advance_covariates: bool = True):
            return classic_predict(
                engine,
                customers,
                horizon_days=horizon,
                lifetime_days=lifetime,
                margin=float(config.gross_margin),
                annual_discount_rate=float(config.annual_discount_rate),
                grid_days=GRID_DAYS,
                bin_days=RENEWAL_BIN_DAYS,
                amounts_known=amounts_known,
                calibration=calibration,
            )

        return classic_finish
    prepared = predict_prepare(
        engine,
        customers,
        horizon_days=horizon,
        lifetime_days=lifetime,
        margin=float(config.gross_margin),
        annual_discount_rate=float(config.annual_discount_rate),
        bin_days=RENEWAL_BIN_DAYS,
        renewal_held=renewal_held,
    )

    def finish(*, calibration: Recalibration | None = None, advance_covariates: bool = True) -> pd.DataFrame:
        pred = predict_finish(prepared, calibration=calibration, advance_covariates=advance_covariates)
        if not amounts_known:
            pred["expected_revenue_horizon"] = np.nan
            pred["clv"] = np.nan
        return pred

    return finish


def needs_classic_history(engine) -> bool:
    return isinstance(engine, ClassicEngine)


def run_start(run: ModelRun, progress: Callable[[str], None] | None = None):
    config = scoring_config_get(brand=run.brand)
    run.status, run.started_at = RunStatus.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at", "updated_at"])
    return config, stage_rules_for(config), Clock(progress)


def history_check(run: ModelRun) -> dict | None:
    """The brand's history up to the run's cutoff (selectors.history_stats), recorded on the run; None after
    marking the run SKIPPED with the reason when there is too little to score anything."""
    stats = selectors.history_stats(brand=run.brand, cutoff=run.cutoff)
    run.data_sufficiency = {**(run.data_sufficiency or {}), "history": stats}
    values = {"as_of": run.as_of, "n": stats["buyers"], "min": MIN_BUYERS}
    if stats["purchases"] == 0:
        message = _("No paid purchase up to %(as_of)s: there is nothing to score yet.") % values
    elif stats["repeat_purchases"] == 0:
        message = (
            _(
                "Nobody has bought twice up to %(as_of)s (%(n)d buyers): no model of buying again can be "
                "fitted yet."
            )
            % values
        )
    elif stats["buyers"] < MIN_BUYERS:
        message = (
            ngettext(
                "Only %(n)d buyer up to %(as_of)s; at least %(min)d are needed.",
                "Only %(n)d buyers up to %(as_of)s; at least %(min)d are needed.",
                stats["buyers"],
            )
            % values
        )
    else:
        return stats
    run.status = RunStatus.SKIPPED
    run.message = message
    return None


def run_failed(run: ModelRun, exc: Exception) -> None:
    logger.exception("model run %s failed", run.pk)
    run.status = RunStatus.FAILED
    run.message = f"{type(exc).__name__}: {exc}"[:2000]
    CustomerScore.objects.filter(run=run).delete()


def config_snapshot(config: ScoringConfig) -> dict:
    fields = [
        f.name
        for f in ScoringConfig._meta.concrete_fields
        if f.name not in ("id", "brand", "created_at", "updated_at")
    ]
    return {name: str(getattr(config, name)) for name in fields}
