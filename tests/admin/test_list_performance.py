"""The admin lists stay fast on a brand of a million customers: pinned query counts that do not grow with the
rows, counts estimated ("about N") past apps.core.admin.EXACT_COUNT_UP_TO rows, a date hierarchy from the first
and last dates, and facet counts that equal the live ones when they come from the per-run counts instead.

The long-list paths are exercised on a few rows by lowering the thresholds."""

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.analytics.models import CustomerScore, StageChange
from apps.core import admin as core_admin
from apps.customers.models import Customer
from apps.engagement.models import Experiment, Touch
from apps.loyalty.models import BenefitGrant
from apps.orders.models import Order
from tests.admin.conftest import changelist_url, staff
from tests.factories import (
    BenefitFactory,
    BenefitGrantFactory,
    CommunityFactory,
    CommunityMembershipFactory,
    CustomerFactory,
    FollowupRuleFactory,
    OrderFactory,
    StreamFactory,
    TierFactory,
    clv_percentiles_set,
    make_run,
    make_score,
)

pytestmark = pytest.mark.django_db

STAGES = ["introduction", "growth", "maturity", "decline", "churned"]
RULES = {
    "introduction": "introduction",
    "growth": "growth_orders",
    "maturity": "maturity_orders",
    "decline": "decline_gap",
    "churned": "churn_gap",
}
RFM = ["champions", "loyal", "at_risk", "new", "hibernating"]


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def long_lists(monkeypatch):
    """Every list counts as too long to count exactly (and to count facets on) from 3 rows on; pages of 2."""
    monkeypatch.setattr(core_admin.EstimatedCountPaginator, "exact_up_to", 2)
    monkeypatch.setattr(core_admin, "FACET_LIVE_UP_TO", 2)
    monkeypatch.setattr(core_admin.BrandScopedAdmin, "list_per_page", 2)


def brand_rows(brand, n: int, *, prefix: str, published: bool = True):
    """n scored customers (stages, tiers, RFM segments, churn and CLV spread), a community, orders over three
    years, stage changes of the run, grants, touches and an experiment."""
    tiers = [
        TierFactory(brand=brand, code=f"{prefix}-t{i}", name=f"{prefix} tier {i}", rank=i + 1)
        for i in range(2)
    ]
    community = CommunityFactory(brand=brand, name=f"{prefix} fans")
    stream = StreamFactory(brand=brand, platform="douyin")
    benefit = BenefitFactory(brand=brand, code=f"{prefix}-coupon")
    old = make_run(brand, status="superseded", as_of=date(2026, 1, 31))
    run = make_run(brand, status="published" if published else "succeeded", as_of=date(2026, 3, 31))
    rule = FollowupRuleFactory(brand=brand)
    for i in range(n):
        customer = CustomerFactory(
            brand=brand,
            external_id=f"{prefix}{i:03d}",
            acquisition_stream=stream if i % 2 else None,
            gender="female" if i % 3 else "male",
        )
        stage = STAGES[i % 5]
        make_score(
            run,
            customer,
            stage=stage,
            tier=tiers[i % 3] if i % 3 < 2 else None,
            rfm=RFM[i % 5],
            churn=(i % 10) / 10,
            clv=10 * i,
        )
        make_score(old, customer, stage="maturity", tier=tiers[0], rfm="champions", churn=0.01, clv=999)
        StageChange.objects.create(
            brand=brand,
            customer=customer,
            run=old,
            from_stage="",
            to_stage="maturity",
            rule="maturity_orders",
            changed_on=old.as_of,
        )
        if stage != "maturity":
            StageChange.objects.create(
                brand=brand,
                customer=customer,
                run=run,
                from_stage="maturity",
                to_stage=stage,
                rule=RULES[stage],
                changed_on=run.as_of,
            )
        if i % 4 == 0:
            CommunityMembershipFactory(brand=brand, community=community, customer=customer)
        order = OrderFactory(
            brand=brand,
            customer=customer,
            stream=stream,
            placed_at=datetime(2024, 1, 5, tzinfo=UTC) + timedelta(days=37 * i),
        )
        BenefitGrantFactory(brand=brand, customer=customer, benefit=benefit)
        at = datetime(2026, 4, 1, tzinfo=UTC) + timedelta(hours=i)
        Touch.objects.create(
            brand=brand,
            customer=customer,
            rule=rule,
            occasion=f"run:{run.pk}",
            stage=stage,
            scheduled_at=at,
            window_ends_at=at + timedelta(hours=72),
            send_hour=20,
            status="planned",
            converted_order=order if i % 2 else None,
        )
    for published_run in (run, old):
        clv_percentiles_set(published_run)
    Experiment.objects.create(
        brand=brand,
        code=f"{prefix}-exp",
        name="Coupon test",
        starts_at=datetime(2026, 4, 1, tzinfo=UTC),
        ends_at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    return run


def listed_brands(response) -> set[int]:
    return {row.brand_id for row in response.context["cl"].result_list}


# Pinned, for a manager of one brand (no brand filter, no brand column). Every page: session, user, the user's
# permissions (user, groups), the user's brand memberships (brand ids and roles in one query), the count (at
# most EXACT_COUNT_UP_TO + 1 rows read) and the page of rows with their related rows joined; then its own:
PAGES = {
    # + the filters' tiers and communities in one UNION
    "customers": ("/admin/customers/customer/", 8),
    # + one query of conditional counts for every filter (none in use: they share the list's rows) and one
    # of the communities' members among them
    "customers-facets": ("/admin/customers/customer/?_facets=True", 10),
    "customers-search": ("/admin/customers/customer/?q=acme001", 8),
    # + the tier filter's choices
    "customer-scores": ("/admin/analytics/customerscore/", 8),
    "customer-scores-facets": ("/admin/analytics/customerscore/?_facets=True", 9),
    # + the date hierarchy: first and last date, then the distinct months (a short list; a long one: none)
    "stage-changes": ("/admin/analytics/stagechange/", 9),
    "orders": ("/admin/orders/order/", 9),
    # + the date hierarchy (2) and the benefit filter's choices
    "benefit-grants": ("/admin/loyalty/benefitgrant/", 10),
    # + the rule filter's choices
    "touches": ("/admin/engagement/touch/", 8),
    "experiments": ("/admin/engagement/experiment/", 7),
    # + the brands the user may refresh, the date hierarchy (2)
    "model-runs": ("/admin/analytics/modelrun/", 10),
}


def page_queries(client, url) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured), response


@pytest.mark.parametrize("rows", [3, 30])
@pytest.mark.parametrize("page", list(PAGES))
def test_list_query_count_is_pinned_and_flat(login, brand, other_brand, page, rows):
    url, pinned = PAGES[page]
    brand_rows(other_brand, 3, prefix="rival")
    brand_rows(brand, rows, prefix="acme")
    queries, response = page_queries(login(staff("lists-manager", (brand, "manager"))), url)
    assert listed_brands(response) == {brand.pk}
    assert queries == pinned, f"{page} with {rows} rows: {queries} queries, pinned {pinned}"


def test_a_long_list_says_about_n_and_its_last_page_is_exact(
    login, brand, other_brand, long_lists, monkeypatch
):
    from apps.customers.admin import CustomerAdmin

    monkeypatch.setattr(CustomerAdmin, "list_per_page", 2)
    brand_rows(other_brand, 3, prefix="rival")
    brand_rows(brand, 5, prefix="acme")
    client = login(staff("lists-viewer", (brand, "viewer")))
    response = client.get(changelist_url(Customer))
    changelist = response.context["cl"]
    assert changelist.result_count_is_estimate and changelist.result_count >= 3
    assert re.search(r"about [\d,]+ customers", response.content.decode())
    last = client.get(changelist_url(Customer), {"p": 3}).context["cl"]  # one customer on the third page
    assert not last.result_count_is_estimate and last.result_count == 5
    assert [c.external_id for c in last.result_list] == ["acme004"]
    # the estimate never reaches another brand's rows: the list still holds one brand's customers
    assert listed_brands(response) == {brand.pk}


def test_a_long_list_short_of_one_page_is_counted_exactly(login, brand, long_lists, monkeypatch):
    from apps.customers.admin import CustomerAdmin

    monkeypatch.setattr(CustomerAdmin, "list_per_page", 10)
    brand_rows(brand, 5, prefix="acme")
    response = login(staff("lists-viewer", (brand, "viewer"))).get(changelist_url(Customer))
    changelist = response.context["cl"]
    assert not changelist.result_count_is_estimate and changelist.result_count == 5
    assert "5 customers" in response.content.decode()


def facet_labels(response) -> dict[str, list[str]]:
    """Each filter's choices as shown ("Decline (3)"), by filter title."""
    return {
        str(spec.title): [str(choice["display"]) for choice in spec.choices(response.context["cl"])]
        for spec in response.context["cl"].shown_filter_specs
    }


@pytest.mark.parametrize(
    "model", [Customer, CustomerScore, StageChange], ids=["customers", "customer-scores", "stage-changes"]
)
def test_a_long_lists_facet_counts_equal_the_live_ones(request, login, brand, other_brand, model):
    brand_rows(other_brand, 4, prefix="rival")
    brand_rows(brand, 12, prefix="acme")
    client = login(staff("lists-viewer", (brand, "viewer")))
    live = facet_labels(client.get(changelist_url(model), {"_facets": "1"}))
    request.getfixturevalue("long_lists")
    cheap = client.get(changelist_url(model), {"_facets": "1"})
    assert cheap.context["cl"].result_count_is_estimate
    assert facet_labels(cheap) == live
    assert any(
        re.search(r"\(\d+\)$", label) and not label.endswith("(0)")
        for labels in live.values()
        for label in labels
    )
    assert "(-)" not in str(live)


def test_customer_facets_count_the_published_run_only_and_this_brands_rows(
    login, brand, other_brand, long_lists
):
    brand_rows(other_brand, 4, prefix="rival")
    brand_rows(brand, 10, prefix="acme")
    CustomerFactory(brand=brand, external_id="unscored")
    labels = facet_labels(
        login(staff("lists-viewer", (brand, "viewer"))).get(changelist_url(Customer), {"_facets": "1"})
    )
    # 10 scored customers, two of each stage in the published run (the superseded run had them all in maturity)
    assert labels["lifecycle stage"][1:] == [
        "Prospect (0)",
        "Introduction (2)",
        "Growth (2)",
        "Maturity (2)",
        "Decline (2)",
        "Churned (2)",
        "Not scored yet (1)",
    ]
    assert "acme fans (3)" in labels["community"]  # customers 0, 4 and 8


def test_filtered_long_list_counts_what_it_can_and_shows_dashes_for_the_rest(login, brand, long_lists):
    brand_rows(brand, 15, prefix="acme")
    labels = facet_labels(
        login(staff("lists-viewer", (brand, "viewer"))).get(
            changelist_url(Customer), {"_facets": "1", "stage": "decline"}
        )
    )
    # the stage filter's own counts are those of the whole list (cheap); the others' would need the filtered rows
    assert "Decline (3)" in labels["lifecycle stage"]
    assert all(label.endswith("(-)") for label in labels["churn risk"][1:])


def test_a_new_published_run_is_counted_afresh(login, brand, long_lists):
    run = brand_rows(brand, 5, prefix="acme")
    client = login(staff("lists-viewer", (brand, "viewer")))
    assert (
        "Decline (1)"
        in facet_labels(client.get(changelist_url(Customer), {"_facets": "1"}))["lifecycle stage"]
    )
    run.status = "superseded"
    run.save()
    newer = make_run(brand, as_of=date(2026, 4, 30))
    for customer in Customer.objects.filter(brand=brand):
        make_score(newer, customer, stage="decline")
    assert (
        "Decline (5)"
        in facet_labels(client.get(changelist_url(Customer), {"_facets": "1"}))["lifecycle stage"]
    )


def test_the_date_hierarchy_of_a_long_list_spans_its_first_and_last_dates(login, brand, long_lists):
    brand_rows(brand, 12, prefix="acme")  # orders every 37 days from 2024-01-05: 2024 and 2025
    client = login(staff("lists-viewer", (brand, "viewer")))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(changelist_url(Order))
    links = response.context["cl"].date_hierarchy_links
    assert [choice["title"] for choice in links["choices"]] == ["2024", "2025"]
    assert not any(
        "DISTINCT" in q["sql"] and "date_trunc" in q["sql"].lower() for q in captured.captured_queries
    )
    year = client.get(changelist_url(Order), {"placed_at__year": "2025"}).context["cl"]
    # rows in 2025: 10 (Jan 15), 11 (Feb 21); two rows are at most 2: counted exactly, Django's own hierarchy
    assert year.date_hierarchy_links is None and year.result_count == 2


def test_every_list_page_holds_one_brands_rows_on_the_long_list_path(login, brand, other_brand, long_lists):
    brand_rows(other_brand, 4, prefix="rival")
    brand_rows(brand, 4, prefix="acme")
    client = login(staff("lists-manager", (brand, "manager")))
    for url, _pinned in PAGES.values():
        response = client.get(url)
        assert response.status_code == 200, url
        assert listed_brands(response) == {brand.pk}, url
    assert BenefitGrant.objects.filter(brand=other_brand).exists()


def test_the_customer_search_is_served_by_indexes_on_what_it_searches(db):
    from apps.customers.admin import CustomerAdmin
    from apps.customers.models import SEARCHED_FIELDS

    assert tuple(CustomerAdmin.search_fields) == SEARCHED_FIELDS
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'customers_customer'")
        definitions = [row[0] for row in cursor.fetchall()]
    for field in SEARCHED_FIELDS:
        assert any(f"upper(({field})::text) gin_trgm_ops" in d for d in definitions), field
    assert any("(brand_id, phone)" in d for d in definitions)


def test_a_phone_or_a_customer_id_is_found_in_one_search(login, brand):
    brand_rows(brand, 3, prefix="acme")
    Customer.objects.filter(external_id="acme001").update(phone="13812345678")
    CustomerFactory(brand=brand, external_id="C13812345678")
    client = login(staff("lists-manager", (brand, "manager")))
    response = client.get(changelist_url(Customer), {"q": "+86 138-1234-5678"})
    assert sorted(c.external_id for c in response.context["cl"].result_list) == ["acme001"]
    response = client.get(changelist_url(Customer), {"q": "13812345678"})
    assert sorted(c.external_id for c in response.context["cl"].result_list) == ["C13812345678", "acme001"]


def test_live_facet_counts_that_take_too_long_show_dashes_and_the_page_still_renders(
    login, brand, monkeypatch
):
    brand_rows(brand, 6, prefix="acme")
    monkeypatch.setattr(core_admin, "FACET_UNTIMED_UP_TO", 0)  # every live count within the budget …
    monkeypatch.setattr(core_admin, "LIST_BUDGET_MS", 1)  # … of 1 ms, with a query that takes longer
    monkeypatch.setattr(core_admin, "FACET_MIN_BUDGET_MS", 1)
    slow = core_admin.facet_counts_in_one_query

    def sleepy(queryset, specs, pk_attname="pk", extra=None, budget_ms=None):
        from django.db.models import Func, IntegerField, Sum

        sleep = Func(
            function="pg_sleep", template="(SELECT 0 FROM pg_sleep(0.05))", output_field=IntegerField()
        )
        return slow(queryset, specs, pk_attname, extra={"slow": Sum(sleep)}, budget_ms=budget_ms)

    monkeypatch.setattr(core_admin, "facet_counts_in_one_query", sleepy)
    client = login(staff("lists-viewer", (brand, "viewer")))
    response = client.get(changelist_url(Order), {"_facets": "1"})
    assert response.status_code == 200
    labels = facet_labels(response)
    assert labels["status"][1:] and all(label.endswith("(-)") for label in labels["status"][1:])
    # the connection is still usable, without the budget: the next page counts as usual
    monkeypatch.setattr(core_admin, "facet_counts_in_one_query", slow)
    labels = facet_labels(client.get(changelist_url(Order), {"_facets": "1"}))
    assert not any(label.endswith("(-)") for label in labels["status"][1:])


# The lists whose default order an index serves (no Sort of the brand's rows; an incremental sort of rows
# already in order is fine): the page of a list of a million rows then reads a page of rows.
INDEX_ORDERED = {
    Customer: "customers_customer",
    CustomerScore: "analytics_customerscore",
    StageChange: "analytics_stagechange",
    Order: "orders_order",
    BenefitGrant: "loyalty_benefitgrant",
    Touch: "engagement_touch",
}


@pytest.mark.parametrize("model", list(INDEX_ORDERED), ids=lambda m: m._meta.model_name)
def test_a_lists_order_is_served_by_an_index(login, brand, model):
    brand_rows(brand, 3, prefix="acme")
    client = login(staff("lists-viewer", (brand, "viewer")))
    with CaptureQueriesContext(connection) as captured:
        client.get(changelist_url(model))
    table = INDEX_ORDERED[model]
    page = next(
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith(f'SELECT "{table}"."id"') and "ORDER BY" in q["sql"]
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")  # a plan that must sort says so even on a few rows
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {page}")
        plan = cursor.fetchone()[0]
        cursor.execute("SET LOCAL enable_sort TO DEFAULT")
        cursor.execute("SET LOCAL enable_seqscan TO DEFAULT")

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    plan = plan if isinstance(plan, list) else json.loads(plan)
    kinds = [node["Node Type"] for node in nodes(plan[0]["Plan"])]
    assert "Sort" not in kinds, kinds


def test_a_filter_counted_on_its_own_past_the_budget_shows_dashes_and_the_others_their_counts(
    login, brand, monkeypatch
):
    from apps.customers.admin.filters import CommunityFilter

    brand_rows(brand, 6, prefix="acme")
    monkeypatch.setattr(core_admin, "FACET_UNTIMED_UP_TO", 0)
    monkeypatch.setattr(core_admin, "LIST_BUDGET_MS", 700)  # the list's few rows take far less, a second more
    counted = CommunityFilter.count_facets

    def slow_count_facets(self, queryset, pk_attname):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(1)")
        return counted(self, queryset, pk_attname)

    monkeypatch.setattr(CommunityFilter, "count_facets", slow_count_facets)
    labels = facet_labels(
        login(staff("lists-viewer", (brand, "viewer"))).get(changelist_url(Customer), {"_facets": "1"})
    )
    assert labels["community"] == ["All", "acme fans (-)"]
    assert "Decline (1)" in labels["lifecycle stage"]
