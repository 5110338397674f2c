"""The prospects' first-purchase propensity (pure): it learns from viewing history what the "watched ≥ N
minutes" rule cannot see, is judged with AUC and calibration, and refuses to fit or judge on too little."""

import numpy as np
import pandas as pd
import pytest

from apps.analytics.survival import propensity


def prospects(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Prospects whose first purchase depends on interactions and community membership as much as on watch
    time: a watch-time threshold sees only part of it."""
    rng = np.random.default_rng(seed)
    watch = rng.gamma(2.0, 10.0, n)
    interactions = rng.poisson(2.0, n)
    community = rng.random(n) < 0.2
    logit = -3.0 + 0.03 * watch + 0.45 * interactions + 1.5 * community
    bought = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "streams": rng.integers(1, 5, n),
            "watch_minutes": watch,
            "max_watch_minutes": watch * 0.7,
            "interactions": interactions,
            "recent_views": rng.integers(0, 3, n),
            "days_since_last_view": rng.integers(0, 60, n),
            "days_since_first_view": rng.integers(0, 120, n),
            "in_community": community.astype(int),
        }
    )
    return frame, bought


def test_the_model_beats_the_watch_time_rule_on_held_out_prospects_and_is_calibrated():
    train, bought = prospects(4000, seed=1)
    test, truth = prospects(4000, seed=2)
    model = propensity.fit(train, bought)
    rule = propensity.watch_rule_fit(train, bought)
    assert rule.minutes in propensity.BASELINE_MINUTES and rule.rate_above > rule.rate_below
    judged, baseline = (
        propensity.judge(model.predict(test), truth),
        propensity.judge(rule.predict(test), truth),
    )
    assert judged["auc"] > baseline["auc"] + 0.05, (judged["auc"], baseline["auc"])
    assert judged["ece"] < 0.03 and abs(judged["predicted_rate"] - judged["actual_rate"]) < 0.02
    coefficients = model.to_dict()["coefficients"]
    assert coefficients["log_interactions"] > 0 and coefficients["in_community"] > 0


def test_too_few_first_purchases_refuse_to_fit_and_one_class_is_not_judged():
    frame, bought = prospects(300, seed=3)
    few = np.zeros(len(bought), dtype=bool)
    few[: propensity.MIN_POSITIVES - 1] = True
    with pytest.raises(ValueError, match="too few to fit"):
        propensity.fit(frame, few)
    nobody = propensity.judge(np.full(len(bought), 0.1), np.zeros(len(bought), dtype=bool))
    assert nobody["auc"] is None and nobody["reasons"]["auc"] == "one_class"
    empty = propensity.judge(np.zeros(0), np.zeros(0, dtype=bool))
    assert empty["auc"] is None and empty["reasons"]["auc"] == "no_prospects"


@pytest.mark.django_db
def test_prospect_frame_holds_the_viewers_who_never_bought_with_their_views_before_the_cutoff():
    """Who is a prospect at a cutoff and what is read of them: only viewers without a paid order before it
    (a refund or a cancellation does not make a buyer), only their views before it, and the label from the
    first paid order within the window after it."""
    from datetime import UTC, datetime, timedelta

    from apps.analytics.prospects import prospect_frame
    from tests.factories import (
        BrandFactory,
        CommunityMembershipFactory,
        CustomerFactory,
        OrderFactory,
        StreamFactory,
        StreamViewFactory,
    )

    brand = BrandFactory()
    cutoff = datetime(2026, 3, 1, tzinfo=UTC)
    early, late = (
        StreamFactory(brand=brand, started_at=cutoff - timedelta(days=40)),
        StreamFactory(brand=brand, started_at=cutoff - timedelta(days=10)),
    )
    after = StreamFactory(brand=brand, started_at=cutoff + timedelta(days=2))
    viewer, buyer, refunded, newcomer, converts = (CustomerFactory(brand=brand) for _ in range(5))
    StreamViewFactory(brand=brand, stream=early, customer=viewer, watch_seconds=600, comments=2)
    StreamViewFactory(brand=brand, stream=late, customer=viewer, watch_seconds=1200, likes=1)
    StreamViewFactory(brand=brand, stream=after, customer=viewer, watch_seconds=3000)  # after: not read
    StreamViewFactory(brand=brand, stream=late, customer=buyer)
    OrderFactory(brand=brand, customer=buyer, placed_at=cutoff - timedelta(days=5))
    StreamViewFactory(brand=brand, stream=late, customer=refunded)
    OrderFactory(brand=brand, customer=refunded, placed_at=cutoff - timedelta(days=5), status="refunded")
    StreamViewFactory(brand=brand, stream=after, customer=newcomer)  # first view after the cutoff
    StreamViewFactory(brand=brand, stream=early, customer=converts)
    OrderFactory(brand=brand, customer=converts, placed_at=cutoff + timedelta(days=20))
    CommunityMembershipFactory(brand=brand, customer=converts, joined_at=cutoff - timedelta(days=30))

    frame = prospect_frame(brand=brand, cutoff=cutoff, label_days=30).set_index("customer_id")
    assert sorted(frame.index) == sorted([viewer.pk, refunded.pk, converts.pk])
    row = frame.loc[viewer.pk]
    assert row["streams"] == 2 and float(row["watch_minutes"]) == pytest.approx(30.0)
    assert float(row["max_watch_minutes"]) == pytest.approx(20.0) and row["interactions"] == 3
    assert row["recent_views"] == 1 and float(row["days_since_last_view"]) == pytest.approx(10.0)
    assert float(row["days_since_first_view"]) == pytest.approx(40.0)
    assert not row["bought"] and not row["in_community"]
    assert frame.loc[converts.pk, "bought"] and frame.loc[converts.pk, "in_community"]
    assert not frame.loc[refunded.pk, "bought"]
    # a window that ends before the conversion labels nobody
    assert not prospect_frame(brand=brand, cutoff=cutoff, label_days=10)["bought"].any()
