"""Product recommendations from co-purchase within the brand, judged on held-out time.

Item-based collaborative filtering on the order lines before the run's cutoff:

- each customer's items (SKUs) carry a recency weight, 0.5 ** (age in days / HALF_LIFE_DAYS);
- two SKUs are similar by how many customers bought both (cosine of their buyer sets);
- a customer's score for a SKU is the sum over their items of weight × similarity: items bought by customers
  who bought what this customer bought, recent purchases counting most;
- what the customer already bought is left out (what they just bought above all), unless its category is a
  repeat-purchase one (at least REPEAT_SHARE of its buyers bought it on two or more days): then buying it
  again is offered, with the customer's own recency weight for it (replenishment);
- the categories to offer are the SKU scores summed per category.

Judged like every model of the product, on held-out time: fitted as of cutoff − HOLDOUT_DAYS, top-K SKUs for
every customer with history then, compared with what they bought in the last HOLDOUT_DAYS (hit rate: at
least one bought SKU in the top K; recall: the share of the bought SKUs in the top K), at K = 5 and 10,
beside the most-popular baseline (recency-weighted purchase counts, the same exclusions). A log without
SKUs has no recommendations, with that reason.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils.translation import gettext as _

from apps.analytics.models import CustomerRecommendation, ModelRun
from apps.core.bulk import copy_frame, query_frame, timestamp_texts

HALF_LIFE_DAYS = 90.0
REPEAT_SHARE = 0.3
HOLDOUT_DAYS = 30
TOP_SKUS = 10
TOP_CATEGORIES = 3
CHUNK = 20_000


def _lines(brand_id: int, cutoff) -> pd.DataFrame:
    """customer_id, sku, category, placed_at (days before the cutoff) of the paid order lines with a SKU."""
    sql = """
        SELECT o.customer_id, i.sku, i.category, EXTRACT(EPOCH FROM %(cutoff)s - o.placed_at) / 86400 AS age
        FROM orders_orderitem i
        JOIN orders_order o ON o.brand_id = i.brand_id AND o.id = i.order_id
        WHERE i.brand_id = %(brand)s AND o.status = 'paid' AND o.placed_at < %(cutoff)s AND i.sku <> ''
    """
    with connection.cursor() as cursor:
        frame = query_frame(
            cursor,
            sql,
            {"brand": brand_id, "cutoff": cutoff},
            dtype={"customer_id": "int64", "sku": "object", "category": "object", "age": "float64"},
        )
    frame["category"] = frame["category"].fillna("")
    return frame


class CoPurchase:
    """The fitted recommender: SKU similarities, repeat-purchase categories and popularity."""

    def __init__(self, lines: pd.DataFrame):
        from scipy import sparse

        self.skus, sku_index = np.unique(lines["sku"].to_numpy(object), return_inverse=True)
        self.customers, customer_index = np.unique(lines["customer_id"].to_numpy(), return_inverse=True)
        first_category = lines.groupby("sku", sort=True)["category"].first()
        self.sku_category = first_category.reindex(self.skus).fillna("").to_numpy(object)
        weight = 0.5 ** (lines["age"].to_numpy(float) / HALF_LIFE_DAYS)
        shape = (len(self.customers), len(self.skus))
        self.weights = sparse.csr_matrix((weight, (customer_index, sku_index)), shape=shape)
        self.weights.sum_duplicates()
        bought = self.weights.copy()
        bought.data = np.ones_like(bought.data)
        counts = np.asarray(bought.sum(axis=0)).ravel()
        co = (bought.T @ bought).toarray().astype(float)
        norm = np.sqrt(np.outer(counts, counts))
        with np.errstate(divide="ignore", invalid="ignore"):
            self.similarity = np.where(norm > 0, co / norm, 0.0)
        np.fill_diagonal(self.similarity, 0.0)
        self.popularity = np.asarray(self.weights.sum(axis=0)).ravel()
        # repeat-purchase categories: buyers who bought the category on 2+ days
        days = lines.assign(day=np.floor(lines["age"].to_numpy(float)))
        per = days.groupby(["category", "customer_id"])["day"].nunique()
        repeat = (per >= 2).groupby(level=0).mean()
        self.repeat_categories = set(repeat[repeat >= REPEAT_SHARE].index) - {""}
        self.repeat_sku = np.isin(self.sku_category, list(self.repeat_categories))

    def scores(self, rows: slice) -> np.ndarray:
        """Scores of every SKU for the customers in `rows` (positions in self.customers); left-out SKUs are
        −inf."""
        weights = self.weights[rows]
        score = np.asarray(weights @ self.similarity)
        own = weights.toarray()
        score = score + np.where(self.repeat_sku, own, 0.0)  # replenishment in repeat-purchase categories
        score[(own > 0) & ~self.repeat_sku] = -np.inf  # already bought, and not bought again and again
        return score

    def popular(self, rows: slice) -> np.ndarray:
        score = np.tile(self.popularity, (rows.stop - rows.start, 1)).astype(float)
        score[(self.weights[rows].toarray() > 0) & ~self.repeat_sku] = -np.inf
        return score


def _top(score: np.ndarray, k: int) -> np.ndarray:
    k = min(k, score.shape[1])
    part = np.argpartition(-score, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(score, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def evaluate(lines: pd.DataFrame) -> dict:
    """Hit rate and recall at 5 and 10 on the last HOLDOUT_DAYS, against the most-popular baseline."""
    before = lines[lines["age"] >= HOLDOUT_DAYS].assign(age=lambda f: f["age"] - HOLDOUT_DAYS)
    after = lines[lines["age"] < HOLDOUT_DAYS]
    if before.empty or after.empty:
        return {
            "unavailable": _("Not enough order lines before and within the last %(days)d days.")
            % {"days": HOLDOUT_DAYS}
        }
    model = CoPurchase(before)
    truth = after[after["customer_id"].isin(model.customers) & after["sku"].isin(model.skus)]
    if truth.empty:
        return {
            "unavailable": _(
                "No customer with earlier purchases bought a known product in the last %(days)d days."
            )
            % {"days": HOLDOUT_DAYS}
        }
    wanted = truth.groupby("customer_id")["sku"].agg(lambda s: set(s))
    positions = np.searchsorted(model.customers, wanted.index.to_numpy())
    results = {"model": {5: [0, 0.0], 10: [0, 0.0]}, "popular": {5: [0, 0.0], 10: [0, 0.0]}}
    for lo in range(0, len(positions), CHUNK):
        chunk = positions[lo : lo + CHUNK]
        for name, scorer in (("model", model.scores), ("popular", model.popular)):
            score = _scores_at(model, chunk, scorer)
            top = _top(score, 10)
            for i in range(len(chunk)):
                bought = wanted.iloc[lo + i]
                for k in (5, 10):
                    hits = len(bought & set(model.skus[top[i, :k]]))
                    results[name][k][0] += hits > 0
                    results[name][k][1] += hits / len(bought)
    n = len(positions)
    out = {"customers": int(n), "skus": int(len(model.skus)), "holdout_days": HOLDOUT_DAYS}
    for name in ("model", "popular"):
        for k in (5, 10):
            prefix = "" if name == "model" else "popular_"
            out[f"{prefix}hit_rate_{k}"] = round(results[name][k][0] / n, 4)
            out[f"{prefix}recall_{k}"] = round(results[name][k][1] / n, 4)
    return out


def _scores_at(model: CoPurchase, positions: np.ndarray, scorer) -> np.ndarray:
    """Scores for arbitrary customer positions (sorted), reading contiguous runs at once."""
    out = np.empty((len(positions), len(model.skus)))
    start = 0
    while start < len(positions):
        end = start
        while end + 1 < len(positions) and positions[end + 1] == positions[end] + 1:
            end += 1
        out[start : end + 1] = scorer(slice(int(positions[start]), int(positions[end]) + 1))
        start = end + 1
    return out


@transaction.atomic
def recommendations_compute(*, run: ModelRun) -> dict:
    """Fit on every order line before the run's cutoff, store each buyer's top SKUs and categories under the
    run, judge on held-out time. Rows of runs other than this one and the published one are removed.
    Returns the summary stored in run.metrics["recommendations"]."""
    started = time.perf_counter()
    lines = _lines(run.brand_id, run.cutoff)
    CustomerRecommendation.objects.filter(brand_id=run.brand_id).exclude(run=run).exclude(
        run__status="published"
    ).delete()
    if lines.empty:
        return {"unavailable": _("The order log has no products (SKUs) to recommend from.")}
    evaluation = evaluate(lines)
    model = CoPurchase(lines)
    stamp = timestamp_texts(np.array([np.datetime64(pd.Timestamp.now(tz="UTC").tz_localize(None), "ns")]))[0]
    written = 0
    import json

    for lo in range(0, len(model.customers), CHUNK):
        rows = slice(lo, min(lo + CHUNK, len(model.customers)))
        score = model.scores(rows)
        top = _top(score, TOP_SKUS)
        top_scores = np.take_along_axis(score, top, axis=1)
        categories = (
            pd.DataFrame(np.where(np.isfinite(score), score, 0.0), columns=model.sku_category)
            .T.groupby(level=0)
            .sum()
            .T
        )
        categories = categories.drop(columns=[""], errors="ignore")
        cat_names = categories.columns.to_numpy(object)
        cat_top = _top(categories.to_numpy(), min(TOP_CATEGORIES, len(cat_names))) if len(cat_names) else None
        keep = np.isfinite(top_scores) & (top_scores > 0)
        frame = pd.DataFrame(
            {
                "created_at": stamp,
                "updated_at": stamp,
                "brand_id": run.brand_id,
                "run_id": run.pk,
                "customer_id": model.customers[rows],
                "skus": [
                    json.dumps(model.skus[t[k]].tolist(), ensure_ascii=False)
                    for t, k in zip(top, keep, strict=True)
                ],
                "sku_categories": [
                    json.dumps(model.sku_category[t[k]].tolist(), ensure_ascii=False)
                    for t, k in zip(top, keep, strict=True)
                ],
                "scores": [
                    json.dumps(np.round(s[k], 5).tolist()) for s, k in zip(top_scores, keep, strict=True)
                ],
                "categories": [
                    json.dumps(cat_names[c].tolist(), ensure_ascii=False) if cat_top is not None else "[]"
                    for c in (cat_top if cat_top is not None else [None] * len(top))
                ],
            }
        )
        written += copy_frame(CustomerRecommendation._meta.db_table, frame)
    summary = {
        **evaluation,
        "customers_with_recommendations": int(written),
        "repeat_purchase_categories": sorted(model.repeat_categories),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return summary
