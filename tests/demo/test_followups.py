"""The demo's follow-ups with a known effect: planned by the real planner, sent, played out by the simulation
(extra purchases within 72 hours for touched customers, none for the holdout), and the holdout comparison of
the results page covers the true effect."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from apps.brands.models import Brand
from apps.demo.followups import EXTRA_PREFIX, FollowupTruth, demo_followups
from apps.demo.models import DemoTruth
from apps.demo.services import demo_seed
from apps.engagement.models import Touch
from apps.engagement.results import results
from apps.orders.models import Order

pytestmark = pytest.mark.django_db

END = date(2026, 6, 30)


def test_the_measured_uplift_covers_the_true_effect_and_the_holdout_gets_no_touch():
    summary = demo_seed(slug="fu", customers=5000, seed=3, end_date=END)
    brand = Brand.objects.get(slug="fu")
    # a 20% holdout: enough held-out customers on 5,000 for the interval to exclude 0 whatever ids the
    # database hands out (they move with the tests that ran before, and the holdout is a hash of them)
    played = demo_followups(brand=brand, end=summary.end, seed=3, truth=FollowupTruth(holdout_percent=20.0))
    truth = DemoTruth.objects.get(brand=brand).params["followups"]
    assert truth == played and truth["touches_sent"] > 1000 and truth["extra_orders"] > 0
    total, by_rule = results(brand=brand, now=summary.end)
    assert total.control > 100 and total.treated > 1000
    # the holdout is a hash of database ids, which move with the tests that ran before: a 95% interval misses
    # the truth on 5% of id sets (it did in one CI run: 0.067 against an upper bound of 0.064), so the test
    # asks the 99.9% interval (z 3.29 instead of 1.96) to cover it
    centre, half = (total.uplift_low + total.uplift_high) / 2, (total.uplift_high - total.uplift_low) / 2
    assert abs(truth["true_uplift"] - centre) <= half * 3.29 / 1.96
    assert total.uplift_low > 0  # the effect is large enough to show on 5,000 customers
    # the holdout: never touched, no extra order
    held = Touch.objects.filter(brand=brand, holdout=True)
    assert held.exists() and not held.filter(sent_at__isnull=False).exists()
    extra = Order.objects.filter(brand=brand, external_id__startswith=EXTRA_PREFIX)
    assert extra.count() == truth["extra_orders"]
    assert (
        not extra.filter(customer__touches__holdout=True, customer__touches__sent_at__isnull=True)
        .exclude(customer__touches__sent_at__isnull=False)
        .exists()
    )
    # nothing is planned in quiet hours
    zone = ZoneInfo(brand.timezone)
    hours = {
        t.astimezone(zone).hour
        for t in Touch.objects.filter(brand=brand).values_list("scheduled_at", flat=True)
    }
    assert not hours & {22, 23, 0, 1, 2, 3, 4, 5, 6, 7}


def test_seed_demo_plays_the_followups_unless_told_not_to(capsys):
    call_command("seed_demo", brand="fu2", customers=800, seed=5, end=END)
    out = capsys.readouterr().out
    assert "touches sent" in out
    # tables by their names, not the models' labels ("streams.Stream")
    assert "  live streams: " in out and "streams.Stream" not in out
    assert Touch.objects.filter(brand__slug="fu2").exists()
    call_command("seed_demo", brand="fu2", customers=800, seed=5, end=END, no_followups=True)
    assert not Touch.objects.filter(brand__slug="fu2").exists()
    assert not Order.objects.filter(brand__slug="fu2", external_id__startswith=EXTRA_PREFIX).exists()
    assert datetime(2026, 6, 30) - timedelta(days=1) < datetime(2026, 6, 30)
