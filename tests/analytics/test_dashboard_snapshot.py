"""The dashboard snapshot (apps.analytics.snapshots): computed when a refresh publishes, its figures equal what
the orders, streams and scores say when counted by hand, it is read while valid and computed again when the
run, the orders or the streams change (an order import that only changes orders drops it); and the date
range's sums over its days (previous period, a year earlier, no data, partial)."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apps.analytics import reports, snapshots
from apps.analytics.dashboard.periods import Period, period_from_params
from apps.analytics.dashboard.sections import dashboard_context
from apps.analytics.models import CustomerScore, DashboardSnapshot, RunStatus
from apps.analytics.services import scores_refresh
from apps.brands.models import Brand
from apps.demo.services import demo_seed
from apps.orders.importers import orders_import
from apps.orders.models import Order
from apps.streams.models import Stream
from tests.factories import OrderFactory, make_run
from tests.scenarios import at, make_dashboard_brand

pytestmark = pytest.mark.django_db

END = date(2026, 7, 1)
AS_OF = date(2026, 5, 31)


def _paid(brand):
    return list(
        Order.objects.filter(brand=brand, status="paid").values_list(
            "customer_id", "placed_at", "total_amount", "stream_id"
        )
    )


def _by_hand(brand):
    """Cohort cells, monthly figures and daily figures counted from the paid orders one by one."""
    tz = brand.tzinfo
    orders = _paid(brand)
    first = {}
    for customer, placed, _amount, _stream in orders:
        first[customer] = min(first.get(customer, placed), placed)

    def month(moment):
        local = moment.astimezone(tz)
        return date(local.year, local.month, 1)

    cells = defaultdict(lambda: [set(), set(), 0, 0.0])
    days = defaultdict(lambda: [0, 0.0, 0])
    for customer, placed, amount, _stream in orders:
        cell = cells[(month(first[customer]), month(placed))]
        cell[0].add(customer)
        if placed > first[customer]:
            cell[1].add(customer)
        cell[2] += 1
        cell[3] += float(amount)
        day = days[placed.astimezone(tz).date()]
        day[0] += 1
        day[1] += float(amount)
    for moment in first.values():
        days[moment.astimezone(tz).date()][2] += 1
    return cells, days


def _streams_by_hand(brand):
    """Per stream: its buyers and those with another paid order up to 72 hours after it ended."""
    orders = _paid(brand)
    by_customer = defaultdict(list)
    for customer, placed, _amount, _stream in orders:
        by_customer[customer].append(placed)
    out = {}
    for stream in Stream.objects.filter(brand=brand):
        until = (stream.ended_at or stream.started_at) + timedelta(hours=72)
        firsts = {}
        for customer, placed, _amount, stream_id in orders:
            if stream_id == stream.pk:
                firsts[customer] = min(firsts.get(customer, placed), placed)
        again = sum(
            1
            for customer, first_at in firsts.items()
            if sum(1 for placed in by_customer[customer] if first_at <= placed <= until) >= 2
        )
        out[stream.pk] = (len(firsts), again)
    return out


def test_a_refresh_computes_the_snapshot_and_its_figures_are_those_counted_by_hand():
    demo_seed(slug="snap", customers=400, seed=5, end_date=END)
    brand = Brand.objects.get(slug="snap")
    run = scores_refresh(brand=brand, as_of=AS_OF)
    assert run.status == RunStatus.PUBLISHED
    # computed at publish, keyed by the run and the brand's data
    snapshot = DashboardSnapshot.objects.get(brand=brand)
    assert (snapshot.run_id, snapshot.format) == (run.pk, snapshots.FORMAT)
    assert snapshot.data_version == snapshots.data_version(brand)
    assert run.timings["dashboard snapshot"] == snapshot.seconds
    data = snapshot.data

    # paid orders folded by cohort and month, and by day
    cells, days = _by_hand(brand)
    activity = snapshots.activity_of(data)
    months = activity.months
    assert {(m.cohort, m.month): (m.customers, m.repeaters) for m in months} == {
        key: (len(c[0]), len(c[1])) for key, c in cells.items()
    }
    by_month = defaultdict(lambda: [0, 0.0])
    for (_cohort, month), c in cells.items():
        by_month[month][0] += c[2]
        by_month[month][1] += c[3]
    totals = activity.month_totals()
    assert {m: o for m, (o, _g) in totals.items()} == {m: v[0] for m, v in by_month.items()}
    assert all(abs(g - by_month[m][1]) < 0.01 for m, (_o, g) in totals.items())
    assert {date.fromisoformat(d): (o, n) for d, o, _g, n in data["days"]} == {
        d: (v[0], v[2]) for d, v in days.items()
    }
    assert all(abs(g - days[date.fromisoformat(d)][1]) < 0.01 for d, _o, g, _n in data["days"])

    # the cohort table of the report is the snapshot's
    now = timezone.now()
    live = reports.cohort_retention(brand=brand, by="first_order_month", periods=12, now=now)
    kept = reports.cohorts_from_months(months, periods=12, now=now.astimezone(brand.tzinfo).date())
    assert [(c.key, c.size, c.retained) for c in live] == [(c.key, c.size, c.retained) for c in kept]

    # the streams' buyers and 72-hour repurchasers, counted by hand and by stream_performance's own SQL
    by_hand = _streams_by_hand(brand)
    rows = reports.stream_repurchase(brand=brand)
    assert {r.stream_id: (r.buyers, r.repurchasers_72h) for r in rows} == by_hand
    assert sum(b for b, _r in by_hand.values()) > 0 and sum(r for _b, r in by_hand.values()) > 0
    window = data["stream_window"]
    start, end = date.fromisoformat(window["start"]), date.fromisoformat(window["end"])
    streams, stats = reports.stream_performance(brand=brand, start=start, end=end)
    assert [s.pk for s in streams] == [row[0] for row in window["rows"]]
    assert (stats[-1].buyers, stats[-1].repurchasers_72h) == (window["buyers"], window["repurchasers"])
    assert sum(d[1] for d in data["stream_days"]) == len(by_hand)

    # Kaplan-Meier by stage: each scored customer's first paid order after the run's cutoff, by hand
    km = data["km"]
    cutoff = datetime.fromisoformat(km["origin"])
    computed = datetime.fromisoformat(km["end"])
    first_after = {}
    for customer, placed, _amount, _stream in _paid(brand):
        if cutoff < placed <= computed:
            first_after[customer] = min(first_after.get(customer, placed), placed)
    expected = defaultdict(lambda: [0, 0])
    for customer, stage in CustomerScore.objects.filter(run=run).values_list("customer_id", "stage"):
        expected[stage][0] += 1
        expected[stage][1] += customer in first_after
    assert {c["group"]: [c["customers"], c["events"]] for c in km["curves"]} == dict(expected)

    # the dashboard reads it: nothing is computed again
    with mock.patch.object(snapshots, "snapshot_compute", side_effect=AssertionError("computed again")):
        context = dashboard_context(brand)
    assert context["snapshot"].pk == snapshot.pk
    assert context["distribution"].figures["total"] == run.customers_scored


@pytest.fixture
def shop(brand):
    return make_dashboard_brand(brand)


def _computes(brand, run, fresh: bool = True) -> bool:
    """Whether reading the snapshot computed it."""
    with mock.patch.object(snapshots, "snapshot_compute", wraps=snapshots.snapshot_compute) as compute:
        snapshots.snapshot_current(brand=brand, run=run, fresh=fresh)
    return compute.called


def _older_than_fresh(brand) -> None:
    DashboardSnapshot.objects.filter(brand=brand).update(
        computed_at=timezone.now() - timedelta(seconds=snapshots.FRESH_SECONDS + 1)
    )


def test_the_snapshot_is_read_while_valid_and_computed_again_when_the_data_change(brand, shop):
    run = shop.run
    assert _computes(brand, run) and not _computes(brand, run)
    # a new order (any way it is written) changes the brand's newest order id: the snapshot stands while it is
    # at most FRESH_SECONDS old (a live stream's orders would otherwise have it computed again all the time),
    # then it is computed again
    OrderFactory(brand=brand, customer=shop.customers["C1"], placed_at=at(5, 2), total_amount=15)
    assert not _computes(brand, run)
    _older_than_fresh(brand)
    assert _computes(brand, run) and not _computes(brand, run)
    # the read cache asks for the current data exactly (it keys what it derives by the data version)
    OrderFactory(brand=brand, customer=shop.customers["C1"], placed_at=at(5, 3), total_amount=15)
    assert not _computes(brand, run)
    assert _computes(brand, run, fresh=False) and not _computes(brand, run, fresh=False)
    # a stream that changes (its end time, say)
    stream = shop.streams[0]
    stream.ended_at += timedelta(hours=1)
    stream.save()
    assert not _computes(brand, run)
    _older_than_fresh(brand)
    assert _computes(brand, run) and not _computes(brand, run)
    # once as fresh as the data, it stands however old it grows
    _older_than_fresh(brand)
    assert not _computes(brand, run)
    # another published run
    run.status = RunStatus.SUPERSEDED
    run.save()
    newer = make_run(brand, as_of=date(2026, 4, 30))
    assert _computes(brand, newer) and not _computes(brand, newer)
    assert DashboardSnapshot.objects.get(brand=brand).run_id == newer.pk
    # an older format
    DashboardSnapshot.objects.filter(brand=brand).update(format=snapshots.FORMAT - 1)
    assert _computes(brand, newer) and not _computes(brand, newer)


def test_an_order_import_that_only_changes_orders_drops_the_snapshot(brand, shop):
    run = shop.run
    row = {
        "order_id": "D-O0",
        "customer_id": "D-C1",
        "ordered_at": at(1, 10),
        "amount": "100",
        "status": "refunded",
    }
    snapshots.snapshot_current(brand=brand, run=run)
    # a dry run writes nothing: the snapshot stays
    assert orders_import(brand=brand, rows=[row], name="batch", dry_run=True).updated == 1
    assert DashboardSnapshot.objects.filter(brand=brand).exists()
    # the refund: no new order id, but the snapshot goes and January's GMV loses the 100
    result = orders_import(brand=brand, rows=[row], name="batch")
    assert (result.created, result.updated) == (0, 1)
    assert not DashboardSnapshot.objects.filter(brand=brand).exists()
    snapshot = snapshots.snapshot_current(brand=brand, run=run)
    assert snapshots.activity_of(snapshot.data).month_totals()[date(2026, 1, 1)] == (1, 50.0)
    # an import that changes nothing keeps it
    orders_import(brand=brand, rows=[row], name="batch")
    assert DashboardSnapshot.objects.filter(brand=brand).exists()


def test_a_brand_without_orders_streams_or_scores_has_an_empty_snapshot(brand, other_brand, shop):
    snapshot = snapshots.snapshot_current(brand=other_brand, run=None)
    assert snapshot.run_id is None
    assert snapshot.data["months"] == [] and snapshot.data["days"] == []
    assert snapshot.data["stream_window"] is None and snapshot.data["km"] == {"error": "no_scores"}
    assert snapshot.data["distribution"] == [] and snapshot.data["at_risk"] == {"count": 0, "rows": []}
    # one row per brand: the other brand's is its own
    assert DashboardSnapshot.objects.get(brand=other_brand).pk == snapshot.pk
    assert snapshots.snapshot_current(brand=brand, run=shop.run).pk != snapshot.pk


def test_period_sums_with_previous_period_year_earlier_no_data_and_partial(brand, shop):
    data = snapshots.snapshot_current(brand=brand, run=shop.run).data
    read = snapshots.period_reader(data)
    today, now = date(2026, 6, 30), datetime(2026, 6, 30, 4, 0, tzinfo=UTC)
    # February 2026 (Shanghai days): C3's 30 (stream 1) and 40, C2's 70 (stream 2); C3's first purchase
    february = read(date(2026, 2, 1), date(2026, 2, 28), today=today, now=now)
    assert (february.gmv, february.orders, february.new_buyers) == (140.0, 3, 1)
    assert february.repeat_order_share == pytest.approx(2 / 3)
    assert (february.streams, february.stream_buyers, february.stream_repurchasers) == (2, 2, 1)
    assert february.has_data and not february.partial and not february.windows_open
    period = Period("custom", date(2026, 2, 1), date(2026, 2, 28))
    assert period.previous == (date(2026, 1, 4), date(2026, 1, 31))
    assert period.year_before == (date(2025, 2, 1), date(2025, 2, 28))
    january = read(*period.previous, today=today, now=now)
    assert (january.gmv, january.orders, january.new_buyers) == (150.0, 2, 2)
    assert january.partial  # the first paid order is of 10 January: the orders cover part of it
    # a year earlier the brand had no paid order yet: no data, not zero
    assert not read(*period.year_before, today=today, now=now).has_data
    # after the last paid order (10 April) there is no data either
    assert not read(date(2026, 5, 1), date(2026, 5, 31), today=today, now=now).has_data
    # partial: only partly covered by the orders, or not over yet
    assert read(date(2025, 12, 20), date(2026, 1, 20), today=today, now=now).partial
    assert read(date(2026, 4, 1), date(2026, 4, 30), today=date(2026, 4, 20), now=now).partial
    # a stream whose 72 hours have not passed yet
    assert read(date(2026, 2, 20), date(2026, 2, 20), today=today, now=at(2, 21)).windows_open
    # 29 February a year earlier is 28 February
    assert Period("custom", date(2028, 2, 29), date(2028, 3, 1)).year_before == (
        date(2027, 2, 28),
        date(2027, 3, 1),
    )


@pytest.mark.parametrize(
    ("params", "preset", "start", "end", "error"),
    [
        ({}, "30d", date(2026, 6, 1), date(2026, 6, 30), None),
        ({"period": "7d"}, "7d", date(2026, 6, 24), date(2026, 6, 30), None),
        ({"period": "90d"}, "90d", date(2026, 4, 2), date(2026, 6, 30), None),
        ({"period": "this_month"}, "this_month", date(2026, 6, 1), date(2026, 6, 30), None),
        ({"period": "last_month"}, "last_month", date(2026, 5, 1), date(2026, 5, 31), None),
        ({"period": "7d", "from": "2020-01-01"}, "7d", date(2026, 6, 24), date(2026, 6, 30), None),
        (
            {"period": "custom", "from": "2026-02-01", "to": "2026-02-28"},
            "custom",
            date(2026, 2, 1),
            date(2026, 2, 28),
            None,
        ),
        ({"from": "2026-03-01"}, "custom", date(2026, 3, 1), date(2026, 6, 30), None),
        ({"period": "yesterday"}, "30d", date(2026, 6, 1), date(2026, 6, 30), "period: yesterday is not"),
        (
            {"period": "custom", "from": "2026-02-30", "to": "2026-03-05"},
            "custom",
            date(2026, 2, 4),
            date(2026, 3, 5),
            "from: 2026-02-30 is not a date",
        ),
        (
            {"period": "custom", "from": "2026-03-05", "to": "2026-03-01"},
            "30d",
            date(2026, 6, 1),
            date(2026, 6, 30),
            "from: 2026-03-05 is after to: 2026-03-01.",
        ),
        (
            {"period": "custom", "from": "1990-01-01", "to": "2026-03-01"},
            "30d",
            date(2026, 6, 1),
            date(2026, 6, 30),
            "from: the period is longer than",
        ),
    ],
)
def test_the_date_range_from_the_request(params, preset, start, end, error):
    period = period_from_params(params, date(2026, 6, 30))
    assert (period.preset, period.start, period.end) == (preset, start, end)
    if error is None:
        assert period.errors == []
    else:
        [message] = period.errors
        assert message.startswith(error)


@pytest.mark.django_db(transaction=True)
def test_the_paid_orders_folded_beside_the_publish_make_the_same_snapshot(brand, shop):
    """A refresh folds the paid orders (the snapshot's longest part, which no run changes) in a thread beside
    its publish. The snapshot is the one computed at once; it keeps the data version read before the orders
    were folded, so an order that arrives meanwhile leaves it stale."""
    run = shop.run

    def comparable(snapshot) -> dict:
        data = dict(snapshot.data)
        data["km"] = {k: v for k, v in data["km"].items() if k != "end"}  # the follow-up ends "now"
        return data

    at_once = snapshots.snapshot_refresh(run=run)
    beside = snapshots.snapshot_refresh(run=run, activity_ahead=snapshots.paid_activity_ahead(brand=brand))
    assert comparable(beside) == comparable(at_once) and beside.data["days"]
    assert beside.data_version == at_once.data_version == snapshots.data_version(brand)
    assert 0 <= beside.seconds_ahead <= beside.seconds
    assert not _computes(brand, run)  # valid for the current data

    folding = snapshots.paid_activity_ahead(brand=brand)

    def then_an_order():
        folded = folding()
        OrderFactory(brand=brand, customer=shop.customers["C1"], placed_at=at(5, 4), total_amount=15)
        return folded

    late = snapshots.snapshot_refresh(run=run, activity_ahead=then_an_order)
    assert late.data_version != snapshots.data_version(brand)  # the new order is not in it
    _older_than_fresh(brand)
    assert _computes(brand, run)
