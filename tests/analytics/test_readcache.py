"""The read cache (apps/analytics/readcache.py): a report is computed once per brand and data version, and
every change that alters it makes the next read compute it again."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.analytics import readcache
from apps.analytics.readcache import reads_cached, reads_forget
from apps.customers.services import customer_erase
from apps.orders.importers import orders_import
from tests.factories import CustomerFactory, CustomerScoreFactory, ModelRunFactory, OrderFactory
from tests.graphql.conftest import run_query
from tests.scenarios import gid

pytestmark = pytest.mark.django_db

COHORTS = """query($b: ID!) {
  cohortRetention(brand: $b, by: FIRST_ORDER_MONTH, periods: 3) { cohorts { label size retained } } }"""
AT_RISK = """query($b: ID!) {
  atRiskCustomers(brand: $b, first: 10, minChurnProbability: 0.5, minValuePercentile: 0) {
    totalCount customers { churnProbability customer { externalId } } } }"""


def _orders(brand, customers: int, days_ago: int = 40):
    placed = timezone.now() - timedelta(days=days_ago)
    return [
        OrderFactory(brand=brand, customer=CustomerFactory(brand=brand), placed_at=placed)
        for _ in range(customers)
    ]


def _reads(client, query, brand) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        body = run_query(client, query, b=gid("Brand", brand))
    assert "errors" not in body, body
    return body["data"], [q["sql"] for q in queries.captured_queries]


def _cohort_sizes(data) -> int:
    return sum(c["size"] for c in data["cohortRetention"]["cohorts"])


def test_a_report_is_computed_once_per_data_version(as_role, brand):
    _orders(brand, 3)
    client = as_role("analyst")
    first, first_sql = _reads(client, COHORTS, brand)
    again, again_sql = _reads(client, COHORTS, brand)
    assert again == first and _cohort_sizes(first) == 3
    # the second read does not read the orders: only the caller, the run and the data version
    assert any("orders_order" in sql and "GROUP BY" in sql.upper() for sql in first_sql)
    assert not any("GROUP BY" in sql.upper() for sql in again_sql)
    assert len(again_sql) < len(first_sql)


def _last_computed_ago(seconds: float) -> None:
    """Make every report's last computation `seconds` older (the pointers readcache keeps per report). The
    dashboard snapshot cohort retention is computed from is left as it is: the read cache reads it exactly."""
    for key in [k for k in cache._cache if ":last:" in k]:  # the test settings' LocMemCache
        stored_at, pointed = cache.get(key.split(":", 2)[2])
        cache.set(key.split(":", 2)[2], (stored_at - seconds, pointed))


def test_a_new_order_is_seen_once_the_last_computation_is_no_longer_fresh(as_role, brand):
    from apps.analytics.snapshots import FRESH_SECONDS

    _orders(brand, 2)
    newcomer = CustomerFactory(brand=brand)  # saved before the first read: its first order comes later
    client = as_role("analyst")
    assert _cohort_sizes(_reads(client, COHORTS, brand)[0]) == 2
    hit = len(_reads(client, COHORTS, brand)[1])  # what a read from the cache costs
    # a factory order sends no signal: the data version (newest order) sees it, and the figures computed just
    # before stand while fresh (a live stream's orders would otherwise have them computed again all the time)
    OrderFactory(brand=brand, customer=newcomer, placed_at=timezone.now() - timedelta(days=40))
    data, queries = _reads(client, COHORTS, brand)
    assert _cohort_sizes(data) == 2 and len(queries) == hit  # not computed again
    _last_computed_ago(FRESH_SECONDS + 1)
    assert _cohort_sizes(_reads(client, COHORTS, brand)[0]) == 3


def test_an_import_that_only_updates_orders_is_seen(as_role, brand, tmp_path):
    customer = CustomerFactory(brand=brand, external_id="C1")
    OrderFactory(
        brand=brand, customer=customer, external_id="O1", placed_at=timezone.now() - timedelta(days=40)
    )
    client = as_role("analyst")
    assert _cohort_sizes(_reads(client, COHORTS, brand)[0]) == 1
    # the same order, now refunded: no new order id, so only the import's signal can tell the cache
    path = tmp_path / "orders.csv"
    placed = (timezone.now() - timedelta(days=40)).astimezone(brand.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    path.write_text(
        f"order_id,customer_id,ordered_at,amount,status\nO1,C1,{placed},10.00,refunded\n",
        encoding="utf-8",
    )
    result = orders_import(brand=brand, path=path)
    assert not result.errors and result.updated == 1
    assert _cohort_sizes(_reads(client, COHORTS, brand)[0]) == 0


def test_publish_and_erasure_are_seen(as_role, brand):
    run = ModelRunFactory(brand=brand, status="published", as_of=timezone.localdate())
    customers = [CustomerFactory(brand=brand, external_id=f"C{i}") for i in range(3)]
    for customer in customers:
        OrderFactory(brand=brand, customer=customer, placed_at=timezone.now() - timedelta(days=100))
        CustomerScoreFactory(
            run=run, customer=customer, churn_probability=0.9, monetary_total=100, value_percentile=90
        )
    client = as_role("analyst")
    data, _ = _reads(client, AT_RISK, brand)
    ids = {c["customer"]["externalId"] for c in data["atRiskCustomers"]["customers"]}
    assert ids == {"C0", "C1", "C2"}

    customer_erase(brand=brand, customer_id=customers[0].pk)
    data, _ = _reads(client, AT_RISK, brand)
    assert "C0" not in {c["customer"]["externalId"] for c in data["atRiskCustomers"]["customers"]}

    newer = ModelRunFactory(brand=brand, status="succeeded", as_of=timezone.localdate())
    CustomerScoreFactory(run=newer, customer=customers[1], churn_probability=0.95, monetary_total=100)
    from apps.analytics.publishing import model_run_publish

    model_run_publish(run=newer)
    data, _ = _reads(client, AT_RISK, brand)
    assert data["atRiskCustomers"]["totalCount"] == 1


def test_errors_are_not_cached(brand):
    calls = []

    def failing():
        calls.append(1)
        raise ValueError("no")

    for _ in range(2):
        with pytest.raises(ValueError):
            reads_cached(brand=brand, name="t", params={}, compute=failing)
    assert len(calls) == 2


def test_forget_moves_the_generation_and_an_evicted_one_never_comes_back(brand):
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert reads_cached(brand=brand, name="t", params={"a": 1}, compute=compute) == 1
    assert reads_cached(brand=brand, name="t", params={"a": 1}, compute=compute) == 1
    assert reads_cached(brand=brand, name="t", params={"a": 2}, compute=compute) == 2  # other parameters
    reads_forget(brand_id=brand.pk)
    assert reads_cached(brand=brand, name="t", params={"a": 1}, compute=compute) == 3
    before = cache.get(readcache._generation_key(brand.pk))
    cache.delete(readcache._generation_key(brand.pk))  # evicted
    assert reads_cached(brand=brand, name="t", params={"a": 1}, compute=compute) == 4
    assert cache.get(readcache._generation_key(brand.pk)) != before


def test_a_cache_that_is_down_costs_the_computation_not_the_answer(brand, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    for name in ("get", "set", "add", "incr"):
        monkeypatch.setattr(cache, name, down)
    assert reads_cached(brand=brand, name="t", params={}, compute=lambda: 42) == 42
    reads_forget(brand_id=brand.pk)  # logs, does not raise


def test_no_personal_data_is_cached(as_role, brand):
    run = ModelRunFactory(brand=brand, status="published", as_of=timezone.localdate())
    customer = CustomerFactory(
        brand=brand, external_id="WX-13800138000", display_name="张三", phone="13800138000"
    )
    OrderFactory(brand=brand, customer=customer, placed_at=timezone.now() - timedelta(days=100))
    CustomerScoreFactory(
        run=run, customer=customer, churn_probability=0.9, monetary_total=100, value_percentile=90
    )
    _reads(as_role("analyst"), AT_RISK, brand)
    stored = b"".join(cache._cache.values())  # the test settings' LocMemCache keeps pickles
    assert stored, "the report was not cached"
    for secret in ("WX-13800138000", "13800138000", "张三"):
        assert secret.encode() not in stored


def test_a_reader_waits_for_the_computation_already_under_way(brand):
    """Single flight: while one reader computes a key, another waits for its result instead of computing."""
    import threading

    started, release, calls = threading.Event(), threading.Event(), []

    def slow():
        calls.append(1)
        started.set()
        release.wait(5)
        return "figures"

    results = []

    def read():
        try:
            results.append(reads_cached(brand=brand, name="t", params={}, compute=slow))
        finally:
            connection.close()  # the thread's own connection

    first = threading.Thread(target=read)
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=read)
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert results == ["figures", "figures"] and len(calls) == 1


LIST = """query($count: Boolean!, $skip: Boolean!) {
  customers(first: 2) { totalCount @include(if: $count) ignored: totalCount @skip(if: $skip)
                        edges { node { externalId orders(first: 1) { totalCount } } } } }"""


def test_a_list_counts_only_when_its_total_is_asked_for_and_caches_the_count(as_role, brand):
    for _ in range(3):
        CustomerFactory(brand=brand)
    client = as_role("viewer")

    def page(count: bool, skip: bool = True):
        with CaptureQueriesContext(connection) as queries:
            body = run_query(client, LIST, count=count, skip=skip)
        assert "errors" not in body, body
        # the list's own count: COUNT(*) of the customers, alone or as a subquery of the page
        counted = [
            q["sql"]
            for q in queries.captured_queries
            if "_clv_counted" in q["sql"]
            or ('AS "__count"' in q["sql"] and 'FROM "customers_customer"' in q["sql"])
        ]
        return body["data"]["customers"], counted

    # @include(if: false) and @skip(if: true): no COUNT over the list (a node's orders total is not the list's)
    data, counted = page(False)
    assert "totalCount" not in data and not counted
    data, counted = page(True)
    assert data["totalCount"] == 3 and counted  # counted once …
    data, counted = page(True)
    assert data["totalCount"] == 3 and not [
        sql for sql in counted if "customers_customer" in sql
    ]  # … then read
    CustomerFactory(brand=brand)  # a new customer moves the brand's generation
    data, _ = page(False, skip=False)
    assert data["ignored"] == 4


def _import(brand, path, rows: str):
    path.write_text("order_id,customer_id,ordered_at,amount,status\n" + rows, encoding="utf-8")
    result = orders_import(brand=brand, path=path)
    assert not result.errors
    return result


def test_an_import_of_new_orders_moves_the_data_version_and_one_that_changes_orders_the_generation(
    brand, tmp_path
):
    placed = (timezone.now() - timedelta(days=3)).astimezone(brand.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    generation = readcache._generation(brand.pk)
    before = readcache.reads_version(brand_id=brand.pk)
    _import(brand, tmp_path / "a.csv", f"O1,C1,{placed},10.00,paid\nO2,C2,{placed},12.00,paid\n")
    assert readcache._generation(brand.pk) == generation  # new orders only: the version sees them
    after = readcache.reads_version(brand_id=brand.pk)
    assert after != before
    _import(brand, tmp_path / "b.csv", f"O1,C1,{placed},10.00,refunded\n")  # changed in place
    assert readcache._generation(brand.pk) != generation


@pytest.mark.django_db(transaction=True)
def test_while_a_new_version_is_computed_others_get_the_last_one_unless_it_was_forgotten(brand, tmp_path):
    """During a live stream every order moves the data version: the value computed last stands while fresh;
    then, while one reader computes the report again, the others are served it (at most STALE_SECONDS old)
    instead of waiting. What reads_forget announces (a publish, an erasure) is never served late: they wait."""
    import threading

    from apps.analytics.snapshots import FRESH_SECONDS

    def in_thread(compute, out):
        def run():
            try:
                out.append(reads_cached(brand=brand, name="t", params={}, compute=compute))
            finally:
                connection.close()  # the thread's own connection

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def never():
        raise AssertionError("computed by a reader that should have been served")

    first = []
    in_thread(lambda: "old", first).join(5)
    assert first == ["old"]

    def slow(value, started, release):
        def compute():
            started.set()
            release.wait(10)
            return value

        return compute

    # a live stream's new orders arrive: the data version moves, the generation does not
    placed = timezone.now().astimezone(brand.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    _import(brand, tmp_path / "live.csv", f"L1,V1,{placed},10.00,paid\n")
    assert reads_cached(brand=brand, name="t", params={}, compute=never) == "old"  # fresh: it stands
    _last_computed_ago(FRESH_SECONDS + 1)  # no longer fresh: one reader computes it again
    started, release, computed, served = threading.Event(), threading.Event(), [], []
    computing = in_thread(slow("new", started, release), computed)
    assert started.wait(5)
    reader = in_thread(never, served)
    reader.join(2)
    assert not reader.is_alive() and served == ["old"]  # served while the computation is still under way
    release.set()
    computing.join(5)
    assert computed == ["new"]
    assert reads_cached(brand=brand, name="t", params={}, compute=never) == "new"

    reads_forget(brand_id=brand.pk)  # a publish or an erasure: nothing computed before it is served
    started, release, computed, served = threading.Event(), threading.Event(), [], []
    computing = in_thread(slow("after", started, release), computed)
    assert started.wait(5)
    reader = in_thread(never, served)
    reader.join(0.5)
    assert reader.is_alive() and served == []  # waits for the computation under way
    release.set()
    computing.join(5)
    reader.join(5)
    assert computed == ["after"] and served == ["after"]


def test_the_last_value_is_served_only_up_to_the_age_given(brand):
    import time

    cache.set("clv:test:last", (time.time() - 100, "clv:test:key"))  # computed 100 s ago
    cache.set("clv:test:key", "earlier")
    assert readcache._recent_stale("clv:test:last", "clv:test:other", 99) is readcache._MISSING
    assert readcache._recent_stale("clv:test:last", "clv:test:other", 101) == "earlier"
    # the pointer names the key being computed itself: nothing older to serve
    assert readcache._recent_stale("clv:test:last", "clv:test:key", 101) is readcache._MISSING
    cache.delete("clv:test:key")  # evicted
    assert readcache._recent_stale("clv:test:last", "clv:test:other", 101) is readcache._MISSING
