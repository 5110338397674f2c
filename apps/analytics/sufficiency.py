"""What a run could fit and judge with the data it had, in words staff read: one check per part (the history,
the engine, each stage's model, the holdout, each baseline, the recalibration, the amounts), each with its
outcome and why. Built from what the run stored, so the admin's run page and the API say the same.

The minimums (docs/engine.md): a run needs runs.MIN_BUYERS buyers and a repeat purchase; a stage's own model
`min_stage_events` repeat purchases in that stage (the brand's setting), the survival engine as many in all,
else the classic model (runs.MIN_CLASSIC_REPEAT_BUYERS repeat buyers) or the pooled Kaplan-Meier curve; the
holdout evaluation.MIN_FIT_BUYERS buyers and MIN_FIT_REPEAT_PURCHASES repeat purchases before its window, which
is shortened down to evaluation.HOLDOUT_FLOOR_DAYS when history is short.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from apps.analytics.evaluation import BASELINES, HOLDOUT_FLOOR_DAYS, MIN_FIT_BUYERS, reason_text
from apps.analytics.features import FEATURE_NAMES
from apps.analytics.models import RunStatus
from apps.analytics.runs import EVENTS_PER_FEATURE, MIN_BUYERS, MIN_CLASSIC_REPEAT_BUYERS
from apps.analytics.selectors import STAGE_ORDER

# outcome codes, for the API
FITTED, FALLBACK, JUDGED, SHORTENED, NOT_JUDGED, SKIPPED, UNKNOWN = (
    "fitted",
    "fallback",
    "judged",
    "shortened",
    "not_judged",
    "skipped",
    "unknown",
)


@dataclass
class Check:
    part: str  # history, engine, stage:<stage>, holdout, baseline:<name>, recalibration, amounts
    label: str
    outcome: str
    message: str


def _stage_label(stage: str) -> str:
    from apps.analytics.models import Stage

    try:
        return str(Stage(stage).label)
    except ValueError:
        return stage


def _baseline_label(key: str) -> str:
    return {
        "kaplan_meier_by_stage": _("Baseline: Kaplan–Meier by stage"),
        "naive_rfm": _("Baseline: naive RFM"),
        "classic": _("Baseline: classic BG/NBD + Gamma-Gamma"),
    }.get(key, key)


def sufficiency_checks(run) -> list[Check]:
    """The checks of a run (refresh or backtest), from its stored fields."""
    data = run.data_sufficiency or {}
    params = run.params or {}
    metrics = run.metrics or {}
    history = data.get("history") or {}
    minimum = (run.settings_snapshot or {}).get("min_stage_events", "50")
    checks: list[Check] = []
    if history:
        enough = run.status != RunStatus.SKIPPED
        checks.append(
            Check(
                "history",
                _("History up to the as-of date"),
                FITTED if enough else SKIPPED,
                _(
                    "%(buyers)s buyers, %(repeats)s repeat purchases by %(repeat_buyers)s customers, %(days)s days "
                    "of history (at least %(min)s buyers and one repeat purchase are needed)."
                )
                % {
                    "buyers": history.get("buyers", 0),
                    "repeats": history.get("repeat_purchases", 0),
                    "repeat_buyers": history.get("repeat_buyers", 0),
                    "days": history.get("history_days", 0),
                    "min": MIN_BUYERS,
                }
                + ("" if enough else " " + (run.message or "")),
            )
        )
    if run.status == RunStatus.SKIPPED:
        return checks
    engine = params.get("engine") or metrics.get("fit", {}).get("engine")
    if engine == "classic":
        checks.append(
            Check(
                "engine",
                _("Engine"),
                FALLBACK,
                _(
                    "The classic BG/NBD + Gamma-Gamma model: fewer than %(min)s repeat purchases for the survival "
                    "models (it needs at least %(classic)s repeat buyers)."
                )
                % {
                    "min": max(int(minimum), EVENTS_PER_FEATURE * len(FEATURE_NAMES)),
                    "classic": MIN_CLASSIC_REPEAT_BUYERS,
                },
            )
        )
    elif engine == "survival":
        checks.append(
            Check(
                "engine",
                _("Engine"),
                FITTED,
                _("Survival models per lifecycle stage (%(estimator)s).")
                % {"estimator": params.get("estimator", run.estimator)},
            )
        )
    for stage in STAGE_ORDER:
        entry = data.get(stage)
        if not isinstance(entry, dict):
            continue
        kind = entry.get("model", "")
        own = kind not in ("pooled", "kaplan_meier")
        checks.append(
            Check(
                f"stage:{stage}",
                _stage_label(stage),
                FITTED if own else FALLBACK,
                (
                    _("Its own model: %(events)s repeat purchases (at least %(min)s needed).")
                    if own
                    else _(
                        "%(events)s repeat purchases (at least %(min)s needed for its own model): %(model)s."
                    )
                )
                % {
                    "events": entry.get("events", 0),
                    "min": minimum,
                    "model": _("the pooled model of all stages")
                    if kind == "pooled"
                    else _("the Kaplan–Meier curve, without covariates"),
                },
            )
        )
    holdout = metrics.get("holdout")
    if run.kind == "refresh" and isinstance(holdout, dict):
        status = holdout.get("status")
        values = {
            "window": holdout.get("window_days"),
            "wanted": holdout.get("wanted_days"),
            "horizon": holdout.get("judged_horizon_days"),
            "floor": HOLDOUT_FLOOR_DAYS,
            "buyers": MIN_FIT_BUYERS,
        }
        if status == "full":
            outcome, message = (
                JUDGED,
                _("Judged on the last %(window)s days (next %(horizon)s days).") % values,
            )
        elif status == "shortened":
            outcome, message = (
                SHORTENED,
                _(
                    "Judged on the last %(window)s days instead of %(wanted)s (next %(horizon)s days): too little "
                    "history before a longer window."
                )
                % values,
            )
        else:
            outcome, message = (
                NOT_JUDGED,
                _(
                    "Not judged: even a %(floor)s-day window leaves too little history before it to fit "
                    "(at least %(buyers)s buyers). The scores are published without a holdout."
                )
                % values,
            )
        checks.append(Check("holdout", _("Holdout on held-out time"), outcome, message))
    overall = metrics.get("overall") or {}
    for key in BASELINES:
        figures = overall.get(key)
        if not isinstance(figures, dict):
            continue
        if figures.get("available") is False:
            checks.append(
                Check(f"baseline:{key}", _baseline_label(key), NOT_JUDGED, reason_text(figures["reason"]))
            )
        else:
            checks.append(
                Check(f"baseline:{key}", _baseline_label(key), JUDGED, _("Judged beside the model."))
            )
    if run.kind == "refresh" and "calibration" in params:
        if params.get("calibration"):
            checks.append(
                Check(
                    "recalibration",
                    _("Recalibration"),
                    FITTED,
                    _("The chances of buying are corrected by what the holdout showed (hazard factor %(f)s).")
                    % {"f": round(2.718281828 ** params["calibration"].get("a", 0.0), 3)},
                )
            )
        else:
            checks.append(
                Check(
                    "recalibration",
                    _("Recalibration"),
                    NOT_JUDGED,
                    _("Not applied: %(reason)s.")
                    % {"reason": reason_text(params.get("calibration_reason") or "")},
                )
            )
    amounts = params.get("amounts_known", metrics.get("amounts_known"))
    if amounts is False:
        checks.append(
            Check(
                "amounts",
                _("Amounts"),
                UNKNOWN,
                _(
                    "The purchase log has no amounts: revenue, spend and CLV are unknown, purchases are predicted."
                ),
            )
        )
    return checks
