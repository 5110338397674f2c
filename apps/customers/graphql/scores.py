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

from django.db.models import OuterRef, Subquery
from django.db.models.functions import JSONObject

from apps.analytics.models import ModelRun, ProspectScore, RunStatus
from apps.analytics.selectors import (
    PUBLISHED_SCORE,
    customers_with_published_score,
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


def last_paid_order_at() -> Subquery:
    """When the customer last placed a paid order (live, not as of the scores), via the (brand, customer,
    placed_at) index."""
    return Subquery(
        Order.objects.filter(
            brand_id=OuterRef("brand_id"), customer_id=OuterRef("pk"), status=OrderStatus.PAID
        )
        .order_by("-placed_at")
        .values("placed_at")[:1]
    )


SCORE_ANNOTATIONS = {
    "score_run_id": score("run_id"),
    "score_stage": score("stage"),
    "score_stage_rule": score("stage_rule"),
    "score_rhythm_days": score("rhythm_days"),
    "score_rfm_recency": score("rfm_recency"),
    "score_rfm_frequency": score("rfm_frequency"),
    "score_rfm_monetary": score("rfm_monetary"),
    "score_rfm_segment": score("rfm_segment"),
    "score_orders_count": score("orders_count"),
    "score_monetary_total": score("monetary_total"),
    "score_last_purchase_at": score("last_purchase_at"),
    "score_days_since_last_purchase": score("days_since_last_purchase"),
    "score_p_purchase_horizon": score("p_purchase_horizon"),
    "score_churn_probability": score("churn_probability"),
    "score_expected_revenue_horizon": score("expected_revenue_horizon"),
    "score_clv": score("clv"),
    "score_median_days_to_next_purchase": score("median_days_to_next_purchase"),
    "score_survival_curve": score("survival_curve"),
    # the tier's columns in one JSON value, so the tier costs no query of its own; a correlated subquery
    # rather than a join, so the database looks it up only for the rows of the page (after sort and limit)
    "score_tier": Subquery(
        Tier.objects.filter(pk=OuterRef(f"{PUBLISHED_SCORE}__tier_id"))
        .order_by()
        .values(json=JSONObject(**{f.attname: f.attname for f in Tier._meta.concrete_fields}))[:1]
    ),
    # a prospect (never bought) has no score row but a propensity in the published run
    "prospect_propensity": Subquery(
        ProspectScore.objects.filter(
            brand_id=OuterRef("brand_id"), customer_id=OuterRef("pk"), run__status=RunStatus.PUBLISHED
        )
        .order_by()
        .values("propensity")[:1]
    ),
    "score_horizon_days": published_run_value("horizon_days"),
    "score_as_of": published_run_value("as_of"),
    "last_order_at": last_paid_order_at(),
}


def score_value(customer, key: str):
    """An annotated score column of a customer; loads them all (one query) when the customer came from a
    queryset without the annotations (e.g. with the optimizer off)."""
    try:
        return customer.__dict__[key]
    except KeyError:
        pass
    from apps.customers.models import Customer

    row = (
        customers_with_published_score(Customer.objects.filter(pk=customer.pk), [customer.brand_id])
        .annotate(**SCORE_ANNOTATIONS)
        .values(*SCORE_ANNOTATIONS)
        .first()
    ) or dict.fromkeys(SCORE_ANNOTATIONS)
    customer.__dict__.update(row)
    return customer.__dict__[key]


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


def customer_hazard_factors(*, customer_id: int, run_id: int, stage: str, top: int = 5) -> list[dict]:
    """The covariates that move this customer's chance of buying again most, under the model of their
    current stage in the published run: each feature's factor on the purchase rate against the stage's
    average customer, hazard_ratio = exp(β · (x − mean) / sd), strongest first (Cox-family models only;
    none for tree ensembles or Kaplan-Meier). Covariates are measured at the run's cutoff, as scored."""
    from apps.analytics.features import FEATURES
    from apps.analytics.selectors import customer_frame
    from apps.analytics.survival.models import COX_FAMILY

    run = (
        ModelRun.objects.select_related("brand").only("id", "cutoff", "stage_models", "brand").get(pk=run_id)
    )
    if not run.stage_models.get(stage):
        return []
    engine = _run_engine(run.pk)
    fit = getattr(engine, "stages", {}).get(stage) if engine is not None else None
    model = fit.model if fit is not None else None
    if model is None or model.kind not in COX_FAMILY or model.coef is None:
        return []
    frame = customer_frame(brand=run.brand, cutoff=run.cutoff, customer_ids=(customer_id, customer_id))
    if frame.empty:
        return []
    row = frame.iloc[0]
    factors = []
    for j, feature in enumerate(model.features):
        value = float(row[feature])
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
