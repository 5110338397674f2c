"""The action layer in the admin, as brand staff use it: rules with the preview of a past stream, the
contact policy with a write-only secret, the read-only touch log and the results page; another brand's rows
are not found."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.engagement.models import ContactPolicy, FollowupRule, Touch
from apps.engagement.planning import followups_plan
from apps.engagement.sending import touches_send_due
from tests.admin.conftest import change_url, changelist_url, form_data, staff
from tests.factories import FollowupRuleFactory, OrderFactory
from tests.scenarios import FOLLOWUP_ENDED as ENDED
from tests.scenarios import FOLLOWUP_PLANNED_AT as NOON_AFTER

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client, shop):
    client.force_login(staff("acme-manager", (shop.brand, "manager")))
    return client


def test_the_preview_shows_who_a_past_stream_would_reach_and_why_not_the_others(manager, shop):
    shop.viewer()
    shop.viewer(consent=False)
    shop.viewer(watch_seconds=30)
    shop.rule.min_watch_minutes = 5
    shop.rule.save()
    url = reverse("admin:engagement_followuprule_preview", args=[shop.rule.pk])
    response = manager.get(url, {"stream": shop.stream.pk})
    assert response.status_code == 200
    summary = dict(response.context["summary"])
    assert summary == {"Would be touched": 1, "No marketing consent": 1, "Watched too briefly": 1}
    assert len(response.context["rows"]) == 3
    # channels by name, as the rule list shows them (the codes 'wecom', 'app_push' showed)
    from apps.engagement.models import Channel

    channels = {r["channel"] for r in response.context["rows"]} - {""}
    assert channels and channels <= {str(label) for _code, label in Channel.choices}
    assert not Touch.objects.exists()  # nothing written
    # the rule page links to it
    assert url in manager.get(change_url(shop.rule)).content.decode()


def test_a_rule_is_edited_with_channels_in_order_and_a_bad_channel_is_named(manager, shop):
    response = manager.get(change_url(shop.rule))
    data = form_data(response)
    data.update({"channels": "wecom, sms", "stages": ["prospect", "decline"]})
    assert manager.post(change_url(shop.rule), data).status_code == 302
    shop.rule.refresh_from_db()
    assert (shop.rule.channels, shop.rule.stages) == (["wecom", "sms"], ["prospect", "decline"])
    data["channels"] = "wecom, fax"
    response = manager.post(change_url(shop.rule), data)
    assert response.status_code == 200
    assert "Unknown channel(s): fax" in str(response.context["adminform"].form.errors)


def test_the_contact_policy_never_shows_the_secret_and_keeps_it_when_left_empty(manager, shop):
    shop.policy.gateway, shop.policy.webhook_url, shop.policy.webhook_secret = (
        "webhook",
        "https://gw.example.com/send",
        "top-secret",
    )
    shop.policy.save()
    response = manager.get(change_url(shop.policy))
    assert "top-secret" not in response.content.decode()
    data = form_data(response)
    data.update({"webhook_secret": "", "cap_72h": "3"})
    assert manager.post(change_url(shop.policy), data).status_code == 302
    policy = ContactPolicy.objects.get(pk=shop.policy.pk)
    assert (policy.webhook_secret, policy.cap_72h) == ("top-secret", 3)


def test_the_touch_log_is_read_only_and_the_results_page_compares_with_the_holdout(manager, shop):
    shop.policy.holdout_percent = Decimal("50")
    shop.policy.save()
    customers = [shop.viewer() for _ in range(20)]
    followups_plan(brand=shop.brand, stream=shop.stream, now=NOON_AFTER)
    touches_send_due(brand=shop.brand, now=ENDED + timedelta(hours=7))
    OrderFactory(brand=shop.brand, customer=customers[0], placed_at=ENDED + timedelta(hours=10))
    log = manager.get(changelist_url(Touch))
    assert log.status_code == 200 and reverse("admin:engagement_touch_results") in log.content.decode()
    touch = Touch.objects.first()
    assert manager.post(change_url(touch), {}).status_code == 403
    page = manager.get(reverse("admin:engagement_touch_results"), {"by": "channel"})
    assert page.status_code == 200
    assert page.context["total"].treated + page.context["total"].control == 20
    assert "<svg" in page.content.decode()


def test_another_brands_rule_is_not_found(client, shop, other_brand):
    rival_rule = FollowupRuleFactory(brand=other_brand)
    client.force_login(staff("acme-viewer", (shop.brand, "viewer")))
    assert client.get(change_url(rival_rule)).status_code == 404
    preview = reverse("admin:engagement_followuprule_preview", args=[rival_rule.pk])
    assert client.get(preview).status_code == 404
    assert FollowupRule.objects.count() == 2


def test_churn_thresholds_are_typed_as_percentages_and_stored_as_before(manager, shop):
    shop.rule.min_churn_probability = Decimal("0.4")
    shop.rule.save()
    response = manager.get(change_url(shop.rule))
    assert response.context["adminform"].form["min_churn_probability"].value() == "40"
    assert 'value="40"' in response.content.decode()
    data = form_data(response)  # re-submitted as shown: 40 (%)
    data.update({"max_churn_probability": "72.5"})
    assert manager.post(change_url(shop.rule), data).status_code == 302
    shop.rule.refresh_from_db()
    assert (shop.rule.min_churn_probability, shop.rule.max_churn_probability) == (
        Decimal("0.400"),
        Decimal("0.725"),
    )
    # 70 is 70%, not a digit too many; out of range or too precise is said so, on the field
    for typed, message in (
        ("170", "Enter a percentage from 0 to 100 (70 means 70%)."),
        ("-5", "Enter a percentage from 0 to 100 (70 means 70%)."),
        ("seventy", "Enter a percentage from 0 to 100 (70 means 70%)."),
        ("70.55", "Use at most one decimal place"),
    ):
        data["max_churn_probability"] = typed
        response = manager.post(change_url(shop.rule), data)
        assert response.status_code == 200, typed
        assert message in str(response.context["adminform"].form.errors["max_churn_probability"]), typed
    data["max_churn_probability"] = "30"  # below the lower bound: the service names the field
    response = manager.post(change_url(shop.rule), data)
    assert "The upper churn bound is below the lower one." in str(response.context["adminform"].form.errors)
    shop.rule.refresh_from_db()
    assert shop.rule.max_churn_probability == Decimal("0.725")


def test_the_preview_opens_at_its_results_and_says_first_how_many_would_be_touched(manager, shop):
    shop.viewer()
    shop.viewer(consent=False)
    url = reverse("admin:engagement_followuprule_preview", args=[shop.rule.pk])
    assert f'href="{url}#preview-results"' in manager.get(change_url(shop.rule)).content.decode()
    page = manager.get(url, {"stream": shop.stream.pk}).content.decode()
    assert 'action="#preview-results"' in page  # choosing another stream lands on the results too
    results = page.index('id="preview-results"')
    assert results < page.index("1 of 2 would be touched.") < page.index('id="preview-summary"')
