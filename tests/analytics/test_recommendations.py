"""Recommendations from co-purchase: what customers like them bought comes first, what was just bought is
left out unless it is bought again and again, the model beats the most-popular baseline on held-out time when
co-purchase carries signal, and a log without products says so."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from apps.analytics.models import CustomerRecommendation
from apps.analytics.recommendations import CoPurchase, evaluate, recommendations_compute
from tests.factories import CustomerFactory, ModelRunFactory, OrderFactory, OrderItemFactory


def lines(rows):
    return pd.DataFrame(rows, columns=["customer_id", "sku", "category", "age"])


def test_items_bought_together_come_first_and_just_bought_ones_are_left_out():
    log = lines(
        [
            # customers 1-3 bought the serum with the toner; the lipstick is popular on its own
            *[(c, "SERUM", "skincare_set", 100) for c in (1, 2, 3)],
            *[(c, "TONER", "skincare_set", 100) for c in (1, 2, 3)],  # in the same order
            *[(c, "LIPSTICK", "makeup", 50) for c in (4, 5, 6, 7, 8)],
            (9, "SERUM", "skincare_set", 5),  # customer 9 just bought the serum
            # tea is bought again and again by its buyers: a repeat-purchase category
            *[(c, "TEA", "tea", age) for c in (10, 11, 12) for age in (3, 40)],
        ]
    )
    model = CoPurchase(log)
    row = int(np.searchsorted(model.customers, 9))
    score = model.scores(slice(row, row + 1))[0]
    ranked = [model.skus[i] for i in np.argsort(-score) if np.isfinite(score[i]) and score[i] > 0]
    assert ranked[0] == "TONER"  # bought by those who bought the serum, though the lipstick sells more
    assert not np.isfinite(score[list(model.skus).index("SERUM")])  # just bought, not a repeat category
    assert "tea" in model.repeat_categories and "skincare_set" not in model.repeat_categories
    row = int(np.searchsorted(model.customers, 10))
    tea = model.scores(slice(row, row + 1))[0][list(model.skus).index("TEA")]
    assert np.isfinite(tea) and tea > 0  # bought 3 days ago, but tea is bought again: offer it


def test_the_model_beats_most_popular_on_held_out_time_when_co_purchase_carries_signal():
    rng = np.random.default_rng(4)
    rows = []
    # 40 SKUs in 8 pairs-of-five "routines"; customers stick to one routine; two SKUs sell to everyone
    for c in range(1500):
        routine = rng.integers(0, 8)
        skus = [f"R{routine}-{k}" for k in range(5)]
        for _ in range(6):
            rows.append((c, rng.choice(skus), "skincare", float(rng.uniform(0, 300))))
        if rng.random() < 0.7:
            rows.append((c, rng.choice(["BEST-1", "BEST-2"]), "gift", float(rng.uniform(0, 300))))
    judged = evaluate(lines(rows))
    assert judged["customers"] > 200
    assert judged["hit_rate_5"] > judged["popular_hit_rate_5"] + 0.1
    assert judged["recall_10"] > judged["popular_recall_10"]
    assert evaluate(lines([(1, "A", "x", 200.0)]))["unavailable"]


@pytest.mark.django_db
def test_a_refresh_stores_recommendations_with_their_evaluation_and_a_log_without_skus_says_so(brand):
    run = ModelRunFactory(brand=brand, status="succeeded")
    cutoff = run.cutoff
    customers = [CustomerFactory(brand=brand) for _ in range(6)]
    for i, customer in enumerate(customers):
        order = OrderFactory(brand=brand, customer=customer, placed_at=cutoff - timedelta(days=60 + i))
        OrderItemFactory(brand=brand, order=order, sku="SERUM", category="skincare", line_no=1)
        OrderItemFactory(
            brand=brand, order=order, sku="TONER" if i % 2 else "MASK", category="skincare", line_no=2
        )
    summary = recommendations_compute(run=run)
    assert summary["customers_with_recommendations"] == 6
    stored = CustomerRecommendation.objects.get(run=run, customer=customers[0])
    assert stored.skus and stored.skus[0] == "TONER" and stored.categories == ["skincare"]
    assert "unavailable" in summary  # all purchases are older than the 30-day holdout: nothing to judge
    bare = ModelRunFactory(brand=CustomerFactory().brand, status="succeeded")
    OrderFactory(
        brand=bare.brand,
        customer=CustomerFactory(brand=bare.brand),
        placed_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    assert "no products" in recommendations_compute(run=bare)["unavailable"]
