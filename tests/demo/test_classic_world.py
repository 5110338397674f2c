"""The world of classic shapes (seed_demo --world classic): one acquisition cohort, mostly one-time buyers,
same-day repeat orders, optionally no amounts; its true parameters are stored and the classic models fitted on
what it wrote recover them."""

from datetime import date

import pytest
from django.core.management import call_command

from apps.analytics import selectors
from apps.analytics.survival.classic import fit_bgnbd, fit_gamma_gamma
from apps.brands.models import Brand
from apps.demo.classic_world import ClassicWorldParams
from apps.demo.models import DemoTruth
from apps.demo.services import demo_seed
from apps.orders.models import Order

pytestmark = pytest.mark.django_db

END = date(2026, 6, 30)


def test_the_classic_models_recover_the_stored_truth():
    truth = ClassicWorldParams(r=0.4, alpha=15.0, a=0.7, b=2.5, same_day_share=0.0, cohort_days=60)
    demo_seed(slug="bgnbd", customers=6000, seed=9, end_date=END, classic=truth)
    brand = Brand.objects.get(slug="bgnbd")
    stored = DemoTruth.objects.get(brand=brand).params
    assert stored["world"] == "classic" and stored["r"] == 0.4 and stored["process"] == "bgnbd"
    history = selectors.classic_frame(brand=brand, cutoff=selectors.cutoff_for(brand, END))
    fitted = fit_bgnbd(history["x"], history["t_x"], history["T"])
    assert fitted.r == pytest.approx(truth.r, rel=0.15)
    assert fitted.alpha == pytest.approx(truth.alpha, rel=0.2)
    assert fitted.a == pytest.approx(truth.a, rel=0.25)
    spend = fit_gamma_gamma(history["x"] + 1, history["mean_spend"])
    assert spend.p == pytest.approx(truth.spend_p, rel=0.25)


def test_its_shapes_are_those_of_real_logs():
    demo_seed(
        slug="shapes", customers=3000, seed=4, end_date=END, classic=ClassicWorldParams(same_day_share=0.2)
    )
    brand = Brand.objects.get(slug="shapes")
    history = selectors.classic_frame(brand=brand, cutoff=selectors.cutoff_for(brand, END))
    first_days = (history["T"].max() - history["T"]).max()
    assert first_days <= 90  # one cohort: every first purchase in the first 90 days
    assert (history["x"] == 0).mean() > 0.4  # mostly one-time buyers
    orders = Order.objects.filter(brand=brand)
    days = {(o.customer_id, o.placed_at.date()) for o in orders.only("customer_id", "placed_at")}
    assert orders.count() > len(days)  # several orders on one day


def test_the_command_seeds_a_log_without_amounts(capsys):
    call_command(
        "seed_demo",
        "--world",
        "classic",
        "--no-amounts",
        "--customers",
        "300",
        "--brand",
        "noamounts",
        "--end",
        "2026-06-30",
    )
    brand = Brand.objects.get(slug="noamounts")
    assert Order.objects.filter(brand=brand).exists()
    assert not Order.objects.filter(brand=brand, total_amount__gt=0).exists()
    assert DemoTruth.objects.get(brand=brand).params["amounts"] is False
