"""Experiments: create and check them, assign customers when they start, deliver the treatment, and measure.

Assignment is deterministic: a customer's position is the BLAKE2b hash of the experiment code and their
external id, so it is the same across refreshes, re-imports and re-runs; the arms take consecutive slices of
[0, 1) by their traffic shares. Customers in the brand's follow-up holdout are never assigned. Covariates
are copied onto each assignment when the experiment starts (pre-period spend, and the product's prediction
from the scores published then), so the analysis never reads data from after the start.

The analysis is intent to treat: every assigned customer counts in their arm, exposed or not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from decimal import Decimal

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.models import CustomerScore, ModelRun, ProspectScore, RunStatus, Stage
from apps.audit.services import AuditAction, audit_record, snapshot, stored_snapshot
from apps.core.bulk import copy_frame, query_frame, timestamp_texts
from apps.customers.models import Customer
from apps.engagement import experiment_stats as es
from apps.engagement import guards, selectors
from apps.engagement.models import (
    ArmTreatment,
    Audience,
    ContactPolicy,
    Experiment,
    ExperimentArm,
    ExperimentAssignment,
    ExperimentPopulation,
    ExperimentStatus,
    Metric,
    Touch,
    Trigger,
)
from apps.orders.models import Order

EXPERIMENT_FIELDS = (
    "code",
    "name",
    "hypothesis",
    "population",
    "stages",
    "min_churn_probability",
    "max_churn_probability",
    "min_prospect_propensity",
    "segment",
    "starts_at",
    "ends_at",
    "primary_metric",
    "secondary_metrics",
    "window_days",
    "pre_period_days",
    "min_detectable_effect",
    "alpha",
)
ARM_FIELDS = ("code", "name", "is_control", "share", "treatment", "benefit", "rule")
SRM_ALPHA = 0.001
HOURS_72 = np.timedelta64(72 * 3600, "s")


def _bad(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


# --- definition -------------------------------------------------------------------------------------------


def experiment_check(experiment: Experiment, arms: list[ExperimentArm], tiers=()) -> None:
    """Every rule of a valid experiment, each failure naming its field."""
    if not (experiment.code or "").strip():
        raise _bad("code", _("Give the experiment a code."), "required")
    if not (experiment.name or "").strip():
        raise _bad("name", _("Give the experiment a name."), "required")
    if experiment.population not in ExperimentPopulation.values:
        raise _bad("population", _("Choose customers, prospects or everyone."))
    if not isinstance(experiment.stages, list) or any(s not in Stage.values for s in experiment.stages):
        raise _bad("stages", _("Stages are chosen from %(known)s.") % {"known": ", ".join(Stage.values)})
    for field in ("min_churn_probability", "max_churn_probability", "min_prospect_propensity"):
        value = getattr(experiment, field)
        if value is not None and not 0 <= value <= 1:
            raise _bad(field, _("A probability is between 0 and 1."))
    if experiment.starts_at is None or experiment.ends_at is None:
        raise _bad("ends_at", _("Give the experiment a start and an end."), "required")
    if experiment.ends_at <= experiment.starts_at:
        raise _bad("ends_at", _("The end must come after the start."))
    if experiment.primary_metric not in Metric.values:
        raise _bad("primary_metric", _("Choose one of %(known)s.") % {"known": ", ".join(Metric.values)})
    secondary = experiment.secondary_metrics
    if not isinstance(secondary, list) or any(m not in Metric.values for m in secondary):
        raise _bad("secondary_metrics", _("Choose from %(known)s.") % {"known": ", ".join(Metric.values)})
    if not 1 <= (experiment.window_days or 0) <= 365:
        raise _bad("window_days", _("The conversion window is 1 to 365 days."))
    if not 1 <= (experiment.pre_period_days or 0) <= 730:
        raise _bad("pre_period_days", _("The pre-period is 1 to 730 days."))
    if experiment.min_detectable_effect is None or experiment.min_detectable_effect <= 0:
        raise _bad("min_detectable_effect", _("The smallest effect worth detecting is above 0."))
    if experiment.alpha is None or not 0 < experiment.alpha < Decimal("0.5"):
        raise _bad("alpha", _("The significance level is between 0 and 0.5."))
    if any(t.brand_id != experiment.brand_id for t in tiers):
        raise _bad("tiers", _("Some tiers belong to another brand."))
    if experiment.segment_id is not None and experiment.segment.brand_id != experiment.brand_id:
        raise _bad("segment", _("The saved segment belongs to another brand."))
    if len(arms) < 2:
        raise _bad("arms", _("An experiment has a control and at least one variant."), "required")
    codes = [a.code for a in arms]
    if any(not (c or "").strip() for c in codes) or len(set(codes)) != len(codes):
        raise _bad("arms", _("Each arm has its own code."))
    if sum(1 for a in arms if a.is_control) != 1:
        raise _bad("arms", _("Exactly one arm is the control."))
    if sum(a.share or 0 for a in arms) != 100:
        raise _bad(
            "arms",
            _("The traffic shares add up to 100 (they add up to %(total)s).")
            % {"total": sum(a.share or 0 for a in arms)},
        )
    for arm in arms:
        if arm.is_control and arm.treatment != ArmTreatment.NOTHING:
            raise _bad("arms", _("The control arm %(arm)s receives nothing.") % {"arm": arm.code})
        if arm.treatment == ArmTreatment.BENEFIT:
            if arm.benefit is None or arm.rule is not None:
                raise _bad("arms", _("Arm %(arm)s grants a benefit: choose one.") % {"arm": arm.code})
            if arm.benefit.brand_id != experiment.brand_id or not arm.benefit.is_active:
                raise _bad(
                    "arms", _("Arm %(arm)s: the benefit is archived or not this brand's.") % {"arm": arm.code}
                )
        elif arm.treatment == ArmTreatment.RULE:
            if arm.rule is None or arm.benefit is not None:
                raise _bad("arms", _("Arm %(arm)s uses a follow-up rule: choose one.") % {"arm": arm.code})
            if arm.rule.brand_id != experiment.brand_id:
                raise _bad("arms", _("Arm %(arm)s: the rule is not this brand's.") % {"arm": arm.code})
            if arm.rule.trigger != Trigger.WIN_BACK and arm.rule.audience != Audience.EVERYONE:
                raise _bad(
                    "arms",
                    _(
                        "Arm %(arm)s: an experiment touches its customers when it starts, not after a stream; "
                        "choose a win-back rule or one whose audience is everyone."
                    )
                    % {"arm": arm.code},
                )
        elif arm.treatment == ArmTreatment.NOTHING:
            if arm.benefit is not None or arm.rule is not None:
                raise _bad(
                    "arms", _("Arm %(arm)s receives nothing: clear its benefit and rule.") % {"arm": arm.code}
                )
        else:
            raise _bad("arms", _("Arm %(arm)s: choose nothing, benefit or rule.") % {"arm": arm.code})


@transaction.atomic
def experiment_create(*, brand, arms: list[dict], tiers=None, actor=None, **values) -> Experiment:
    """A draft experiment with its arms (dicts of ARM_FIELDS). Every value is checked with a message naming
    it; nothing is written when one fails."""
    unknown = set(values) - set(EXPERIMENT_FIELDS)
    if unknown:
        raise TypeError(f"not editable here: {', '.join(sorted(unknown))}")
    experiment = Experiment(brand=brand, **values)
    arm_rows = []
    for spec in arms:
        bad = set(spec) - set(ARM_FIELDS)
        if bad:
            raise TypeError(f"not an arm field: {', '.join(sorted(bad))}")
        arm_rows.append(ExperimentArm(brand=brand, **spec))
    tiers = list(tiers or [])
    experiment_check(experiment, arm_rows, tiers)
    if Experiment.objects.filter(brand=brand, code=experiment.code).exists():
        raise _bad("code", _("The brand already has an experiment with this code."), "unique")
    experiment.full_clean(validate_unique=False, validate_constraints=False)
    experiment.save()
    experiment.tiers.set(tiers)
    for arm in arm_rows:
        arm.experiment = experiment
        arm.name = arm.name or arm.code
    ExperimentArm.objects.bulk_create(arm_rows)
    audit_record(
        actor=actor, action=AuditAction.CREATED, obj=experiment, before=None, after=snapshot(experiment)
    )
    return experiment


# --- assignment -------------------------------------------------------------------------------------------


def hash_positions(code: str, external_ids) -> np.ndarray:
    """Each customer's stable position in [0, 1) for this experiment: BLAKE2b of the code and external id."""
    key = code.encode()
    out = np.empty(len(external_ids), dtype=np.float64)
    for i, external_id in enumerate(external_ids):
        digest = hashlib.blake2b(str(external_id).encode(), digest_size=8, key=key[:64]).digest()
        out[i] = (int.from_bytes(digest, "big") >> 11) / float(1 << 53)
    return out


def arm_indexes(positions: np.ndarray, shares: list[int]) -> np.ndarray:
    """The arm each position falls in: arms take consecutive slices of [0, 1) by their shares (percent)."""
    edges = np.cumsum(np.asarray(shares, dtype=float)) / 100.0
    return np.minimum(np.searchsorted(edges, positions, side="right"), len(shares) - 1)


def segment_frame(*, experiment: Experiment, run: ModelRun | None, at: dt.datetime) -> pd.DataFrame:
    """The experiment's population at the start: customers with a score (and/or prospects with a prospect
    score) in `run`, kept by the segment's conditions and the saved segment it targets, if any. Erased
    customers and those who opted out of automated
    decisions (an assignment made from scores is one) are left out. Columns: customer_id, external_id, predicted_revenue,
    p_purchase."""
    if run is None:
        return pd.DataFrame(columns=["customer_id", "external_id", "predicted_revenue", "p_purchase"])
    parts = []
    if experiment.population in (ExperimentPopulation.CUSTOMERS, ExperimentPopulation.EVERYONE):
        parts.append(
            f"""SELECT s.customer_id, s.expected_revenue_horizon::float8, s.p_purchase_horizon
                FROM {CustomerScore._meta.db_table} s WHERE s.brand_id = %(brand)s AND s.run_id = %(run)s"""
        )
    if experiment.population in (ExperimentPopulation.PROSPECTS, ExperimentPopulation.EVERYONE):
        parts.append(
            f"""SELECT p.customer_id, NULL::float8, p.propensity
                FROM {ProspectScore._meta.db_table} p WHERE p.brand_id = %(brand)s AND p.run_id = %(run)s"""
        )
    sql = f"""
        SELECT x.customer_id, c.external_id, x.predicted, x.p
        FROM ({" UNION ALL ".join(parts)}) AS x (customer_id, predicted, p)
        JOIN {Customer._meta.db_table} c ON c.brand_id = %(brand)s AND c.id = x.customer_id
        WHERE c.erased_at IS NULL AND NOT c.automated_decisions_opt_out
        ORDER BY x.customer_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"brand": experiment.brand_id, "run": run.pk})
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(
        rows, columns=["customer_id", "external_id", "predicted_revenue", "p_purchase"]
    )
    if frame.empty:
        return frame
    frame = frame.drop_duplicates("customer_id")
    conditions = (
        experiment.stages
        or experiment.segment_id is not None
        or experiment.min_churn_probability is not None
        or experiment.max_churn_probability is not None
        or experiment.min_prospect_propensity is not None
    )
    tier_ids = list(experiment.tiers.values_list("pk", flat=True)) if experiment.pk else []
    if conditions or tier_ids:
        from apps.engagement.planning import rule_mask, segment_members

        audience = selectors.customers_audience(
            brand=experiment.brand, customer_ids=frame["customer_id"].to_numpy(), at=at
        )
        members = segment_members(experiment, audience)
        keep = set(audience.loc[rule_mask(experiment, tier_ids, audience, members), "customer_id"].tolist())
        frame = frame[frame["customer_id"].isin(keep)]
    return frame.reset_index(drop=True)


def _pre_period(*, brand_id: int, customer_ids: np.ndarray, start: dt.datetime, days: int) -> pd.DataFrame:
    sql = f"""
        SELECT o.customer_id, COALESCE(SUM(o.total_amount), 0), COUNT(*)
        FROM {Order._meta.db_table} o
        WHERE o.brand_id = %s AND o.status = 'paid' AND o.placed_at >= %s AND o.placed_at < %s
          AND o.customer_id = ANY(%s::bigint[])
        GROUP BY o.customer_id
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [brand_id, start - dt.timedelta(days=days), start, selectors.id_array(customer_ids)]
        )
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=["customer_id", "pre_revenue", "pre_orders"])


@transaction.atomic
def experiment_start(*, experiment: Experiment, at: dt.datetime | None = None, actor=None) -> dict:
    """Assign the segment to arms and deliver the treatments: benefits granted now (exposure at the grant),
    follow-up touches planned with occasion `exp:<id>` (exposure when sent), nothing for the others
    (exposure at assignment). Returns counts per arm. A second call does nothing."""
    from apps.engagement.planning import occasion_plan
    from apps.loyalty.models import GrantSource
    from apps.loyalty.services import GRANT_BATCH_MAX, benefit_grant

    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status != ExperimentStatus.DRAFT:
        return {"started": False, "arms": {}}
    at = at or timezone.now()
    arms = list(experiment.arms.select_related("benefit", "rule").order_by("-is_control", "code"))
    experiment_check(experiment, arms, list(experiment.tiers.all()))
    run = ModelRun.objects.filter(brand_id=experiment.brand_id, status=RunStatus.PUBLISHED).first()
    frame = segment_frame(experiment=experiment, run=run, at=at)
    policy = ContactPolicy.objects.filter(brand_id=experiment.brand_id).first()
    if policy is not None and len(frame):
        held = guards.holdout_mask(
            frame["customer_id"].to_numpy(), policy.holdout_salt, float(policy.holdout_percent)
        )
        frame = frame[~held].reset_index(drop=True)
    counts = {arm.code: 0 for arm in arms}
    if len(frame):
        index = arm_indexes(
            hash_positions(experiment.code, frame["external_id"].tolist()), [a.share for a in arms]
        )
        frame["arm_id"] = [arms[i].pk for i in index]
        pre = _pre_period(
            brand_id=experiment.brand_id,
            customer_ids=frame["customer_id"].to_numpy(),
            start=experiment.starts_at,
            days=experiment.pre_period_days,
        )
        frame = frame.merge(pre, on="customer_id", how="left")
        frame["pre_revenue"] = frame["pre_revenue"].fillna(Decimal(0))
        frame["pre_orders"] = frame["pre_orders"].fillna(0).astype("int64")
        stamp = timestamp_texts(np.array([np.datetime64(at.astimezone(dt.UTC).replace(tzinfo=None), "ns")]))[
            0
        ]
        exposed_now = {a.pk for a in arms if a.treatment == ArmTreatment.NOTHING}
        rows = pd.DataFrame(
            {
                "created_at": stamp,
                "updated_at": stamp,
                "brand_id": experiment.brand_id,
                "experiment_id": experiment.pk,
                "arm_id": frame["arm_id"],
                "customer_id": frame["customer_id"],
                "assigned_at": stamp,
                "exposed_at": np.where(frame["arm_id"].isin(exposed_now), stamp, None),
                "pre_revenue": frame["pre_revenue"],
                "pre_orders": frame["pre_orders"],
                "predicted_revenue": frame["predicted_revenue"],
                "p_purchase": frame["p_purchase"],
            }
        )
        copy_frame(ExperimentAssignment._meta.db_table, rows)
        for arm in arms:
            ids = frame.loc[frame["arm_id"] == arm.pk, "customer_id"].to_numpy()
            counts[arm.code] = len(ids)
            if arm.treatment == ArmTreatment.BENEFIT and len(ids):
                grant_ids = []
                for lo in range(0, len(ids), GRANT_BATCH_MAX):
                    result = benefit_grant(
                        brand=experiment.brand,
                        benefit=arm.benefit,
                        customer_ids=ids[lo : lo + GRANT_BATCH_MAX].tolist(),
                        source=GrantSource.CAMPAIGN,
                        note=f"experiment {experiment.code}",
                        when=at,
                        actor=actor,
                    )
                    grant_ids.extend(g.pk for g in result.grants)
                _grant_exposures(experiment=experiment, grant_ids=grant_ids)
            elif arm.treatment == ArmTreatment.RULE and len(ids):
                audience = selectors.customers_audience(brand=experiment.brand, customer_ids=ids, at=at)
                occasion_plan(
                    brand=experiment.brand,
                    trigger=arm.rule.trigger,
                    occasion=f"exp:{experiment.pk}",
                    anchor=at,
                    frame=audience,
                    stream_id=None,
                    now=at,
                    only_rule=arm.rule,
                )
    before = stored_snapshot(experiment)
    experiment.status = ExperimentStatus.RUNNING
    experiment.started_at = at
    experiment.run_id = run.pk if run else None
    experiment.save(update_fields=["status", "started_at", "run_id", "updated_at"])
    audit_record(
        actor=actor, action=AuditAction.UPDATED, obj=experiment, before=before, after=snapshot(experiment)
    )
    return {"started": True, "arms": counts, "run_id": experiment.run_id}


@transaction.atomic
def experiment_finish(*, experiment: Experiment, actor=None) -> Experiment:
    """Mark a running experiment finished (its results stay; nothing more is delivered)."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status == ExperimentStatus.RUNNING:
        before = stored_snapshot(experiment)
        experiment.status = ExperimentStatus.FINISHED
        experiment.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor, action=AuditAction.UPDATED, obj=experiment, before=before, after=snapshot(experiment)
        )
    return experiment


def _grant_exposures(*, experiment: Experiment, grant_ids: list[int]) -> None:
    from apps.loyalty.models import BenefitGrant

    sql = f"""
        UPDATE {ExperimentAssignment._meta.db_table} a SET exposed_at = g.granted_at, benefit_grant_id = g.id
        FROM {BenefitGrant._meta.db_table} g
        WHERE g.brand_id = %s AND g.id = ANY(%s::bigint[])
          AND a.brand_id = g.brand_id AND a.experiment_id = %s AND a.customer_id = g.customer_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [experiment.brand_id, selectors.id_array(grant_ids), experiment.pk])


def exposures_record(*, brand_id: int, touch_ids) -> int:
    """Record exposure of experiment customers whose touches (occasion exp:<id>) just went out."""
    sql = f"""
        UPDATE {ExperimentAssignment._meta.db_table} a SET exposed_at = t.sent_at
        FROM {Touch._meta.db_table} t
        WHERE t.brand_id = %s AND t.id = ANY(%s::bigint[]) AND t.occasion LIKE 'exp:%%' AND t.sent_at IS NOT NULL
          AND a.brand_id = t.brand_id AND a.customer_id = t.customer_id
          AND a.experiment_id = substr(t.occasion, 5)::bigint AND a.exposed_at IS NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [brand_id, selectors.id_array(touch_ids)])
        return cursor.rowcount


# --- outcomes and results ---------------------------------------------------------------------------------


def outcomes(*, experiment: Experiment, at: dt.datetime) -> pd.DataFrame:
    """One row per assignment: arm, covariates, and the outcomes known at `at` (no order after it counts):
    days from the start to the first paid order (or to the end of follow-up, censored), revenue and
    conversion in the window, conversion within 72 hours of exposure. One query."""
    window_end = experiment.starts_at + dt.timedelta(days=experiment.window_days)
    follow_end = min(at, max(window_end, experiment.ends_at))
    window_stop = min(window_end, follow_end)
    sql = f"""
        SELECT a.customer_id, a.arm_id, (a.exposed_at IS NOT NULL)::int AS exposed,
               a.pre_revenue::float8 AS pre_revenue, a.pre_orders,
               COALESCE(a.predicted_revenue, 0) AS predicted_revenue, COALESCE(a.p_purchase, 0) AS p_purchase,
               EXTRACT(EPOCH FROM MIN(o.placed_at) - %(start)s) / 86400 AS first_days,
               (MIN(o.placed_at) < %(window_end)s)::int AS converted,
               COALESCE(SUM(o.total_amount) FILTER (WHERE o.placed_at < %(window_end)s), 0)::float8 AS revenue,
               COALESCE(BOOL_OR(o.placed_at >= a.exposed_at AND o.placed_at < a.exposed_at + interval '72 hours'),
                        false)::int AS converted_72h
        FROM {ExperimentAssignment._meta.db_table} a
        LEFT JOIN {Order._meta.db_table} o
          ON o.brand_id = a.brand_id AND o.customer_id = a.customer_id AND o.status = 'paid'
         AND o.placed_at >= %(start)s AND o.placed_at < %(follow_end)s
        WHERE a.brand_id = %(brand)s AND a.experiment_id = %(experiment)s
        GROUP BY a.id
    """
    params = {
        "brand": experiment.brand_id,
        "experiment": experiment.pk,
        "start": experiment.starts_at,
        "window_end": window_stop,
        "follow_end": follow_end,
    }
    dtypes = {
        "customer_id": "int64",
        "arm_id": "int64",
        "exposed": "int8",
        "pre_revenue": "float64",
        "pre_orders": "int64",
        "predicted_revenue": "float64",
        "p_purchase": "float64",
        "first_days": "float64",
        "converted": "float64",
        "revenue": "float64",
        "converted_72h": "int8",
    }
    with connection.cursor() as cursor:
        frame = query_frame(cursor, sql, params, dtype=dtypes)
    horizon = (follow_end - experiment.starts_at).total_seconds() / 86400
    frame["event"] = frame["first_days"].notna().to_numpy()
    frame["days"] = frame["first_days"].fillna(max(horizon, 0.0)).to_numpy()
    frame["converted"] = frame["converted"].fillna(0).astype(bool)
    frame["converted_72h"] = frame["converted_72h"].astype(bool)
    frame["exposed"] = frame["exposed"].astype(bool)
    frame["follow_days"] = horizon
    return frame


def _metric_values(frame: pd.DataFrame, metric: str) -> np.ndarray | None:
    if metric == Metric.CONVERSION:
        return frame["converted"].to_numpy(dtype=float)
    if metric == Metric.REVENUE:
        return frame["revenue"].to_numpy(dtype=float)
    if metric == Metric.CONVERSION_72H:
        return frame["converted_72h"].to_numpy(dtype=float)
    return None


def _round(value, digits: int = 6):
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return round(float(value), digits)


def _on_grid(curve: dict, follow_days: float) -> dict:
    """A Kaplan-Meier curve read every half day (a step curve: the value just after each grid point), so
    the curve's size does not grow with the number of purchases."""
    times = np.asarray(curve["days"], dtype=float)
    levels = np.concatenate([[1.0], np.asarray(curve["survival"], dtype=float)])
    grid = np.arange(0.0, max(follow_days, 0.0) + 0.25, 0.5)
    values = levels[np.searchsorted(times, grid, side="right")]
    return {"days": [float(d) for d in grid], "survival": [round(float(v), 6) for v in values]}


def experiment_results(*, experiment: Experiment, at: dt.datetime | None = None) -> dict:
    """Everything the results page, GraphQL and `experiment_results` show, as JSON-ready values. Figures
    that cannot be computed are None, with the reason in `unavailable` (key: reason)."""
    at = at or timezone.now()
    zone = experiment.brand.tzinfo
    alpha = float(experiment.alpha)
    mde = float(experiment.min_detectable_effect)
    # one look a day from the start to the planned end: the sequential interval is valid for those looks
    looks = max(1, math.ceil((experiment.ends_at - experiment.starts_at).total_seconds() / 86400))
    arms = list(experiment.arms.order_by("-is_control", "code"))
    control = next(a for a in arms if a.is_control)
    frame = outcomes(experiment=experiment, at=at)
    code_of = {a.pk: a.code for a in arms}
    frame["arm"] = frame["arm_id"].map(code_of)
    unavailable: dict[str, str] = {}
    warnings: list[dict] = []

    arm_out = {}
    for arm in arms:
        part = frame[frame["arm"] == arm.code]
        n = len(part)
        arm_out[arm.code] = {
            "name": arm.name,
            "is_control": arm.is_control,
            "treatment": arm.treatment,
            "share": arm.share,
            "n": n,
            "exposed": int(part["exposed"].sum()),
            "conversions": int(part["converted"].sum()),
            "conversion_rate": _round(part["converted"].mean()) if n else None,
            "revenue_per_customer": _round(part["revenue"].mean(), 2) if n else None,
            "conversions_72h": int(part["converted_72h"].sum()),
            "conversion_72h_rate": _round(part["converted_72h"].mean()) if n else None,
        }
    srm = es.srm_p_value([arm_out[a.code]["n"] for a in arms], [a.share for a in arms])
    if srm is None:
        unavailable["srm_p"] = _("No customer is assigned yet.")
    elif srm < SRM_ALPHA:
        warnings.append(
            {
                "code": "srm",
                "message": _(
                    "Sample ratio mismatch (p = %(p).2g): the arms' sizes do not match their shares, so "
                    "assignment or delivery is broken and the results cannot be trusted."
                )
                % {"p": srm},
            }
        )

    metrics = [experiment.primary_metric] + [
        m for m in experiment.secondary_metrics if m != experiment.primary_metric
    ]
    mean_metrics = [m for m in metrics if m != Metric.TIME_TO_PURCHASE] or [Metric.CONVERSION]
    primary_mean = (
        experiment.primary_metric
        if experiment.primary_metric != Metric.TIME_TO_PURCHASE
        else Metric.CONVERSION
    )
    if primary_mean not in mean_metrics:
        mean_metrics.insert(0, primary_mean)

    survival = (
        es.survival_by_arm(frame["days"], frame["event"], frame["arm"], control.code, alpha)
        if len(frame)
        else {"curves": {}, "rmst": {}, "versus_control": {}}
    )
    ctrl = frame[frame["arm"] == control.code]
    variants = {}
    tests = []  # (variant, metric, p) for the Holm correction
    for arm in arms:
        if arm.is_control:
            continue
        part = frame[frame["arm"] == arm.code]
        entry: dict = {"metric": primary_mean}
        per_metric = {}
        for metric in mean_metrics:
            y_t, y_c = _metric_values(part, metric), _metric_values(ctrl, metric)
            raw = es.diff_means(y_t, y_c, alpha)
            block = {"diff": None, "ci_low": None, "ci_high": None, "p_value": None}
            if raw is None:
                unavailable[f"{arm.code}.{metric}"] = _(
                    "Each arm needs at least two customers and some variation."
                )
            else:
                block.update(diff=raw.diff, ci_low=raw.ci_low, ci_high=raw.ci_high, p_value=raw.p_value)
                tests.append((arm.code, metric, raw.p_value))
                low, high, p_seq = es.sequential_interval(raw.diff, raw.se, looks, alpha)
                block.update(sequential_ci_low=low, sequential_ci_high=high, sequential_p=p_seq)
            pre_cols = ["pre_revenue", "pre_orders"]
            cuped = (
                es.cuped_diff(y_t, y_c, part[pre_cols].to_numpy(float), ctrl[pre_cols].to_numpy(float), alpha)
                if raw
                else None
            )
            cupac_cols = pre_cols + ["predicted_revenue", "p_purchase"]
            cupac = (
                es.cuped_diff(
                    y_t, y_c, part[cupac_cols].to_numpy(float), ctrl[cupac_cols].to_numpy(float), alpha
                )
                if raw
                else None
            )
            if cuped is None:
                unavailable[f"{arm.code}.{metric}.cuped"] = _(
                    "The pre-period has no variation to adjust with."
                )
                block.update(cuped_diff=None, cuped_ci_low=None, cuped_ci_high=None, variance_reduction=None)
            else:
                block.update(
                    cuped_diff=cuped[0].diff,
                    cuped_ci_low=cuped[0].ci_low,
                    cuped_ci_high=cuped[0].ci_high,
                    variance_reduction=cuped[1],
                )
            if cupac is None:
                unavailable[f"{arm.code}.{metric}.cupac"] = _(
                    "The covariates have no variation to adjust with."
                )
                block.update(
                    cupac_diff=None, cupac_ci_low=None, cupac_ci_high=None, cupac_variance_reduction=None
                )
            else:
                block.update(
                    cupac_diff=cupac[0].diff,
                    cupac_ci_low=cupac[0].ci_low,
                    cupac_ci_high=cupac[0].ci_high,
                    cupac_variance_reduction=cupac[1],
                )
            per_metric[metric] = {k: _round(v) for k, v in block.items()}
        entry.update(per_metric[primary_mean])
        entry["metrics"] = per_metric
        entry.update({k: _round(v) for k, v in survival["versus_control"].get(arm.code, {}).items()})
        for key in ("rmst_diff_7", "rmst_diff_14", "rmst_diff_30", "logrank_p", "hazard_ratio"):
            entry.setdefault(key, None)
            if entry[key] is None:
                unavailable.setdefault(
                    f"{arm.code}.{key}",
                    _("Not enough follow-up or no repurchase yet in both arms."),
                )
        # power for the primary metric at the brand's smallest effect worth detecting
        y_c = _metric_values(ctrl, primary_mean)
        if primary_mean == Metric.REVENUE:
            need = es.required_per_arm_mean(
                float(np.std(y_c, ddof=1)) if len(y_c) > 1 else 0.0,
                mde * float(np.mean(y_c)) if len(y_c) else 0.0,
                alpha,
            )
        else:
            need = es.required_per_arm(float(np.mean(y_c)) if len(y_c) else 0.0, mde, alpha)
        entry["required_n_per_arm"] = need
        have = min(len(part), len(ctrl))
        entry["underpowered"] = None if need is None else have < need
        if need is None:
            unavailable[f"{arm.code}.required_n_per_arm"] = _("The control's rate is 0 or 1 so far.")
        elif have < need:
            warnings.append(
                {
                    "code": "underpowered",
                    "arm": arm.code,
                    "message": _(
                        "Arm %(arm)s: %(have)s customers per arm, %(need)s needed to detect a %(mde)s%% change "
                        "with 80%% power; a difference this small may be missed."
                    )
                    % {"arm": arm.code, "have": have, "need": need, "mde": round(mde * 100, 1)},
                }
            )
        variants[arm.code] = entry
    adjusted = es.holm([p for _, _, p in tests])
    for (variant, metric, _p), adj in zip(tests, adjusted, strict=True):
        variants[variant]["metrics"][metric]["p_value_adjusted"] = _round(adj)
        if metric == primary_mean:
            variants[variant]["p_value_adjusted"] = _round(adj)
    for arm_code, rm in survival["rmst"].items():
        for h, value in rm.items():
            arm_out[arm_code][f"rmst_{h}"] = _round(value)
    follow_days = float(frame["follow_days"].iloc[0]) if len(frame) else 0.0
    return {
        "experiment": experiment.code,
        "name": experiment.name,
        "status": experiment.status,
        # instants in the brand's time zone, as every other time the API and the commands show
        "as_of": at.astimezone(zone).isoformat(),
        "starts_at": experiment.starts_at.astimezone(zone).isoformat(),
        "ends_at": experiment.ends_at.astimezone(zone).isoformat(),
        "primary_metric": experiment.primary_metric,
        "metrics": metrics,
        "alpha": alpha,
        "window_days": experiment.window_days,
        "follow_up_days": _round(follow_days, 2),
        "comparisons": len(tests),
        "srm_p": _round(srm),
        "srm_flag": None if srm is None else srm < SRM_ALPHA,
        "arms": arm_out,
        "variants": variants,
        "curves": {code: _on_grid(curve, follow_days) for code, curve in survival["curves"].items()},
        "warnings": warnings,
        "unavailable": unavailable,
    }
