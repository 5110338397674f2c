from datetime import date

import pytest

from apps.brands.models import Brand
from apps.demo.services import demo_seed

AS_OF = date(2026, 5, 31)
# what must be equal when a refresh is scored in one process or split into chunks elsewhere
SCORE_COLUMNS = (
    "customer_id",
    "stage",
    "stage_rule",
    "p_purchase_horizon",
    "clv",
    "expected_revenue_horizon",
    "median_days_to_next_purchase",
    "survival_curve",
    "rfm_segment",
    "tier_id",
    "clv_percentile",
    "value_percentile",
)


def run_scores(run_id) -> dict:
    """A run's scores by customer id (SCORE_COLUMNS)."""
    from apps.analytics.models import CustomerScore

    return {
        row[0]: row[1:] for row in CustomerScore.objects.filter(run_id=run_id).values_list(*SCORE_COLUMNS)
    }


END = date(2026, 7, 1)


@pytest.fixture
def demo_brand(db):
    """A small demo brand simulated up to END; refreshes use AS_OF, a month earlier."""
    demo_seed(slug="demo", customers=1500, seed=11, end_date=END)
    return Brand.objects.get(slug="demo")
