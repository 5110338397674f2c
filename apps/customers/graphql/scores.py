"""The published scores of customers, read in the same SQL query as the customers themselves.

A customer's published score is their CustomerScore row of their brand's published ModelRun, joined once by
apps.analytics.selectors.customers_with_published_score (no join unless a filter, ordering or annotation
refers to it); SCORE_ANNOTATIONS are the columns the Customer type's score fields ask the optimizer for. So a
page of customers with their scores is one query, whatever its size.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import JSONObject

from apps.analytics.models import ModelRun, ProspectScore, RunStatus
from apps.analytics.selectors import (
    PUBLISHED_SCORE,
    published_run_value,
)
from apps.analytics.selectors import published_score_column as score
from apps.loyalty.models import Tier
from apps.orders.models import Order, OrderStatus


def brand_ids_of_caller(info=None, *, brand_ids=None) -> list[int] | None:
    """The caller's brand ids (None: every brand), or `brand_ids` when given."""
    if info is not None and brand_ids is None:
        from apps.core.graphql.permissions import caller_brand_ids

        return caller_brand_ids(info)
    return brand_ids


def _last_paid_order(brand_id, customer_id):
    """When the customer last placed a paid order (live, not as of the scores), via the (brand, customer,
    placed_at) index; the ids may be OuterRefs (a subquery of a customers query) or values (one customer)."""
    return (
        Order.objects.filter(brand_id=brand_id, customer_id=customer_id, status=OrderStatus.PAID)
        .order_by("-placed_at")
        .values("placed_at")[:1]
    )


def _prospect_propensity(brand_id, customer_id):
    """A prospect's (never bought) propensity in the published run; they have no score row."""
    return (
        ProspectScore.objects.filter(
            brand_id=brand_id, customer_id=customer_id, run__status=RunStatus.PUBLISHED
        )
        .order_by()
        .values("propensity")[:1]
    )


def last_paid_order_at() -> Subquery:
    """When the customer last placed a paid order, as a subquery of a customers query."""
    return Subquery(_last_paid_order(OuterRef("brand_id"), OuterRef("pk")))


# The columns of the customer's published score row the Customer type reads, by annotation name.
SCORE_COLUMNS = {
    "score_run_id": "run_id",
    "score_stage": "stage",
    "score_stage_rule": "stage_rule",
    "score_rhythm_days": "rhythm_days",
    "score_rfm_recency": "rfm_recency",
    "score_rfm_frequency": "rfm_frequency",
    "score_rfm_monetary": "rfm_monetary",
    "score_rfm_segment": "rfm_segment",
    "score_orders_count": "orders_count",
    "score_monetary_total": "monetary_total",
    "score_last_purchase_at": "last_purchase_at",
    "score_days_since_last_purchase": "days_since_last_purchase",
    "score_p_purchase_horizon": "p_purchase_horizon",
    "score_churn_probability": "churn_probability",
    "score_expected_revenue_horizon": "expected_revenue_horizon",
    "score_clv": "clv",
    "score_median_days_to_next_purchase": "median_days_to_next_purchase",
    "score_survival_curve": "survival_curve",
    "score_top_covariates": "top_covariates",
}
# the tier's columns in one JSON value, so the tier costs no query of its own
TIER_JSON = {f.attname: f.attname for f in Tier._meta.concrete_fields}

SCORE_ANNOTATIONS = {
    **{key: score(column) for key, column in SCORE_COLUMNS.items()},
    # a correlated subquery rather than a join, so the database looks the tier up only for the rows of the
    # page (after sort and limit)
    "score_tier": Subquery(
        Tier.objects.filter(pk=OuterRef(f"{PUBLISHED_SCORE}__tier_id"))
        .order_by()
        .values(json=JSONObject(**TIER_JSON))[:1]
    ),
    "prospect_propensity": Subquery(_prospect_propensity(OuterRef("brand_id"), OuterRef("pk"))),
    "score_horizon_days": published_run_value("horizon_days"),
    "score_as_of": published_run_value("as_of"),
    "last_order_at": last_paid_order_at(),
}


def score_value(customer, key: str):
    """An annotated score column of a customer. A customer from a queryset without the annotations (one
    customer by id, or the optimizer off) reads what is asked when it is asked: the published score row with
    its run and tier in one query (the first score field asked), the prospect propensity and the last paid
    order each in a query of their own, only if asked for."""
    try:
        return customer.__dict__[key]
    except KeyError:
        pass
    one = {"prospect_propensity": _prospect_propensity, "last_order_at": _last_paid_order}.get(key)
    if one is not None:
        row = next(iter(one(customer.brand_id, customer.pk)), None)
        customer.__dict__[key] = next(iter(row.values())) if row is not None else None
    else:
        customer.__dict__.update(_published_score_row(customer))
    return customer.__dict__[key]


def _published_score_row(customer) -> dict:
    """The customer's published score columns, tier and run values (None where they have no score)."""
    from apps.analytics.models import CustomerScore
    from apps.analytics.selectors import published_run_condition

    brand_ids = [customer.brand_id]
    row = (
        CustomerScore.objects.filter(
            brand_id=customer.brand_id,
            customer_id=customer.pk,
            **published_run_condition(brand_ids=brand_ids, prefix=""),
        )
        .order_by()
        .values(
            **{key: F(column) for key, column in SCORE_COLUMNS.items()},
            score_tier=JSONObject(**{name: f"tier__{name}" for name in TIER_JSON}),
            score_horizon_days=F("run__horizon_days"),
            score_as_of=F("run__as_of"),
        )[:1]
    )
    found = next(iter(row), None)
    if found is not None:
        return found
    run = (
        ModelRun.objects.filter(brand_id=customer.brand_id)
        .published()
        .values("horizon_days", "as_of")
        .first()
    )
    return {
        **dict.fromkeys(SCORE_COLUMNS),
        "score_tier": None,
        "score_horizon_days": run["horizon_days"] if run else None,
        "score_as_of": run["as_of"] if run else None,
    }


def score_tier(customer):
    """The customer's tier in the published scores, as a Tier instance built from the annotated columns."""
    data = score_value(customer, "score_tier")
    if not data or data.get("id") is None:
        return None
    return Tier(**{f.attname: f.to_python(data.get(f.attname)) for f in Tier._meta.concrete_fields})


# -- Hazard factors of one customer ------------------------------------------------------------------------

# Fitted engines by run id: a run's engine never changes once fitted. Few runs are published at a time.
_ENGINES: OrderedDict[int, object] = OrderedDict()
_ENGINES_LOCK = threading.Lock()
_ENGINES_MAX = 8


def _run_engine(run_id: int):
    from apps.analytics.services import run_engine

    with _ENGINES_LOCK:
        if run_id in _ENGINES:
            _ENGINES.move_to_end(run_id)
            return _ENGINES[run_id]
    run = ModelRun.objects.only("id", "engine").get(pk=run_id)
    engine = run_engine(run) if run.engine else None
    with _ENGINES_LOCK:
        _ENGINES[run_id] = engine
        while len(_ENGINES) > _ENGINES_MAX:
            _ENGINES.popitem(last=False)
    return engine


def _stage_cox_model(run_id: int, stage: str):
    """The Cox-family model of `stage` in the run's engine, or None (another kind, or no model)."""
    from apps.analytics.survival.models import COX_FAMILY

    engine = _run_engine(run_id)
    fit = getattr(engine, "stages", {}).get(stage) if engine is not None else None
    model = fit.model if fit is not None else None
    if model is None or model.kind not in COX_FAMILY or model.coef is None:
        return None
    return model


def customer_hazard_factors(
    *, customer_id: int, run_id: int, stage: str, top: int = 5, stored: list | None = None
) -> list[dict]:
    """The covariates that move this customer's chance of buying again most, under the model of their
    current stage in the published run: each feature's factor on the purchase rate against the stage's
    average customer, hazard_ratio = exp(β · (x − mean) / sd), strongest first (Cox-family models only;
    none for tree ensembles or Kaplan-Meier). Covariates are measured at the run's cutoff, as scored.

    `stored` is the customer's score row's top_covariates (the covariates the refresh scored them with, no
    query); a run scored before they were kept (None) reads the customer's features at the cutoff again."""
    from apps.analytics.features import FEATURES
    from apps.analytics.selectors import customer_frame

    model = _stage_cox_model(run_id, stage)
    if model is None:
        return []
    if stored is not None:
        pairs = [(int(j), float(v)) for j, v in stored if 0 <= int(j) < len(model.features) and v is not None]
    else:
        run = ModelRun.objects.select_related("brand").only("id", "cutoff", "brand").get(pk=run_id)
        frame = customer_frame(brand=run.brand, cutoff=run.cutoff, customer_ids=(customer_id, customer_id))
        if frame.empty:
            return []
        row = frame.iloc[0]
        pairs = [(j, float(row[feature])) for j, feature in enumerate(model.features)]
    factors = []
    for j, value in pairs:
        feature = model.features[j]
        log_ratio = float(model.coef[j]) * (value - float(model.center[j])) / float(model.scale[j])
        if not math.isfinite(log_ratio):
            continue
        factors.append(
            {
                "feature": feature,
                "label": str(FEATURES.get(feature, feature)),
                "value": value,
                "average": float(model.center[j]),
                "hazard_ratio": math.exp(log_ratio),
                "log_ratio": log_ratio,
            }
        )
    factors.sort(key=lambda f: abs(f["log_ratio"]), reverse=True)
    return factors[:top]
