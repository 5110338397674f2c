"""After an erasure, no text, varchar, json or jsonb column of any table in the database holds the person's name,
phone, e-mail, external id or WeChat id (in any of the forms they are written in: as is, escaped in JSON,
percent-encoded); and the rows that belong to them, which the brand's figures need, are all still there."""

import pytest
from django.urls import reverse

from apps.analytics.models import DashboardSnapshot
from apps.audit.models import AuditEvent
from apps.customers.models import Customer
from apps.loyalty.models import BenefitGrant
from tests.customers.erasure_world import FRIEND_PHONE, PERSON, build_world, figures, pii_hits

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:customers_customer_changelist")


def test_after_erasure_no_column_of_any_table_holds_the_person(brand, other_brand, manager, client, tmp_path):
    world = build_world(brand, tmp_path, manager)
    before = pii_hits(PERSON)
    # The scan sees every copy the issue reported, and the others the product kept.
    places = {(table, what) for table, _column, what in before}
    assert {
        ("customers_customer", "name"),
        ("customers_customer", "phone"),
        ("customers_customer", "email"),
        ("customers_customer", "external_id"),
        ("loyalty_benefitgrant", "name"),
        ("loyalty_benefitgrant", "phone"),
        ("loyalty_benefitgrant", "wechat"),
        ("engagement_touch", "phone"),
        ("engagement_channeloptout", "wechat"),
        ("audit_auditevent", "wechat"),
        ("django_admin_log", "external_id"),
        ("customers_exportjob", "phone"),
        ("customers_exportjob", "name"),
        ("analytics_dashboardsnapshot", "external_id"),
    } <= places
    numbers = figures(brand)

    client.force_login(manager)
    selection = {"action": "erase_personal_data", "_selected_action": [world.person.pk]}
    asked = client.post(CHANGELIST, {**selection, "index": 0})
    assert asked.status_code == 200 and 'id="erase-form"' in asked.content.decode()
    response = client.post(CHANGELIST, {**selection, "post": "yes"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Erased the personal data of 1 customer."]

    assert pii_hits(PERSON) == []
    # Everything the figures need stayed, on the same customer.
    assert figures(brand) == numbers
    # Other customers keep their data; their notes lose only the mention of the person.
    assert ("customers_customer", "phone", "friend") in pii_hits({"friend": FRIEND_PHONE})
    friend_note = BenefitGrant.objects.get(customer=world.friend).note
    assert friend_note == "朋友 [erased] 推荐 ([erased], [erased])"
    # The erasure is in the audit trail, with who and what, and no personal data.
    event = AuditEvent.objects.get(action="erased")
    assert (event.object_type, event.object_id, event.actor_label) == ("customer", world.person.pk, "mona")
    assert event.changes["loyalty.benefitgrant.note"] == [None, 1]
    assert event.changes["engagement.touch.last_error"] == [None, 1]
    assert event.changes["engagement.channeloptout.source"] == [None, 1]
    assert event.changes["mentions in other customers' notes"] == [None, 1]
    assert event.changes["export searches withheld"] == [None, 2]
    # The dashboard's snapshot listed the person's old id: it is recomputed when next read.
    assert not DashboardSnapshot.objects.filter(brand=brand).exists()
    assert Customer.objects.get(pk=world.person.pk).erased_at is not None
