"""seed_demo end to end on PostgreSQL: rows, tiers, stored truth, determinism and replacement."""

from datetime import date
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from apps.brands.models import Brand
from apps.customers.models import Customer
from apps.demo.admin import DemoCustomerTruthAdmin
from apps.demo.models import DemoCustomerTruth, DemoTruth
from apps.demo.services import demo_seed
from apps.demo.simulation import DemoTruthParams
from apps.loyalty.models import BenefitGrant, Tier
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream, StreamView
from tests.factories import MembershipFactory, UserFactory

END = date(2026, 7, 1)
pytestmark = pytest.mark.django_db(transaction=False)


def _snapshot(brand):
    return {
        "customers": list(
            Customer.objects.filter(brand=brand)
            .order_by("external_id")
            .values_list("external_id", "phone", "first_seen_at", "acquisition_stream__external_id")
        ),
        "orders": list(
            Order.objects.filter(brand=brand)
            .order_by("external_id")
            .values_list("external_id", "customer__external_id", "placed_at", "status", "total_amount")
        ),
        "views": list(
            StreamView.objects.filter(brand=brand)
            .order_by("stream__external_id", "customer__external_id")
            .values_list(
                "stream__external_id", "customer__external_id", "joined_at", "watch_seconds", "likes"
            )
        ),
    }


def test_seed_demo_command_builds_a_brand_with_truth():
    out = StringIO()
    call_command(
        "seed_demo",
        "--customers",
        "400",
        "--seed",
        "3",
        "--brand",
        "demo-t",
        "--end",
        "2026-07-01",
        stdout=out,
    )
    brand = Brand.objects.get(slug="demo-t")
    assert brand.timezone == "Asia/Shanghai" and brand.currency == "CNY"
    assert Tier.objects.filter(brand=brand).count() == 3
    for model in (Customer, Stream, StreamView, Order, OrderItem, BenefitGrant, DemoCustomerTruth):
        assert model.objects.filter(brand=brand).exists(), model
    assert Customer.objects.filter(brand=brand).count() == 400
    truth = DemoTruth.objects.get(brand=brand)
    assert truth.seed == 3 and truth.n_customers == 400
    followups = truth.params.pop("followups")
    assert truth.params == DemoTruthParams().to_json()
    assert followups["true_uplift"] is not None and 0 < followups["true_uplift"] < 1, followups
    assert truth.params["hazard_ratios"] == {
        "community_member": 1.6,
        "engaged_5plus": 1.4,
        "log_watch_hours_30d": 1.25,
    }
    assert "demo-t" in out.getvalue()


def test_rerun_with_same_seed_replaces_rows_identically_and_another_seed_differs():
    demo_seed(slug="demo-r", customers=300, seed=9, end_date=END)
    brand = Brand.objects.get(slug="demo-r")
    first = _snapshot(brand)
    counts = {m: m.objects.filter(brand=brand).count() for m in (Customer, StreamView, Order, OrderItem)}

    demo_seed(slug="demo-r", customers=300, seed=9, end_date=END)
    assert _snapshot(brand) == first
    assert {m: m.objects.filter(brand=brand).count() for m in counts} == counts
    assert DemoTruth.objects.filter(brand=brand).count() == 1

    demo_seed(slug="demo-r", customers=200, seed=10, end_date=END)
    second = _snapshot(brand)
    assert second != first
    assert Customer.objects.filter(brand=brand).count() == 200
    assert DemoCustomerTruth.objects.filter(brand=brand).count() == 200
    assert Order.objects.filter(brand=brand).values("customer").distinct().count() < 200


def test_admin_shows_truth_only_to_superusers():
    demo_seed(slug="demo-a", customers=50, seed=1, end_date=END)
    demo_seed(slug="demo-b", customers=50, seed=2, end_date=END)
    member = UserFactory(username="member-a")
    MembershipFactory(user=member, brand=Brand.objects.get(slug="demo-a"))
    outsider = UserFactory(username="outsider")
    admin = DemoCustomerTruthAdmin(DemoCustomerTruth, None)
    request = RequestFactory().get("/")

    request.user = member  # brand staff: the answer key is not for them
    assert not admin.has_module_permission(request) and not admin.has_view_permission(request)
    assert not admin.get_queryset(request).exists()
    assert not admin.has_change_permission(request) and not admin.has_delete_permission(request)
    request.user = outsider
    assert not admin.has_module_permission(request)
    assert not admin.get_queryset(request).exists()
    request.user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123")
    assert admin.get_queryset(request).count() == 100


def test_a_new_brand_gets_its_periodic_tasks_and_its_manager_may_change_their_time():
    from django_celery_beat.models import PeriodicTask

    from apps.analytics.schedules import brand_periodic_tasks

    demo_seed(slug="demo-s", customers=30, seed=4, end_date=END)
    brand = Brand.objects.get(slug="demo-s")
    tasks = brand_periodic_tasks([brand.pk])
    assert tasks.exists() and all(t.enabled for t in tasks)
    assert PeriodicTask.objects.filter(name__icontains="send").exists()  # the shared senders too


def test_the_demo_never_replaces_a_brand_s_own_data(capsys):
    from django.core.management import CommandError, call_command

    from apps.demo.services import NotADemoBrand
    from tests.factories import BrandFactory, CustomerFactory, OrderFactory

    real = BrandFactory(slug="glow", currency="USD")
    person = CustomerFactory(brand=real, external_id="REAL1")
    order = OrderFactory(brand=real, customer=person, external_id="REALO1")
    with pytest.raises(NotADemoBrand, match="Brand glow holds data the demo did not make"):
        demo_seed(slug="glow", customers=5, seed=1, end_date=END)
    with pytest.raises(CommandError, match="pick another slug"):
        call_command("seed_demo", brand="glow", customers=5, no_followups=True)
    real.refresh_from_db()
    assert real.currency == "USD"
    assert list(Customer.objects.filter(brand=real)) == [person] and Order.objects.get(brand=real) == order
    # an empty brand, and a demo brand again, are seeded
    BrandFactory(slug="empty")
    demo_seed(slug="empty", customers=5, seed=1, end_date=END)
    demo_seed(slug="empty", customers=6, seed=2, end_date=END)
    assert Customer.objects.filter(brand__slug="empty").count() == 6
