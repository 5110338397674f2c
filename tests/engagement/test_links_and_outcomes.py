"""The tracked link (signature, expiry, one click), delivery receipts, attribution of orders to touches, the
holdout comparison with its intervals, and the CSV export."""

import csv
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signing
from django.core.management import call_command
from django.urls import reverse

from apps.engagement.attribution import touches_attribute
from apps.engagement.delivery import sign
from apps.engagement.models import Touch
from apps.engagement.planning import followups_plan
from apps.engagement.results import newcombe, results, wilson
from apps.engagement.sending import touches_send_due
from apps.engagement.services import click_token
from tests.factories import OrderFactory
from tests.scenarios import FOLLOWUP_ENDED as ENDED
from tests.scenarios import FOLLOWUP_PLANNED_AT as NOON_AFTER

pytestmark = pytest.mark.django_db

SEND_AT = ENDED + timedelta(hours=6, minutes=1)


@pytest.fixture
def sent(shop):
    """Three viewers with sent touches."""
    customers = [shop.viewer() for _ in range(3)]
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    touches_send_due(brand=shop.brand, now=SEND_AT)
    return customers


def test_a_click_is_recorded_once_and_leads_to_the_rule_link(client, shop, sent):
    shop.rule.link_url = "https://shop.example.com/live"
    shop.rule.save()
    touch = Touch.objects.get(customer=sent[0])
    url = reverse("engagement_click", args=[click_token(touch.brand_id, touch.key)])
    response = client.get(url)
    assert (response.status_code, response["Location"]) == (302, "https://shop.example.com/live")
    touch.refresh_from_db()
    first = touch.clicked_at
    assert touch.status == "clicked" and first is not None
    client.get(url)
    touch.refresh_from_db()
    assert touch.clicked_at == first  # the first click counts


def test_an_altered_link_is_refused_and_an_old_one_has_expired(client, shop, sent, monkeypatch):
    touch = Touch.objects.get(customer=sent[0])
    token = click_token(touch.brand_id, touch.key)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.get(reverse("engagement_click", args=[forged]))
    assert response.status_code == 404 and "not valid" in response.content.decode()
    later = time.time() + 15 * 86400  # the policy's links last 14 days
    monkeypatch.setattr(signing.time, "time", lambda: later)
    response = client.get(reverse("engagement_click", args=[token]))
    assert response.status_code == 410 and "expired" in response.content.decode()
    touch.refresh_from_db()
    assert touch.clicked_at is None


def test_a_signed_receipt_marks_delivery_and_an_unsigned_one_is_refused(client, shop, sent):
    shop.policy.webhook_secret = "s3cret"
    shop.policy.save()
    touch = Touch.objects.get(customer=sent[0])
    body = json.dumps({"brand": "acme", "key": str(touch.key), "status": "delivered"}).encode()
    stamp = str(int(time.time()))

    def post(signature, payload=body):
        return client.post(
            reverse("engagement_receipt"),
            payload,
            content_type="application/json",
            headers={"X-CLV-Timestamp": stamp, "X-CLV-Signature": signature},
        )

    assert post("sha256=" + "0" * 64).status_code == 401
    response = post("sha256=" + sign("s3cret", stamp, body))
    assert response.json() == {"key": str(touch.key), "status": "delivered"}
    assert post("x", payload=b"not json").status_code == 400
    unknown = json.dumps(
        {"brand": "acme", "key": "00000000-0000-0000-0000-000000000000", "status": "delivered"}
    )
    assert (
        post("sha256=" + sign("s3cret", stamp, unknown.encode()), payload=unknown.encode()).status_code == 404
    )
    elsewhere = json.dumps({"brand": "rival", "key": str(touch.key), "status": "delivered"}).encode()
    assert post("x", payload=elsewhere).status_code == 404


def test_an_order_within_the_window_converts_the_latest_touch_once(shop, sent):
    first, second, third = sent
    OrderFactory(
        brand=shop.brand, customer=first, placed_at=SEND_AT + timedelta(hours=5), total_amount=Decimal("120")
    )
    OrderFactory(brand=shop.brand, customer=first, placed_at=SEND_AT + timedelta(hours=9))
    OrderFactory(brand=shop.brand, customer=second, placed_at=SEND_AT + timedelta(hours=73))  # too late
    OrderFactory(brand=shop.brand, customer=third, placed_at=SEND_AT - timedelta(hours=1))  # before the touch
    now = SEND_AT + timedelta(days=4)
    assert touches_attribute(brand=shop.brand, now=now) == 1
    touch = Touch.objects.get(customer=first)
    assert (touch.status, touch.converted_amount, touch.converted_at) == (
        "converted",
        Decimal("120.00"),
        SEND_AT + timedelta(hours=5),
    )
    assert touches_attribute(brand=shop.brand, now=now) == 0  # idempotent
    assert set(Touch.objects.exclude(customer=first).values_list("status", flat=True)) == {"sent"}


def test_touched_against_holdout_with_the_difference_and_its_interval(shop):
    shop.policy.holdout_percent = Decimal("50")
    shop.policy.save()
    customers = [shop.viewer() for _ in range(200)]
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    touches_send_due(brand=shop.brand, now=SEND_AT)
    touched = set(Touch.objects.filter(holdout=False).values_list("customer_id", flat=True))
    # about 30% of touched and 10% of held-out customers buy within 72 hours of the planned time
    arms = {
        True: [c for c in customers if c.pk in touched],
        False: [c for c in customers if c.pk not in touched],
    }
    buyers = {True: 0, False: 0}
    for arm, share in ((True, 3), (False, 1)):
        for i, customer in enumerate(arms[arm]):
            if i % 10 < share:
                OrderFactory(brand=shop.brand, customer=customer, placed_at=SEND_AT + timedelta(hours=10))
                buyers[arm] += 1
    # before the window has passed nothing is judged
    early, _ = results(brand=shop.brand, now=SEND_AT + timedelta(hours=20))
    assert (early.treated, early.control, early.reason) == (0, 0, "no_treated")
    total, by_rule = results(brand=shop.brand, now=SEND_AT + timedelta(days=4))
    assert (total.treated, total.control) == (len(arms[True]), len(arms[False]))
    assert (total.treated_conversions, total.control_conversions) == (buyers[True], buyers[False])
    assert total.treated_rate == buyers[True] / len(arms[True])
    assert total.control_rate == buyers[False] / len(arms[False])
    assert total.uplift_low < total.uplift < total.uplift_high and total.significant
    assert total.revenue_uplift == pytest.approx(99 * (total.treated_rate - total.control_rate))
    assert [r.key for r in by_rule] == [shop.rule.pk]


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Table II example (e): 56/70 − 48/80, method 10: 0.0524 to 0.3339
    d, low, high = newcombe(56, 70, 48, 80)
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)
    low, high = wilson(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and round(high, 4) == 0.2775


def test_export_writes_the_agreed_columns_with_external_ids_and_offsets(shop, sent, tmp_path):
    OrderFactory(
        brand=shop.brand, customer=sent[0], external_id="ORD-1", placed_at=SEND_AT + timedelta(hours=1)
    )
    touches_attribute(brand=shop.brand, now=SEND_AT + timedelta(days=4))
    path = tmp_path / "touches.csv"
    call_command("export_touches", brand="acme", output=str(path))
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == [
        "customer_id",
        "stream_id",
        "rule",
        "channel",
        "scheduled_at",
        "status",
        "reason",
        "holdout",
        "sent_at",
        "converted_order_id",
    ]
    mine = next(r for r in rows if r["customer_id"] == sent[0].external_id)
    assert mine == {
        "customer_id": sent[0].external_id,
        "stream_id": "S1",
        "rule": "viewers",
        "channel": "sms",
        "scheduled_at": "2026-05-01T18:00:00+08:00",
        "status": "converted",
        "reason": "",
        "holdout": "false",
        "sent_at": "2026-05-01T18:01:00+08:00",
        "converted_order_id": "ORD-1",
    }


def test_a_template_offers_the_customers_recommended_category(shop):
    from apps.analytics.models import CustomerRecommendation
    from tests.factories import ModelRunFactory

    template = shop.rule.template
    template.body = "New in {recommendation} for you: {link}"
    template.save()
    fan, stranger = shop.viewer(), shop.viewer()
    run = ModelRunFactory(brand=shop.brand)
    CustomerRecommendation.objects.create(
        brand=shop.brand,
        run=run,
        customer=fan,
        skus=["SK-1"],
        sku_categories=["skincare"],
        scores=[1.0],
        categories=["skincare", "beauty"],
    )
    sent_messages = []

    class Recording:
        def send(self, messages):
            from apps.engagement.delivery import Outcome

            sent_messages.extend(messages)
            return [Outcome(key=m.key, ok=True, attempts=1) for m in messages]

    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    touches_send_due(brand=shop.brand, now=SEND_AT, backends=lambda policy, kind: Recording())
    bodies = {m.customer_id: m.body for m in sent_messages}
    assert bodies[fan.external_id].startswith("New in skincare for you:")
    assert bodies[stranger.external_id].startswith(
        "New in  for you:"
    )  # no recommendation: the placeholder is empty
