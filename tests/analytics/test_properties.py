"""Property tests over purchase logs of classic shapes (apps.demo.classic_world): whatever the process, the
cohort, the share of one-time buyers and same-day orders, with or without amounts, at any as-of date from two
weeks after the first order to the last and any horizon from 7 to 365 days, a refresh and a backtest never
raise, and every figure they leave out says why."""

import os
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.analytics.models import RunStatus
from apps.analytics.services import backtest_run, scores_refresh
from apps.analytics.sufficiency import sufficiency_checks
from apps.brands.models import Brand
from apps.demo.classic_world import ClassicWorldParams
from apps.demo.services import demo_seed

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

END = date(2026, 6, 30)
FIRST_DAY = date(2024, 12, 31)  # the classic world starts 18 months before END
GROUPS = ("overall", "introduction", "growth", "maturity", "decline", "churned")

worlds = st.builds(
    ClassicWorldParams,
    process=st.sampled_from(["bgnbd", "pareto_nbd"]),
    r=st.floats(0.05, 1.5),
    alpha=st.floats(2.0, 80.0),
    a=st.floats(0.2, 3.0),
    b=st.floats(0.5, 6.0),
    s=st.floats(0.2, 2.0),
    beta=st.floats(20.0, 400.0),
    cohort_days=st.integers(1, 120),
    same_day_share=st.floats(0.0, 0.5),
    amounts=st.booleans(),
)


def assert_explained(metrics: dict) -> None:
    """Every absent figure of every model, baseline and group has a reason."""
    for group in GROUPS:
        for figures in (metrics.get(group) or {}).values():
            absent = [
                key
                for key, value in figures.items()
                if value is None and key not in ("revenue_actual", "revenue_forecast")
            ]
            reasons = figures.get("reasons") or {}
            assert set(absent) <= set(reasons), (group, absent, reasons)


@settings(
    max_examples=int(os.environ.get("CLV_PROPERTY_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    world=worlds,
    customers=st.integers(40, 500),
    seed=st.integers(0, 10_000),
    as_of_day=st.integers(14, 545),
    horizon=st.integers(7, 365),
)
def test_refresh_and_backtest_never_raise_and_explain_what_they_leave_out(
    world, customers, seed, as_of_day, horizon
):
    demo_seed(slug="prop", customers=customers, seed=seed, end_date=END, classic=world)
    brand = Brand.objects.get(slug="prop")
    as_of = FIRST_DAY + timedelta(days=as_of_day)
    run = scores_refresh(brand=brand, as_of=as_of, horizon_days=horizon)
    assert run.status in (RunStatus.PUBLISHED, RunStatus.SKIPPED)
    if run.status == RunStatus.SKIPPED:
        assert run.message
    else:
        assert run.customers_scored > 0
        assert run.metrics["holdout"]["status"] in ("full", "shortened", "none")
        assert_explained(run.metrics)
    assert sufficiency_checks(run)
    # a backtest whose window ends by the end of the data
    backtest_as_of = min(as_of, END - timedelta(days=horizon))
    if backtest_as_of >= FIRST_DAY + timedelta(days=14):
        backtest = backtest_run(brand=brand, as_of=backtest_as_of, horizon_days=horizon)
        assert backtest.status in (RunStatus.SUCCEEDED, RunStatus.SKIPPED)
        if backtest.status == RunStatus.SUCCEEDED:
            assert_explained(backtest.metrics)
