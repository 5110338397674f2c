"""Tier assignment from staff-edited rules: pure numpy/pandas, no ORM, no per-customer loops.

The semantics (also in TierRule's docstring):
- a rule matches a customer when every condition it sets holds; a rule that sets none matches everyone;
- rules are checked by tier rank (1 first) and the first active rule that matches wins (reason
  "rule:<tier code>");
- a customer no rule matches gets the lowest-ranked active tier (reason "no_rule_matched");
- a customer who opted out of automated decisions keeps their previous tier, or none (reason
  "opted_out_kept");
- a customer who would move down from a tier with a demotion grace period keeps it (reason "grace_period")
  until that many days after the refresh that first found them no longer qualifying (apply_grace);
- the CLV percentile of a customer is the share (%) of the frame's customers with a strictly lower CLV,
  so the frame must hold every scored customer of the brand (opted-out ones included). `clv_percentile`
  is the one implementation: publishing stores its result on the scores, which every reader filters on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

REASON_OPTED_OUT = "opted_out_kept"
REASON_NO_RULE = "no_rule_matched"
REASON_NO_TIER = "no_active_tier"
REASON_GRACE = "grace_period"

FRAME_COLUMNS = (
    "customer_id",
    "clv",
    "churn_probability",
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_segment",
    "automated_decisions_opt_out",
    "previous_tier_id",
)


def rule_reason(tier_code: str) -> str:
    return f"rule:{tier_code}"


@dataclass(frozen=True)
class TierRuleSpec:
    """One active tier and its rule. `active=False`: the tier has no active rule, so it never matches,
    but it still counts as an active tier (it may be the fallback for customers no rule matches)."""

    tier_id: int
    tier_code: str
    rank: int
    min_clv: float | None = None
    min_clv_percentile: float | None = None
    max_churn_probability: float | None = None
    min_rfm_score: int | None = None
    rfm_segments: tuple[str, ...] = field(default_factory=tuple)
    active: bool = True
    grace_days: int = 0  # the tier's demotion grace period

    @classmethod
    def of(cls, tier, rule=None) -> TierRuleSpec:
        """The spec of a tier (anything with pk, code and rank) and its rule (None: no rule, never matches)."""
        grace_days = int(getattr(tier, "demotion_grace_days", 0) or 0)
        if rule is None:
            return cls(
                tier_id=tier.pk, tier_code=tier.code, rank=tier.rank, active=False, grace_days=grace_days
            )
        return cls(
            tier_id=tier.pk,
            tier_code=tier.code,
            rank=tier.rank,
            grace_days=grace_days,
            min_clv=rule.min_clv,
            min_clv_percentile=rule.min_clv_percentile,
            max_churn_probability=rule.max_churn_probability,
            min_rfm_score=rule.min_rfm_score,
            rfm_segments=tuple(rule.rfm_segments or ()),
            active=rule.is_active,
        )

    def __post_init__(self):
        # Decimals from the database become floats: every comparison below is on float arrays
        for name in ("min_clv", "min_clv_percentile", "max_churn_probability"):
            value = getattr(self, name)
            if isinstance(value, Decimal | int):
                object.__setattr__(self, name, float(value))
        object.__setattr__(self, "rfm_segments", tuple(self.rfm_segments or ()))

    @property
    def reason(self) -> str:
        return rule_reason(self.tier_code)


def clv_percentile(clv) -> np.ndarray:
    """Share (0–100) of customers whose CLV is strictly lower; ties share a percentile; NaN stays NaN."""
    return percentile_below(clv)


def percentile_below(values) -> np.ndarray:
    """Share (0–100) of the values that are strictly lower; ties share a percentile; NaN stays NaN and is
    not counted."""
    series = pd.Series(np.asarray(values, dtype=float))
    valid = int(series.notna().sum())
    if valid == 0:
        return np.full(len(series), np.nan)
    below = series.rank(method="min", na_option="keep").to_numpy() - 1
    return below / valid * 100.0


def rule_mask(frame: pd.DataFrame, rule: TierRuleSpec, percentile: np.ndarray | None = None) -> np.ndarray:
    """Customers (rows of `frame`) the rule matches: the AND of the conditions it sets. NaN never matches."""
    mask = np.ones(len(frame), dtype=bool)
    if not rule.active:
        return np.zeros(len(frame), dtype=bool)
    if rule.min_clv is not None:
        mask &= frame["clv"].to_numpy(dtype=float) >= rule.min_clv
    if rule.min_clv_percentile is not None:
        if percentile is None:
            percentile = clv_percentile(frame["clv"])
        mask &= percentile >= rule.min_clv_percentile
    if rule.max_churn_probability is not None:
        mask &= frame["churn_probability"].to_numpy(dtype=float) <= rule.max_churn_probability
    if rule.min_rfm_score is not None:
        score = (
            frame["rfm_recency"].to_numpy(dtype=float)
            + frame["rfm_frequency"].to_numpy(dtype=float)
            + frame["rfm_monetary"].to_numpy(dtype=float)
        )
        mask &= score >= rule.min_rfm_score
    if rule.rfm_segments:
        mask &= frame["rfm_segment"].isin(rule.rfm_segments).to_numpy()
    return mask


def _nullable_ids(values) -> np.ndarray:
    """Tier ids as an object array of int or None (NaN, pd.NA and None all become None)."""
    series = pd.Series(values, dtype="object") if not isinstance(values, pd.Series) else values
    out = np.empty(len(series), dtype=object)
    notna = series.notna().to_numpy()
    out[notna] = series[notna].astype("int64").to_numpy()
    out[~notna] = None
    return out


def assign_tiers(frame: pd.DataFrame, rules: Sequence[TierRuleSpec]) -> tuple[np.ndarray, np.ndarray]:
    """Tier id (object array of int or None) and reason code for each row of `frame`.

    `frame` holds FRAME_COLUMNS; `previous_tier_id` may be missing values. `rules` holds one spec per
    active tier (as apps.loyalty.tier_refresh.tier_rules_for returns them), in any order.
    """
    n = len(frame)
    ordered = sorted(rules, key=lambda r: (r.rank, r.tier_id))
    matching = [r for r in ordered if r.active]
    if "clv_percentile" in frame:
        percentile = frame["clv_percentile"].to_numpy(dtype=float)
    elif any(r.min_clv_percentile is not None for r in matching):
        percentile = clv_percentile(frame["clv"])
    else:
        percentile = None
    conditions = [rule_mask(frame, r, percentile) for r in matching]

    if ordered:
        fallback = ordered[-1]
        # np.select refuses an empty list: a never-true condition stands in when no rule is active
        conditions = conditions or [np.zeros(n, dtype=bool)]
        ids = [r.tier_id for r in matching] or [fallback.tier_id]
        reasons = [r.reason for r in matching] or [REASON_NO_RULE]
        tier_id = np.select(conditions, ids, default=fallback.tier_id).astype(np.int64).astype(object)
        reason = np.select(conditions, reasons, default=REASON_NO_RULE).astype(object)
    else:
        tier_id = np.full(n, None, dtype=object)
        reason = np.full(n, REASON_NO_TIER, dtype=object)

    if "automated_decisions_opt_out" in frame:
        opted_out = frame["automated_decisions_opt_out"].fillna(False).to_numpy(dtype=bool)
        if opted_out.any():
            previous = (
                _nullable_ids(frame["previous_tier_id"])
                if "previous_tier_id" in frame
                else np.full(n, None, dtype=object)
            )
            tier_id[opted_out] = previous[opted_out]
            reason[opted_out] = REASON_OPTED_OUT
    return tier_id, reason


def tier_changes_from(frame: pd.DataFrame, tier_id: np.ndarray, reason: np.ndarray) -> pd.DataFrame:
    """The rows whose tier differs from `previous_tier_id`, as tier_changes_apply takes them:
    customer_id, from_tier_id, to_tier_id (nullable Int64), reason."""
    previous = (
        _nullable_ids(frame["previous_tier_id"])
        if "previous_tier_id" in frame
        else np.full(len(frame), None, dtype=object)
    )
    new = pd.array(tier_id, dtype="Int64")
    old = pd.array(previous, dtype="Int64")
    changed = (new != old).fillna(True).to_numpy(dtype=bool) & ~(pd.isna(new) & pd.isna(old))
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(dtype=np.int64)[changed],
            "from_tier_id": old[changed],
            "to_tier_id": new[changed],
            "reason": np.asarray(reason, dtype=object)[changed],
        }
    ).reset_index(drop=True)


def transition_counts(frame: pd.DataFrame, tier_id: np.ndarray) -> pd.DataFrame:
    """How many customers go from each previous tier to each proposed tier (None = no tier):
    from_tier_id, to_tier_id (nullable Int64), customers; ordered by from, then to."""
    previous = (
        _nullable_ids(frame["previous_tier_id"])
        if "previous_tier_id" in frame
        else np.full(len(frame), None, dtype=object)
    )
    pairs = pd.DataFrame(
        {"from_tier_id": pd.array(previous, dtype="Int64"), "to_tier_id": pd.array(tier_id, dtype="Int64")}
    )
    counts = (
        pairs.groupby(["from_tier_id", "to_tier_id"], dropna=False, sort=True)
        .size()
        .rename("customers")
        .reset_index()
    )
    counts["customers"] = counts["customers"].astype("int64")
    return counts


@dataclass(frozen=True)
class Grace:
    """What apply_grace decided: the tiers and reasons after the grace periods, and the customers now in a
    grace period (held: boolean per row) with the time their grace started (since, datetime64[ns, UTC])."""

    tier_id: np.ndarray
    reason: np.ndarray
    held: np.ndarray
    since: np.ndarray


def apply_grace(
    frame: pd.DataFrame,
    tier_id: np.ndarray,
    reason: np.ndarray,
    rules: Sequence[TierRuleSpec],
    when,
) -> Grace:
    """Keep customers who would move down in their tier while its grace period lasts.

    `frame` holds previous_tier_id and grace_since (when the customer's grace in that tier started, NaT when
    none; a grace in another tier does not count). `rules`: one spec per active tier, with its grace_days.
    A row moves down when its previous tier is an active tier and the new tier ranks below it (or is none).
    Such a row keeps its previous tier when that tier has a grace period and `when` is less than that many
    days after grace_since (or grace_since is NaT: the grace starts now). Opted-out customers have already
    kept their tier. Pure: returns new arrays."""
    n = len(frame)
    tier_id = np.array(tier_id, dtype=object, copy=True)
    reason = np.array(reason, dtype=object, copy=True)
    held = np.zeros(n, dtype=bool)
    now = pd.Timestamp(when)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    since = np.full(n, now.to_datetime64(), dtype="datetime64[ns]")
    grace_days = {r.tier_id: r.grace_days for r in rules if r.grace_days > 0}
    if not n or "previous_tier_id" not in frame or not grace_days:
        return Grace(tier_id, reason, held, since)
    rank = {r.tier_id: r.rank for r in rules}
    previous = _nullable_ids(frame["previous_tier_id"])
    worst = max(rank.values(), default=0) + 1

    def ranks_of(ids):
        return np.array([rank.get(i, worst) if i is not None else worst for i in ids], dtype=np.int64)

    previous_rank = np.array([rank.get(i, -1) if i is not None else -1 for i in previous], dtype=np.int64)
    moving_down = (previous_rank >= 0) & (ranks_of(tier_id) > previous_rank)
    days = np.array([grace_days.get(i, 0) if i is not None else 0 for i in previous], dtype=np.int64)
    started = (
        pd.to_datetime(frame["grace_since"], utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        if "grace_since" in frame
        else np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    started = np.where(np.isnat(started), since, started)
    elapsed = since - started
    within = moving_down & (days > 0) & (elapsed < days.astype("timedelta64[D]"))
    tier_id[within] = previous[within]
    reason[within] = REASON_GRACE
    return Grace(tier_id, reason, within, np.where(within, started, since))
