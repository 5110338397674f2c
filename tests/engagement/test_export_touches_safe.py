"""export_touches writes ids, rule names and codes a spreadsheet would run as a formula (=, +, -, @, tab, CR)
behind a quote, with the customer list export's helper (CSV injection in Excel and WPS)."""

import csv
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from apps.engagement.models import Touch
from tests.factories import CustomerFactory, FollowupRuleFactory, OrderFactory, StreamFactory

pytestmark = pytest.mark.django_db

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_formula_like_cells_are_quoted_and_plain_ones_kept(brand, tmp_path):
    risky = CustomerFactory(brand=brand, external_id='=HYPERLINK("http://evil.example","x")')
    plain = CustomerFactory(brand=brand, external_id="C-1")
    stream = StreamFactory(brand=brand, external_id="@S1")
    rule = FollowupRuleFactory(brand=brand, name="+cmd|' /C calc'!A0")
    order = OrderFactory(brand=brand, customer=risky, external_id="-O1")
    for customer, minutes in ((risky, 0), (plain, 1)):
        Touch.objects.create(
            brand=brand,
            customer=customer,
            rule=rule,
            occasion="stream:1",
            stream=stream,
            channel="sms",
            scheduled_at=AT.replace(minute=minutes),
            window_ends_at=AT,
            send_hour=20,
            status="converted" if customer is risky else "sent",
            converted_order=order if customer is risky else None,
        )
    path = tmp_path / "touches.csv"
    call_command("export_touches", brand="acme", output=str(path))
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [
        (r["customer_id"], r["stream_id"], r["rule"], r["converted_order_id"], r["status"]) for r in rows
    ] == [
        ('\'=HYPERLINK("http://evil.example","x")', "'@S1", "'+cmd|' /C calc'!A0", "'-O1", "converted"),
        ("C-1", "'@S1", "'+cmd|' /C calc'!A0", "", "sent"),
    ]
    assert rows[0]["scheduled_at"] == "2026-05-01T20:00:00+08:00"  # times and flags are written as before
