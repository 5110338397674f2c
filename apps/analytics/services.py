"""Writes for the engine: run a refresh, write its scores aside, publish them in one transaction.

    scores_refresh(brand=…, as_of=…)          lock → run → holdout metrics → final fit → scores → publish
    model_run_publish(run=…)                  the pointer flip readers see, with stage and tier history
    backtest_run(brand=…, as_of=…, …)         the model beside the baselines on what happened next

The command, the Celery task, the admin and the API all call these. Shared plumbing lives in runs.py,
evaluation in evaluation.py, publishing in publishing.py.
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics import selectors
from apps.analytics.evaluation import adoptable, backtest_run, holdout_metrics
from apps.analytics.models import CustomerScore, ModelRun, RunKind, RunStatus, ScoringConfig
from apps.analytics.prospects import prospects_score
from apps.analytics.publishing import model_run_publish
from apps.analytics.runs import (
    LOCK_NAMESPACE,
    Clock,
    RefreshSkipped,
    brand_refresh_lock,
    config_snapshot,
    fit_at,
    history_check,
    needs_classic_history,
    predict_frame_prepare,
    run_failed,
    run_start,
    scoring_config_get,
    stage_rules_for,
)
from apps.analytics.signals import scores_ready
from apps.analytics.staging import (
    scores_stage_create,
    scores_stage_drop,
    scores_stage_move,
    scores_stage_write,
    stage_run_ids,
)
from apps.analytics.survival.calibration import Recalibration
from apps.analytics.survival.engine import Engine, top_covariates
from apps.analytics.survival.rfm import rfm_cuts, rfm_scores_with_cuts, rfm_segment
from apps.analytics.survival.scoring import GRID_DAYS
from apps.analytics.survival.stages import StageRules, assign_stage
from apps.core.bulk import timestamp_texts

CALIBRATION_WAIT_SECONDS = 3600  # a chunk waits this long at most for its run's recalibration


# Starts scoring the id ranges of a run elsewhere and returns at once; calling what it returns waits for the
# chunks and gives (customers scored, seconds per phase summed over the chunks).
def chunk_parts_sum(parts: list[dict]) -> tuple[int, dict[str, float]]:
    """What a ChunkScorer's wait returns from its chunks' results ({"scored": n, "timings": {phase: s}}): the
    customers scored in all, and each phase's seconds summed over the chunks."""
    timings: dict[str, float] = {}
    for part in parts:
        for phase, seconds in part["timings"].items():
            timings[phase] = timings.get(phase, 0.0) + seconds
    return sum(part["scored"] for part in parts), timings


ChunkScorer = Callable[[ModelRun, list[tuple[int, int]]], Callable[[], tuple[int, dict[str, float]]]]

__all__ = [
    "LOCK_NAMESPACE",
    "RefreshSkipped",
    "backtest_run",
    "model_run_execute",
    "model_run_fit",
    "model_run_publish",
    "score_chunk",
    "scores_chunk_write",
    "scores_refresh",
    "scoring_config_get",
    "stage_rules_for",
]


def _top_covariates_json(engine: Engine, customers: pd.DataFrame, stage: np.ndarray) -> list[str]:
    """Each customer's strongest covariates under their stage's model, as JSON [[feature index, value], …]
    (CustomerScore.top_covariates): what their hazard factors are read from, as scored."""
    index, value, _log_ratio = top_covariates(engine, customers, stage)
    if not index.size:
        return ["[]"] * len(customers)
    pairs = np.char.add(
        np.char.add(np.char.add("[", index.astype("U4")), ","),
        np.char.add(np.round(value, 6).astype("U16"), "]"),
    )
    pairs = np.where(index >= 0, pairs, "")
    return ["[" + ",".join(p for p in row if p) + "]" for row in pairs.tolist()]


JSON_SLICE_ROWS = 50_000


def _score_rows(
    run: ModelRun, customers: pd.DataFrame, pred: pd.DataFrame, rules: StageRules, engine: Engine
):
    stage, rule = assign_stage(
        customers["k"], customers["elapsed_days"], pred["rhythm_days"], pred["churn_probability"], rules
    )
    r, f, m = rfm_scores_with_cuts(
        customers["elapsed_days"], customers["k"], customers["cum_amount"], run.params["rfm_cuts"]
    )
    segment = rfm_segment(r, f, m)
    curves = np.vstack(pred["survival_curve"].to_numpy()) if len(pred) else np.zeros((0, len(GRID_DAYS)))
    # JSON arrays of the curve, formatted by numpy (shortest text of each value rounded to 5 decimals), and of
    # the top covariates, a slice of customers at a time: a refresh's chunk of half a million customers peaked
    # 0.5 GB higher formatting them all at once
    curve_json = []
    for start in range(0, len(curves), JSON_SLICE_ROWS):
        texts = np.round(curves[start : start + JSON_SLICE_ROWS], 5).astype("U12").tolist()
        curve_json += ["[" + ",".join(row) + "]" for row in texts]
    covariates_json = []
    for start in range(0, len(customers), JSON_SLICE_ROWS):
        rows = slice(start, start + JSON_SLICE_ROWS)
        covariates_json += _top_covariates_json(engine, customers.iloc[rows], stage[rows])
    now = timestamp_texts(np.array([np.datetime64(timezone.now().replace(tzinfo=None), "us")]))[0]
    frame = pd.DataFrame(
        {
            "brand_id": run.brand_id,
            "run_id": run.pk,
            "customer_id": customers["customer_id"].to_numpy(),
            "stage": stage,
            "stage_rule": rule,
            "rhythm_days": np.round(pred["rhythm_days"].to_numpy(float), 3),
            "rfm_recency": r,
            "rfm_frequency": f,
            "rfm_monetary": m,
            "rfm_segment": segment,
            "orders_count": customers["k"].to_numpy(),
            # spend is unknown, not 0, when the brand's purchase log has no amounts
            "monetary_total": np.round(customers["cum_amount"].to_numpy(float), 2)
            if run.params.get("amounts_known", True)
            else np.nan,
            "last_purchase_at": timestamp_texts(
                np.rint(customers["t"].to_numpy(float) * 1e6).astype("int64").astype("datetime64[us]"),
                unit="us",
            ),
            "days_since_last_purchase": np.round(customers["elapsed_days"].to_numpy(float), 3),
            "p_purchase_horizon": np.round(pred["p_purchase_horizon"].to_numpy(float), 6),
            "churn_probability": np.round(pred["churn_probability"].to_numpy(float), 6),
            "expected_revenue_horizon": np.round(pred["expected_revenue_horizon"].to_numpy(float), 2),
            "clv": np.round(pred["clv"].to_numpy(float), 2),
            "median_days_to_next_purchase": pred["median_days_to_next_purchase"].to_numpy(float),
            "survival_curve": curve_json,
            "top_covariates": covariates_json,
            "created_at": now,
            "updated_at": now,
        }
    )
    return frame


def model_run_fit(
    *, run: ModelRun, config: ScoringConfig, rules: StageRules, clock: Clock, stats: dict
) -> Engine:
    """Fit the engine as of the run's cutoff (runs.fit_at: the survival stage models, or the classic model for a
    thin brand) and record what was fitted on the run (and the pickled engine, so scoring can be split across
    workers)."""
    with clock.phase("fit"):
        engine, _gaps, info = fit_at(
            brand=run.brand,
            cutoff=run.cutoff,
            config=config,
            rules=rules,
            estimator=run.estimator,
            tune=config.tune_hyperparameters,
            stats=stats,
        )
    with clock.phase("rfm"):
        # RFM quintiles are brand-wide: cut points from every buyer, so chunks score like one process
        values = selectors.rfm_values(brand=run.brand, cutoff=run.cutoff)
        cuts = rfm_cuts(values["recency_days"], values["frequency"], values["monetary"])
    run.params = {
        "estimator": engine.estimator,
        "hyperparameters": engine.params,
        "tuning": engine.tuning,
        "brand_rhythm_days": round(engine.brand_rhythm, 3),
        "features": engine.features,
        "seed": config.random_seed,
        "rfm_cuts": cuts,
        "amounts_known": stats["amounts_known"],
        **info,
    }
    run.data_sufficiency = {**engine.sufficiency(), "history": stats}
    run.stage_models = engine.hazard_ratios()
    run.engine = pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL)
    return engine


def calibration_adopt(run: ModelRun) -> None:
    """Score with the recalibration the holdout learned when evaluation.adoptable accepts it
    (run.params["calibration"]); else the raw predictions, and the run says why (calibration_reason)."""
    metrics = run.metrics or {}
    learned = metrics.get("calibration") or {
        "reason": metrics.get("holdout", {}).get("reason") or "not_computable"
    }
    refused = adoptable(learned, horizon=run.horizon_days)
    run.params = {**run.params, "renewal_covariates": metrics.get("renewal", "held")}
    if refused is None:
        run.params = {**run.params, "calibration": {k: v for k, v in learned.items() if k != "report"}}
    else:
        run.params = {**run.params, "calibration": None, "calibration_reason": refused}


def run_engine(run: ModelRun) -> Engine:
    if not run.engine:
        raise ValueError(f"run {run.pk} has no fitted engine")
    return pickle.loads(bytes(run.engine))  # noqa: S301 - our own pickle, written by model_run_fit


def scores_chunk_write(
    *,
    run: ModelRun,
    engine: Engine,
    config: ScoringConfig,
    rules: StageRules,
    customer_ids: tuple[int, int] | None = None,
    clock: Clock | None = None,
    before_predict: Callable[[], None] | None = None,
) -> int:
    """Score the buyers in one id range (all when None) and stage their rows for the run (staging.py; the
    run's staging table must exist). Idempotent: the range's earlier rows for this run are replaced. `before_predict` runs between the features and the
    predictions (a chunk on a worker waits there for the run's recalibration)."""
    clock = clock or Clock()
    with clock.phase("features: customers"):
        customers = selectors.customer_frame(brand=run.brand, cutoff=run.cutoff, customer_ids=customer_ids)
        if needs_classic_history(engine):
            history = selectors.classic_frame(brand=run.brand, cutoff=run.cutoff, customer_ids=customer_ids)
            customers = customers.merge(history, on="customer_id", how="left")
    # most of the prediction does not depend on what the holdout learns (a chunk on a worker does it while the
    # holdout is still learning): the survival along each customer's stage path, and the renewal when its
    # covariates are held. Before the holdout has chosen, the brand's last published choice is taken; the
    # result is the same either way, a wrong guess only computes the renewal again after the wait.
    renewal = run.params.get("renewal_covariates") or _renewal_last_chosen(run)
    with clock.phase("survival paths"):
        finish = predict_frame_prepare(
            engine,
            customers,
            config,
            run.horizon_days,
            amounts_known=run.params.get("amounts_known", True),
            renewal_held=renewal == "held",
        )
    if before_predict is not None:
        with clock.phase("wait for the recalibration"):
            before_predict()
    with clock.phase("predict"):
        pred = finish(
            calibration=Recalibration.from_dict(run.params.get("calibration")),
            advance_covariates=run.params.get("renewal_covariates", "held") == "advanced",
        )
        del finish  # what it prepared, before the rows are formatted
    with clock.phase("write scores"):
        rows = _score_rows(run, customers, pred, rules, engine)
        del customers, pred
        return scores_stage_write(run, rows, customer_ids)


def _renewal_last_chosen(run: ModelRun) -> str:
    """The renewal's covariates ("held" or "advanced") the brand's published run was scored with ("held" before
    the first publish): the likely choice of this run's holdout."""
    chosen = (
        ModelRun.objects.filter(brand_id=run.brand_id)
        .published()
        .values_list("params__renewal_covariates", flat=True)
        .first()
    )
    return chosen if chosen in ("held", "advanced") else "held"


def model_run_execute(*, run: ModelRun, progress: Callable[[str], None] | None = None) -> ModelRun:
    """Fit, judge on held-out time, score every customer with a paid purchase, write the scores under the
    run (not yet visible). Leaves the run SUCCEEDED, SKIPPED (too little data) or FAILED in memory; a
    refresh's SUCCEEDED is stored as RUNNING until its publish commits (see _run_save)."""
    config, rules, clock = run_start(run, progress)
    try:
        with selectors.reads_memo():  # the history and classic frames read once
            with contextlib.ExitStack() as window:
                with clock.phase("purchase window"):
                    window.enter_context(selectors.purchase_window(brand=run.brand, cutoff=run.cutoff))
                stats = history_check(run)  # from the window: one scan of it
                if stats is None:
                    return run
                run.metrics = holdout_metrics(
                    brand=run.brand, run=run, config=config, rules=rules, clock=clock
                )
                engine = model_run_fit(run=run, config=config, rules=rules, clock=clock, stats=stats)
                calibration_adopt(run)
                scores_stage_create(run)
                scores_chunk_write(run=run, engine=engine, config=config, rules=rules, clock=clock)
            with clock.phase("tiers and percentiles, scores written"):
                run.customers_scored = scores_stage_move(run)
            run.status = RunStatus.SUCCEEDED
            return run
    except Exception as exc:
        _stage_drop_quietly(run)
        run_failed(run, exc)
        raise
    finally:
        run.timings = {**run.timings, **clock.timings}
        run.finished_at = timezone.now()
        _run_save(run)


def _run_save(run: ModelRun) -> None:
    """Save the run; a scored refresh stays RUNNING in the database until model_run_publish commits it as
    PUBLISHED, so a process killed between scoring and publishing never leaves a run that looks succeeded
    (the next refresh closes it as interrupted and removes its rows)."""
    status = run.status
    if status == RunStatus.SUCCEEDED and run.kind == RunKind.REFRESH:
        run.status = RunStatus.RUNNING
    try:
        run.save()
    finally:
        run.status = status


def scores_refresh(
    *,
    brand,
    as_of: date | None = None,
    horizon_days: int | None = None,
    estimator: str | None = None,
    triggered_by: str = "",
    chunks: int = 1,
    score_chunks: ChunkScorer | None = None,
    progress: Callable[[str], None] | None = None,
    queued: ModelRun | None = None,
) -> ModelRun:
    """The whole refresh for one brand: lock, fit, judge, score, publish. Raises RefreshSkipped when another
    refresh of the brand holds its lock (a `queued` run is then marked SKIPPED with the reason).

    `queued` is the PENDING run that scores_refresh_request created when staff or an app asked (so they had
    its id at once and can follow its progress); without it a new run is created here. The step the run is at
    is kept in run.phase as it goes.

    With `score_chunks` (given by the Celery task when a broker is configured) the buyers are split into
    `chunks` id ranges scored elsewhere (e.g. by a group of worker tasks, each loading the run's pickled
    engine); the lock is held until the scores are published, and the result equals one process's.
    """
    config = scoring_config_get(brand=brand)
    as_of = as_of or timezone.now().astimezone(brand.tzinfo).date()
    try:
        with brand_refresh_lock(brand):
            run = _run_for_refresh(
                brand=brand,
                config=config,
                as_of=as_of,
                horizon_days=horizon_days,
                estimator=estimator,
                triggered_by=triggered_by,
                queued=queued,
            )
            try:
                progress = phase_recorder(run, progress)
                aside = None
                if score_chunks is None or chunks <= 1:
                    model_run_execute(run=run, progress=progress)
                else:
                    aside = _aside_start(run)
                    try:
                        _execute_distributed(
                            run=run, chunks=chunks, score_chunks=score_chunks, progress=progress
                        )
                    except BaseException:
                        with contextlib.suppress(Exception):
                            aside()  # the scoring's error is the one to tell
                        raise
                    aside_results = aside()
                if run.status == RunStatus.SUCCEEDED:
                    if aside is None:
                        _prospects_add(run, progress)
                        _recommendations_add(run, progress)
                    else:
                        _aside_record(run, aside_results)
                    activity_ahead = None
                    if aside is not None:  # committed: work on them may start beside the publish
                        from apps.analytics.snapshots import paid_activity_ahead

                        scores_ready.send(sender=ModelRun, run=run)
                        # the dashboard's longest part, on the core the publish leaves idle
                        activity_ahead = paid_activity_ahead(brand=run.brand)
                    progress("publish")
                    started = time.perf_counter()
                    model_run_publish(run=run)
                    published = time.perf_counter()
                    _statistics_refresh(run)
                    run.timings = {
                        **run.timings,
                        "publish": round(published - started, 3),
                        "planner statistics": round(time.perf_counter() - published, 3),
                    }
                    run.save(update_fields=["timings", "updated_at"])
                    _dashboard_snapshot(run, progress, activity_ahead)
            finally:
                ModelRun.objects.filter(pk=run.pk).update(phase="")
                run.phase = ""
    except RefreshSkipped as exc:
        if queued is not None:
            ModelRun.objects.filter(pk=queued.pk, status=RunStatus.PENDING).update(
                status=RunStatus.SKIPPED, message=str(exc), phase="", updated_at=timezone.now()
            )
        raise
    return run


def _dashboard_snapshot(run: ModelRun, progress, activity_ahead=None) -> None:
    """Compute the brand dashboard's snapshot for the run just published (after the statistics refresh, so
    its queries are planned on the new scores): the dashboard then opens at once. A failure leaves the
    refresh published; the dashboard computes the snapshot when first opened."""
    import logging

    from apps.analytics.snapshots import snapshot_refresh

    if progress is not None:
        progress("dashboard")
    started = time.perf_counter()
    try:
        snapshot = snapshot_refresh(run=run, activity_ahead=activity_ahead)
    except Exception:
        logging.getLogger(__name__).exception("dashboard snapshot of run %s failed", run.pk)
        return
    ahead = getattr(snapshot, "seconds_ahead", None)
    run.timings = {
        **run.timings,
        "dashboard snapshot": round(time.perf_counter() - started, 3)
        if ahead is not None
        else snapshot.seconds,
        **({"paid orders folded (beside the publish)": ahead} if ahead is not None else {}),
    }
    run.save(update_fields=["timings", "updated_at"])


def interrupted_runs_close(brand) -> int:
    """Under the brand's refresh lock: runs left RUNNING (or SUCCEEDED, by a version that stored it before
    publishing) by a killed process are FAILED as interrupted, and the score, prospect and recommendation rows
    of every refresh that never published are removed. Returns how many runs were closed."""
    from apps.analytics.models import CustomerRecommendation, ProspectScore

    refreshes = ModelRun.objects.filter(brand=brand, kind=RunKind.REFRESH)
    closed = refreshes.filter(status__in=[RunStatus.RUNNING, RunStatus.SUCCEEDED]).update(
        status=RunStatus.FAILED,
        message=_("Interrupted before it finished; its unpublished scores were removed."),
        phase="",
        updated_at=timezone.now(),
    )
    dead = refreshes.filter(status__in=[RunStatus.FAILED, RunStatus.SKIPPED]).values("pk")
    for model in (CustomerScore, ProspectScore, CustomerRecommendation):
        model.objects.filter(brand=brand, run_id__in=dead).delete()
    # staging tables a killed process left (a live refresh of the brand would hold the lock we hold)
    for run_id in (
        refreshes.filter(pk__in=stage_run_ids())
        .exclude(status=RunStatus.PENDING)
        .values_list("pk", flat=True)
    ):
        scores_stage_drop(run_id)
    return closed


def _run_for_refresh(*, brand, config, as_of, horizon_days, estimator, triggered_by, queued) -> ModelRun:
    """Under the brand's lock: close what killed processes left RUNNING, answer the other waiting requests,
    and return the run this refresh fills (the queued one, or a new one)."""
    now = timezone.now()
    interrupted_runs_close(brand)
    if queued is not None:
        queued.refresh_from_db()
        if queued.status != RunStatus.PENDING:
            raise RefreshSkipped(
                _("Run #%(id)s is no longer waiting (%(status)s): nothing to do.")
                % {"id": queued.pk, "status": queued.get_status_display()}
            )
    # other requests still waiting are answered by this refresh
    waiting = ModelRun.objects.filter(brand=brand, kind=RunKind.REFRESH, status=RunStatus.PENDING)
    if queued is not None:
        waiting = waiting.exclude(pk=queued.pk)
    waiting.update(
        status=RunStatus.SKIPPED,
        message=_("Answered by a later refresh of the brand."),
        phase="",
        updated_at=now,
    )
    fields = {
        "as_of": as_of,
        "cutoff": selectors.cutoff_for(brand, as_of),
        "horizon_days": horizon_days or config.horizon_days,
        "estimator": estimator or config.estimator,
        "settings_snapshot": config_snapshot(config),
    }
    if queued is None:
        return ModelRun.objects.create(
            brand=brand, kind=RunKind.REFRESH, triggered_by=triggered_by[:100], **fields
        )
    for name, value in fields.items():
        setattr(queued, name, value)
    queued.triggered_by = (triggered_by or queued.triggered_by)[:100]
    queued.save()
    return queued


def phase_recorder(run: ModelRun, then: Callable[[str], None] | None = None) -> Callable[[str], None]:
    """A progress callback that keeps the step a run is at in run.phase (one UPDATE when the step changes;
    outside any transaction, so the admin's run page sees it while the refresh goes on), then tells `then`."""
    last = [None]

    def on_phase(name: str) -> None:
        if name != last[0]:
            last[0] = run.phase = name[:60]
            ModelRun.objects.filter(pk=run.pk).update(phase=run.phase)
        if then is not None:
            then(name)

    return on_phase


def _statistics_refresh(run: ModelRun) -> None:
    """The refresh just wrote a score (and maybe a stage change, tier change and recommendation) per customer:
    the planner's statistics of those tables are stale until autovacuum gets to them, and every page that
    joins the published scores would plan for a nearly empty table meanwhile (at 1M customers the customer
    list took 9 s instead of 0.5 s). Refreshed here, where the rows were written; about 1.4 s at 1M.
    A brand of any size: autovacuum may be off or behind, and a 5,000-customer demo's dashboard took 69 s
    on the statistics of empty tables. ANALYZE of a small table costs milliseconds."""
    from apps.analytics.models import CustomerRecommendation, ProspectScore, StageChange
    from apps.core.bulk import analyze_written
    from apps.loyalty.models import BenefitGrant, TierChange

    models = (CustomerScore, ProspectScore, StageChange, CustomerRecommendation, TierChange, BenefitGrant)
    analyze_written([model._meta.db_table for model in models], run.customers_scored or 0)


def _aside_start(run: ModelRun) -> Callable[[], dict]:
    """Start the work that does not depend on the buyers' model (the prospects' propensity and the
    recommendations, both judged on held-out time) in a thread with its own database connection, and return
    what waits for it: {name: (metrics, seconds)}, or its error. While the refresh's processes fit, judge and
    score, it is mostly PostgreSQL's work (grouping the stream views), on a core the fit leaves idle. Only for
    a refresh that scores in chunks elsewhere: its run and data are committed, so another connection sees
    them."""
    from apps.analytics.recommendations import recommendations_compute
    from apps.core.threads import run_beside

    def work() -> dict:
        out = {}
        for name, compute in (
            ("prospects", prospects_score),
            ("recommendations", recommendations_compute),
        ):
            start = time.perf_counter()
            out[name] = (compute(run=run), round(time.perf_counter() - start, 3))
        return out

    return run_beside(work, name=f"refresh-{run.pk}-aside")


def _aside_record(run: ModelRun, results: dict) -> None:
    """Put what _aside_start computed on the run, as _prospects_add and _recommendations_add do."""
    for name, (metrics, seconds) in results.items():
        run.metrics = {**run.metrics, name: metrics}
        run.timings = {**run.timings, f"{name} (beside the scoring)": seconds}
    run.save(update_fields=["metrics", "timings", "updated_at"])


def _prospects_add(run: ModelRun, progress) -> None:
    """Score the prospects (viewers who never bought) under the run, with their holdout metrics."""
    if progress is not None:
        progress("prospects")
    start = time.perf_counter()
    metrics = prospects_score(run=run)
    run.metrics = {**run.metrics, "prospects": metrics}
    run.timings = {**run.timings, "prospects": round(time.perf_counter() - start, 3)}
    run.save(update_fields=["metrics", "timings", "updated_at"])


def _recommendations_add(run: ModelRun, progress) -> None:
    """Each buyer's products to offer under the run (co-purchase), judged on held-out time."""
    from apps.analytics.recommendations import recommendations_compute

    if progress is not None:
        progress("recommendations")
    start = time.perf_counter()
    metrics = recommendations_compute(run=run)
    run.metrics = {**run.metrics, "recommendations": metrics}
    run.timings = {**run.timings, "recommendations": round(time.perf_counter() - start, 3)}
    run.save(update_fields=["metrics", "timings", "updated_at"])


def scores_refresh_check(*, brand, as_of: date | None = None, horizon_days: int | None = None) -> None:
    """Refuse a refresh asked for with an as-of date in the future or a horizon outside 7–365 days
    (ValidationError naming the field). Called before a refresh is queued or run for staff or an app."""
    from django.core.exceptions import ValidationError

    today = timezone.now().astimezone(brand.tzinfo).date()
    if as_of is not None and as_of > today:
        raise ValidationError({"as_of": _("the date cannot be in the future.")})
    if horizon_days is not None and not 7 <= horizon_days <= 365:
        raise ValidationError({"horizon_days": _("between 7 and 365 days.")})


def _execute_distributed(
    *, run: ModelRun, chunks: int, score_chunks: ChunkScorer, progress: Callable[[str], None] | None = None
) -> None:
    """Fit, then score the chunks on the workers while this process judges the model on held-out time."""
    config, rules, clock = run_start(run, progress)
    pending = None
    try:
        with selectors.reads_memo():  # the history and classic frames read once
            with contextlib.ExitStack() as window:
                with clock.phase("purchase window"):
                    window.enter_context(selectors.purchase_window(brand=run.brand, cutoff=run.cutoff))
                stats = history_check(run)  # from the window: one scan of it
                if stats is None:
                    return
                model_run_fit(run=run, config=config, rules=rules, clock=clock, stats=stats)
                run.save()  # the chunk tasks load the pickled engine from the run
                ranges = selectors.customer_id_chunks(brand=run.brand, chunks=chunks)
                scores_stage_create(run)
                pending = score_chunks(run, ranges)
                run.metrics = holdout_metrics(
                    brand=run.brand, run=run, config=config, rules=rules, clock=clock
                )
                calibration_adopt(run)
                run.save(update_fields=["params", "updated_at"])  # the chunks wait for it before predicting
            with clock.phase("score chunks (after the holdout)"):
                staged, chunk_timings = pending()
            pending = None
            with clock.phase("tiers and percentiles, scores written"):
                # as many connections at once as there were chunks: the score table's indexes are the cost
                run.customers_scored = scores_stage_move(run, connections_at_once=len(ranges))
            if run.customers_scored != staged:
                raise RuntimeError(f"run {run.pk}: {staged} scores staged, {run.customers_scored} written")
            run.params = {
                **run.params,
                "chunks": len(ranges),
                # seconds per phase summed over the chunks (they ran in parallel with the holdout)
                "chunk_timings": {phase: round(seconds, 3) for phase, seconds in chunk_timings.items()},
            }
            run.status = RunStatus.SUCCEEDED
    except Exception as exc:
        if pending is not None:  # let the chunks finish before their run's rows are cleared
            with contextlib.suppress(Exception):
                pending()
        _stage_drop_quietly(run)
        run_failed(run, exc)
        raise
    finally:
        run.timings = {**run.timings, **clock.timings}
        run.finished_at = timezone.now()
        _run_save(run)


def _stage_drop_quietly(run: ModelRun) -> None:
    """Drop a failed run's staging tables; if that fails too, the next refresh of the brand drops them."""
    with contextlib.suppress(Exception):
        scores_stage_drop(run.pk)


def score_chunk(*, run_id: int, customer_ids: tuple[int, int]) -> tuple[int, dict[str, float]]:
    """Score one id range of a run from its pickled engine (what a worker does for a chunk); returns the
    customers scored and the seconds of each phase."""
    run = ModelRun.objects.select_related("brand").get(pk=run_id)
    config = scoring_config_get(brand=run.brand)
    clock = Clock()

    def recalibration_known() -> None:
        """The refresh process learns the recalibration from its holdout while the chunks read their features;
        wait until it is on the run (run.params["calibration"], None when there is none)."""
        deadline = time.monotonic() + CALIBRATION_WAIT_SECONDS
        while "calibration" not in run.params:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run.pk}: no recalibration after {CALIBRATION_WAIT_SECONDS} s")
            time.sleep(0.5)
            run.refresh_from_db(fields=["params", "status"])
            if run.status not in (RunStatus.RUNNING, RunStatus.PENDING):
                raise RuntimeError(f"run {run.pk} is {run.status}: its chunks stop")

    scored = scores_chunk_write(
        run=run,
        engine=run_engine(run),
        config=config,
        rules=stage_rules_for(config),
        customer_ids=customer_ids,
        clock=clock,
        before_predict=recalibration_known,
    )
    return scored, clock.timings
