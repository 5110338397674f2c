"""Factories and frames for the tier layer: rules, history, and score frames built by hand."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from apps.brands.services import membership_set
from tests.factories import UserFactory

WHEN = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def score_frame(rows: list[dict]) -> pd.DataFrame:
    """A frame as the engine hands it over; unspecified columns get neutral values."""
    defaults = {
        "clv": 100.0,
        "churn_probability": 0.5,
        "rfm_recency": 3,
        "rfm_frequency": 3,
        "rfm_monetary": 3,
        "rfm_segment": "need_attention",
        "automated_decisions_opt_out": False,
        "previous_tier_id": None,
    }
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    frame["customer_id"] = frame.get("customer_id", pd.Series(np.arange(1, len(frame) + 1)))
    frame["previous_tier_id"] = pd.array(frame["previous_tier_id"], dtype="Int64")
    return frame


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def login(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def rival_manager(other_brand):
    user = UserFactory(username="rival-manager")
    membership_set(user=user, brand=other_brand, role="manager")
    user.refresh_from_db()
    return user
