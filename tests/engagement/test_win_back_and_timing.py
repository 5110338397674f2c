"""Win-back: who enters it at a refresh (the at-risk list, the decline stage; only newcomers when there is a
previous run) and their touches; and the send hour learned from clicks once there are enough of them."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.engagement import selectors
from apps.engagement.models import Touch
from apps.engagement.planning import win_back_plan
from tests.factories import CustomerFactory, CustomerScoreFactory, FollowupRuleFactory, ModelRunFactory

pytestmark = pytest.mark.django_db

PUBLISHED = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def score(run, customer, **fields):
    return CustomerScoreFactory(brand=run.brand, run=run, customer=customer, **fields)


def test_at_risk_and_declining_customers_enter_win_back_once_and_get_a_touch(shop):
    brand = shop.brand
    rule = FollowupRuleFactory(
        brand=brand,
        trigger="win_back",
        audience="everyone",
        channels=["sms"],
        benefit=None,
        delay_min_hours=Decimal("0"),
        delay_max_hours=Decimal("6"),
    )
    valuable, declining, calm = (CustomerFactory(brand=brand, marketing_consent=True) for _ in range(3))
    previous = ModelRunFactory(
        brand=brand,
        status="superseded",
        as_of=datetime(2026, 2, 28).date(),
        published_at=PUBLISHED - timedelta(days=30),
    )
    run = ModelRunFactory(brand=brand, published_at=PUBLISHED)
    # the valuable customer was already at risk at the previous run: not a newcomer then
    score(previous, valuable, value_percentile=95, churn_probability=0.8)
    score(run, valuable, value_percentile=95, churn_probability=0.8)
    score(run, declining, stage="decline", value_percentile=30, churn_probability=0.5)
    score(run, calm, value_percentile=95, churn_probability=0.1)
    from apps.analytics.models import StageChange

    StageChange.objects.create(
        brand=brand,
        run=run,
        customer=declining,
        from_stage="maturity",
        to_stage="decline",
        changed_on=PUBLISHED.date(),
    )
    assert selectors.win_back_entrants(run=run, previous=previous) == [declining.pk]
    assert selectors.win_back_entrants(run=run) == sorted([valuable.pk, declining.pk])
    result = win_back_plan(brand=brand, run=run, customer_ids=[valuable.pk, declining.pk], now=PUBLISHED)
    touches = Touch.objects.filter(brand=brand, rule=rule).order_by("customer_id")
    assert result.occasion == f"run:{run.pk}" and touches.count() == 2
    assert [(t.status, t.reason) for t in touches] == [("planned", "")] * 2 and {
        t.scheduled_at for t in touches
    } == {PUBLISHED}
    # planning the same run again adds nobody
    assert win_back_plan(brand=brand, run=run, customer_ids=[valuable.pk], now=PUBLISHED).written == 0


def test_the_send_hour_is_learned_from_clicks_once_there_are_enough(shop):
    brand, rule = shop.brand, shop.rule
    customer = CustomerFactory(brand=brand)

    def clicked(hour: int, n: int, converted: int):
        for i in range(n):
            at = datetime(2026, 4, 1, tzinfo=UTC) + timedelta(days=i)
            Touch.objects.create(
                brand=brand,
                customer=customer,
                rule=rule,
                occasion=f"stream:{hour}:{i}",
                stage="prospect",
                scheduled_at=at,
                window_ends_at=at + timedelta(hours=72),
                send_hour=hour,
                status="clicked",
                clicked_at=at,
                converted_at=at if i < converted else None,
            )

    clicked(20, 10, 6)  # the best rate, but only 10 clicks
    clicked(9, 30, 3)
    clicked(12, 30, 9)
    evidence = selectors.send_hour_evidence(brand=brand)
    assert sorted(evidence["send_hour"].tolist()) == [9, 12, 20]
    assert selectors.learned_send_hours(brand=brand, min_clicks=30) == {"prospect": 12}
    assert selectors.learned_send_hours(brand=brand, min_clicks=10) == {"prospect": 20}
    assert selectors.learned_send_hours(brand=brand, min_clicks=31) == {}
