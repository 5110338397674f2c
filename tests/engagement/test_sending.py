"""Sending: the signed webhook against a local gateway (timeouts, retries with backoff, no double send under a
retry, refusals), the guards checked again at send time, statuses, benefits, e-mail and the console."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from apps.engagement.delivery import Message, WebhookBackend
from apps.engagement.models import Touch
from apps.engagement.planning import followups_plan
from apps.engagement.sending import touches_send_due
from apps.engagement.services import channel_opt_out
from tests.engagement.gateway import Gateway
from tests.factories import BenefitFactory, MessageTemplateFactory, OrderFactory
from tests.scenarios import FOLLOWUP_ENDED as ENDED
from tests.scenarios import FOLLOWUP_PLANNED_AT as NOON_AFTER

pytestmark = pytest.mark.django_db

SEND_AT = ENDED + timedelta(hours=6, minutes=1)  # just after the planned 18:00
SECRET = "s3cret"


def message(key="k1"):
    return Message(
        key=key, brand="acme", channel="sms", customer_id="C1", to="", subject="", body="hi", link=""
    )


def test_a_timeout_is_retried_with_the_same_key_and_the_gateway_sends_once():
    sleeps = []
    with Gateway(SECRET) as gateway:
        gateway.slow_first = {"k1"}
        gateway.delay = 1.5
        backend = WebhookBackend(
            url=gateway.url, secret=SECRET, timeout=0.5, max_attempts=3, sleep=sleeps.append
        )
        [outcome] = backend.send([message("k1")])
    assert (outcome.ok, outcome.attempts) == (True, 2)
    assert [r["key"] for r in gateway.requests] == ["k1", "k1"]
    assert list(gateway.sent) == ["k1"]  # the retry did not send twice
    assert sleeps == [0.5]  # backoff before the second attempt
    assert gateway.bad_signatures == 0


def test_server_errors_back_off_exponentially_and_give_up_after_the_last_attempt():
    sleeps = []
    with Gateway(SECRET) as gateway:
        gateway.fail_first = {"k1"}
        backend = WebhookBackend(url=gateway.url, secret=SECRET, max_attempts=3, sleep=sleeps.append)
        [recovered] = backend.send([message("k1")])
        down = WebhookBackend(
            url="http://127.0.0.1:9/unreachable", secret=SECRET, max_attempts=3, sleep=sleeps.append
        )
        [lost] = down.send([message("k2")])
    assert (recovered.ok, recovered.attempts) == (True, 2)
    assert (lost.ok, lost.attempts, lost.rejected) == (False, 3, False)
    assert lost.error  # a short technical reason
    assert sleeps == [0.5, 0.5, 1.0]


def test_a_refusal_is_not_retried_and_a_wrong_secret_is_refused():
    with Gateway(SECRET) as gateway:
        gateway.refuse = {"k1"}
        [refused] = WebhookBackend(url=gateway.url, secret=SECRET, sleep=lambda s: None).send([message("k1")])
        [forged] = WebhookBackend(url=gateway.url, secret="wrong", sleep=lambda s: None).send([message("k2")])
    assert (refused.ok, refused.rejected, refused.attempts, refused.error) == (False, True, 1, "HTTP 400")
    assert (forged.ok, forged.rejected) == (False, True)
    assert gateway.bad_signatures == 1 and not gateway.sent


def test_due_touches_go_out_through_the_brand_webhook_and_are_recorded(shop):
    customers = [shop.viewer() for _ in range(5)]
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    with Gateway(SECRET) as gateway:
        shop.policy.gateway, shop.policy.webhook_url, shop.policy.webhook_secret = (
            "webhook",
            gateway.url,
            SECRET,
        )
        shop.policy.save()
        assert touches_send_due(brand=shop.brand, now=ENDED + timedelta(hours=5)).claimed == 0  # not due yet
        result = touches_send_due(brand=shop.brand, now=SEND_AT)
    assert (result.claimed, result.sent, result.failed) == (5, 5, 0)
    assert Touch.objects.filter(status="sent", sent_at=SEND_AT, attempts=1).count() == 5
    payloads = list(gateway.sent.values())
    assert {p["customer_id"] for p in payloads} == {c.external_id for c in customers}
    # no personal data leaves: the gateway resolves the customer from the brand's id
    assert not any(c.phone in str(p) or c.display_name in str(p) for c in customers for p in payloads)
    assert all(p["link"].startswith("http://127.0.0.1:8000/r/") for p in payloads)
    assert all(p["body"].startswith(f"Thanks for watching {shop.stream.title}!") for p in payloads)
    # sending again finds nothing due: nothing goes out twice
    assert touches_send_due(brand=shop.brand, now=SEND_AT + timedelta(minutes=5)).claimed == 0


def test_guards_run_again_at_send_time(shop):
    opted = shop.viewer()
    bought = shop.viewer()
    revoked = shop.viewer()
    fine = shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    channel_opt_out(brand=shop.brand, customer=opted, channel="")
    OrderFactory(brand=shop.brand, customer=bought, placed_at=ENDED + timedelta(hours=2))
    revoked.marketing_consent = False
    revoked.save()
    result = touches_send_due(brand=shop.brand, now=SEND_AT)
    assert result.sent == 1 and result.suppressed == {"opted_out": 1, "already_bought": 1, "no_consent": 1}
    got = {t.customer_id: (t.status, t.reason) for t in Touch.objects.all()}
    assert got == {
        opted.pk: ("suppressed", "opted_out"),
        bought.pk: ("suppressed", "already_bought"),
        revoked.pk: ("suppressed", "no_consent"),
        fine.pk: ("sent", ""),
    }


def test_a_late_worker_moves_a_touch_out_of_quiet_hours_or_drops_it_when_the_window_closed(shop):
    customer = shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    touch = Touch.objects.get(customer=customer)
    night = ENDED + timedelta(hours=11)  # 23:00 local
    result = touches_send_due(brand=shop.brand, now=night)
    touch.refresh_from_db()
    assert result.rescheduled == 1 and touch.status == "planned"
    assert touch.scheduled_at == ENDED + timedelta(hours=20)  # 08:00 the next morning
    closed = ENDED + timedelta(hours=73)
    touches_send_due(brand=shop.brand, now=closed)
    touch.refresh_from_db()
    assert (touch.status, touch.reason) == ("suppressed", "window_passed")


def test_a_raised_holdout_and_an_archived_rule_hold_back_touches_already_planned(shop):
    customers = [shop.viewer() for _ in range(30)]
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    shop.policy.holdout_percent = Decimal("50")
    shop.policy.save()
    touches_send_due(brand=shop.brand, now=SEND_AT)
    held = Touch.objects.filter(reason="holdout")
    assert 3 <= held.count() <= 27 and all(t.holdout for t in held)
    assert len(customers) == 30


def test_the_rule_benefit_is_granted_with_a_sent_touch(shop):
    coupon = BenefitFactory(brand=shop.brand, code="coupon", validity_days=7)
    shop.rule.benefit = coupon
    shop.rule.save()
    customer = shop.viewer()
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    result = touches_send_due(brand=shop.brand, now=SEND_AT)
    touch = Touch.objects.get(customer=customer)
    assert result.grants == 1
    assert (touch.benefit_grant.benefit, touch.benefit_grant.source, touch.benefit_grant.customer) == (
        coupon,
        "campaign",
        customer,
    )


def test_email_touches_use_the_email_backend_in_the_template_language(shop, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    shop.rule.channels = ["email"]
    shop.rule.template = MessageTemplateFactory(
        brand=shop.brand,
        language="zh-hans",
        subject="Your offer from {brand}",
        body="Thanks for watching {stream} with {brand}! Your exclusive offer is waiting for you: {link}",
    )
    shop.rule.save()
    customer = shop.viewer(email="ling@example.com")
    shop.viewer(email="")  # no address: no channel
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    touches_send_due(brand=shop.brand, now=SEND_AT)
    [sent] = mail.outbox
    assert sent.to == ["ling@example.com"]
    assert sent.subject == f"来自{shop.brand.name}的专属优惠"
    assert shop.stream.title in sent.body and "/r/" in sent.body
    assert Touch.objects.get(customer=customer).status == "sent"
    assert Touch.objects.exclude(customer=customer).get().reason == "no_channel"
