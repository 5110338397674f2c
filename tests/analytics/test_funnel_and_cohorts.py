"""The live-stream funnel (viewers → engaged → buyers → repeat within 72 hours and 30 days, per stream,
platform and host) in the report, GraphQL and the admin; and the cohort table whose cells lead to the very
customers they count."""

from datetime import UTC, date, datetime, timedelta

import pytest

from apps.analytics import reports
from apps.brands.services import membership_set
from tests.factories import CustomerFactory, OrderFactory, StreamFactory, StreamViewFactory, UserFactory
from tests.graphql.conftest import error_of, run_query
from tests.scenarios import gid

pytestmark = pytest.mark.django_db

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
NOW = START + timedelta(days=40)


@pytest.fixture
def streams(brand):
    big = StreamFactory(brand=brand, platform="douyin", host_name="小雅", started_at=START)
    late = StreamFactory(
        brand=brand, platform="kuaishou", host_name="Lily", started_at=NOW - timedelta(days=2)
    )
    ended = big.ended_at
    people = [CustomerFactory(brand=brand) for _ in range(5)]
    StreamViewFactory(
        brand=brand, stream=big, customer=people[0], comments=1
    )  # engaged, buys, repeats in 72 h
    StreamViewFactory(brand=brand, stream=big, customer=people[1], likes=4, shares=1)  # engaged (5), no buy
    StreamViewFactory(brand=brand, stream=big, customer=people[2])  # buys, repeats after 10 days
    StreamViewFactory(brand=brand, stream=big, customer=people[3])  # only watches
    OrderFactory(brand=brand, customer=people[0], stream=big, placed_at=START + timedelta(minutes=30))
    OrderFactory(brand=brand, customer=people[0], placed_at=ended + timedelta(hours=20))
    OrderFactory(brand=brand, customer=people[2], stream=big, placed_at=START + timedelta(minutes=50))
    OrderFactory(brand=brand, customer=people[2], placed_at=ended + timedelta(days=10))
    OrderFactory(
        brand=brand, customer=people[4], stream=big, placed_at=START
    )  # bought, never watched: not a viewer
    StreamViewFactory(brand=brand, stream=late, customer=people[3], comments=2)
    OrderFactory(
        brand=brand, customer=people[3], stream=late, placed_at=late.started_at + timedelta(minutes=5)
    )
    return big, late


def test_the_funnel_counts_each_step_and_waits_for_each_window(brand, streams):
    big, late = streams
    rows = reports.stream_funnel(
        brand=brand, start=date(2026, 4, 1), end=date(2026, 6, 30), by="stream", now=NOW
    )
    by_key = {r.key: r for r in rows}
    first = by_key[str(big.pk)]
    assert (first.viewers, first.engaged, first.buyers, first.engaged_buyers) == (4, 2, 2, 1)
    assert (first.repeat_72h, first.repeat_30d) == (1, 2) and first.repeat_72h_rate == 0.5
    second = by_key[str(late.pk)]
    assert (second.viewers, second.buyers) == (1, 1)
    assert second.repeat_72h is None and second.repeat_30d is None  # its windows have not passed
    total = rows[-1]
    assert (total.streams, total.viewers, total.buyers) == (2, 5, 3)
    assert (total.repeat_30d, total.buyers_30d_base) == (2, 2)  # over the stream whose 30 days passed
    platforms = reports.stream_funnel(
        brand=brand, start=date(2026, 4, 1), end=date(2026, 6, 30), by="platform", now=NOW
    )
    assert [r.streams for r in platforms] == [1, 1, 2] and platforms[-1].viewers == 5
    with pytest.raises(reports.ReportError):
        reports.stream_funnel(brand=brand, start=date(2026, 6, 1), end=date(2026, 5, 1))


def test_graphql_serves_the_funnel_to_analysts_with_clear_errors(brand, streams, as_role):
    query = """query($b: ID!, $s: Date!, $e: Date!, $by: FunnelGrouping) {
      streamFunnel(brand: $b, start: $s, end: $e, by: $by) { key label viewers engaged buyers buyerRate repeat72h } }"""
    rows = run_query(
        as_role("analyst"), query, b=gid("Brand", brand), s="2026-04-01", e="2026-06-30", by="HOST"
    )
    hosts = {r["label"]: r for r in rows["data"]["streamFunnel"]}
    assert hosts["小雅"]["viewers"] == 4 and hosts["小雅"]["buyers"] == 2
    backwards = run_query(as_role("analyst"), query, b=gid("Brand", brand), s="2026-06-30", e="2026-04-01")
    assert "after the end date" in error_of(backwards)
    assert "Analyst" in error_of(
        run_query(as_role("viewer"), query, b=gid("Brand", brand), s="2026-04-01", e="2026-06-30")
    )


def test_the_admin_pages_show_the_funnel_and_cohort_cells_lead_to_their_customers(client, brand, streams):
    user = UserFactory(username="lin")
    membership_set(user=user, brand=brand, role="viewer")
    client.force_login(user)
    page = client.get(
        f"/admin/dashboard/{brand.pk}/funnel/?by=host&start=2026-04-01&end=2026-06-30",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert page.status_code == 200 and "小雅" in page.content.decode()
    bad = client.get(f"/admin/dashboard/{brand.pk}/funnel/?start=soon")
    assert bad.status_code == 200 and "soon" in bad.content.decode()
    cohorts = client.get(f"/admin/dashboard/{brand.pk}/cohorts/")
    assert cohorts.status_code == 200
    table = reports.cohort_retention(brand=brand, by="first_order_month", periods=12)
    may = next(c for c in table if c.key == "2026-05")
    listed = client.get("/admin/customers/customer/", {"cohort": f"m:{brand.pk}:2026-05", "period": 0})
    assert (
        listed.context_data["cl"].result_count == may.retained[0] == 3
    )  # the late buyer first bought in June
    assert f"cohort=m%3A{brand.pk}%3A2026-05" in cohorts.content.decode()
    wrong = client.get("/admin/customers/customer/", {"cohort": "m:nonsense"})
    assert wrong.status_code == 302 and "e=1" in wrong["Location"]
    other = client.get(f"/admin/dashboard/{brand.pk + 999}/cohorts/")
    assert other.status_code == 404
