"""A brand ready for follow-ups: contact policy (no holdout unless a test sets one), one viewer rule on SMS,
and a stream that ended at 12:00 Shanghai time (04:00 UTC) on 2026-05-01."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from apps.engagement.services import contact_policy_ensure
from tests.factories import CustomerFactory, FollowupRuleFactory, StreamFactory, StreamViewFactory

ENDED = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
NOON_AFTER = ENDED + timedelta(hours=1)


@pytest.fixture
def shop(brand):
    policy = contact_policy_ensure(brand=brand)
    policy.holdout_percent = Decimal("0")
    policy.save()
    rule = FollowupRuleFactory(brand=brand, name="viewers", channels=["sms"])
    stream = StreamFactory(
        brand=brand, external_id="S1", started_at=ENDED - timedelta(hours=2), ended_at=ENDED
    )

    def viewer(consent=True, **fields):
        watch = fields.pop("watch_seconds", 900)
        customer = CustomerFactory(brand=brand, marketing_consent=consent, **fields)
        StreamViewFactory(brand=brand, stream=stream, customer=customer, watch_seconds=watch)
        return customer

    return SimpleNamespace(brand=brand, policy=policy, rule=rule, stream=stream, viewer=viewer)
