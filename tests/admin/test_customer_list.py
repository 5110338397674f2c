"""The customer list: published-score columns and filters (stage, tier, RFM segment, churn risk, CLV band,
community, acquisition platform), brand scoping, masked phone, and a query count that does not grow with rows."""

import re
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.customers.models import Customer
from tests.admin.conftest import changelist_url, staff
from tests.factories import (
    BrandFactory,
    CommunityFactory,
    CommunityMembershipFactory,
    CustomerFactory,
    StreamFactory,
    TierFactory,
    clv_percentiles_set,
    make_run,
    make_score,
)

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 3, 31)


@pytest.fixture
def scored(brand, other_brand):
    """Five scored Acme customers, one unscored; a superseded run with other figures; a scored Rival customer."""
    gold = TierFactory(brand=brand, code="gold", name="Gold", rank=1)
    silver = TierFactory(brand=brand, code="silver", name="Silver", rank=2)
    fans = CommunityFactory(brand=brand, name="Acme fans")
    douyin = StreamFactory(brand=brand, platform="douyin")
    kuaishou = StreamFactory(brand=brand, platform="kuaishou")
    old = make_run(brand, status="superseded", as_of=date(2026, 2, 28))
    run = make_run(brand)
    specs = [
        # external id, stage, tier, rfm, churn, clv, acquisition stream
        ("A1", "introduction", None, "new", 0.10, 100, douyin),
        ("A2", "growth", silver, "promising", 0.30, 200, douyin),
        ("A3", "maturity", silver, "loyal", 0.40, 300, kuaishou),
        ("A4", "decline", gold, "at_risk", 0.60, 400, None),
        ("A5", "churned", gold, "cant_lose", 0.95, 500, None),
    ]
    customers = {}
    for external_id, stage, tier, rfm, churn, clv, stream in specs:
        customer = CustomerFactory(brand=brand, external_id=external_id, acquisition_stream=stream)
        make_score(run, customer, stage=stage, tier=tier, rfm=rfm, churn=churn, clv=clv)
        make_score(old, customer, stage="maturity", tier=gold, rfm="champions", churn=0.01, clv=9999)
        customers[external_id] = customer
    customers["A6"] = CustomerFactory(brand=brand, external_id="A6")
    CommunityMembershipFactory(brand=brand, community=fans, customer=customers["A2"])
    CommunityMembershipFactory(
        brand=brand, community=fans, customer=customers["A3"], left_at=datetime(2026, 2, 1, tzinfo=UTC)
    )
    rival_tier = TierFactory(brand=other_brand, code="rival-gold", name="Rival Gold", rank=1)
    rival_fans = CommunityFactory(brand=other_brand, name="Rival fans")
    rival_customer = CustomerFactory(brand=other_brand, external_id="R1")
    rival_run = make_run(other_brand)
    make_score(rival_run, rival_customer, stage="decline", tier=rival_tier, churn=0.9, clv=900)
    for published in (run, old, rival_run):
        clv_percentiles_set(published)
    CommunityMembershipFactory(brand=other_brand, community=rival_fans, customer=rival_customer)
    return {
        "customers": customers,
        "gold": gold,
        "silver": silver,
        "fans": fans,
        "rival_tier": rival_tier,
        "rival_fans": rival_fans,
    }


def listed(client, **params) -> list[str]:
    response = client.get(changelist_url(Customer), params)
    assert response.status_code == 200, response.content.decode()[:500]
    return sorted(c.external_id for c in response.context["cl"].result_list)


def test_columns_show_the_published_scores_not_older_runs(login, scored, acme_viewer):
    response = login(acme_viewer).get(changelist_url(Customer), {"q": "A4"})
    html = response.content.decode()
    row = response.context["cl"].result_list[0]
    assert (row.score_stage, row.score_tier_name, row.score_churn, float(row.score_clv)) == (
        "decline",
        "Gold",
        0.6,
        400.0,
    )
    assert "Decline" in html and "60%" in html and "400.00" in html
    assert "9,999.00" not in html  # the superseded run's CLV
    assert f'href="/admin/customers/customer/{scored["customers"]["A4"].pk}/360/"' in html


def test_an_unscored_customer_shows_dashes(login, scored, acme_viewer):
    response = login(acme_viewer).get(changelist_url(Customer), {"q": "A6"})
    row = response.context["cl"].result_list[0]
    assert (row.score_stage, row.score_tier_name, row.score_churn, row.score_clv) == (None, None, None, None)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stage": "decline"}, ["A4"]),
        ({"stage": "none"}, ["A6"]),
        ({"rfm": "cant_lose"}, ["A5"]),
        ({"churn_risk": "high"}, ["A4", "A5"]),
        ({"churn_risk": "medium"}, ["A2", "A3"]),
        ({"churn_risk": "low"}, ["A1"]),
        ({"clv_band": "top20"}, ["A5"]),  # 4 of 5 have a lower CLV: percentile 80
        ({"clv_band": "middle"}, ["A3", "A4"]),  # percentiles 40 and 60
        ({"clv_band": "bottom40"}, ["A1", "A2"]),
        ({"clv_band": "none"}, ["A6"]),
        ({"acquisition_platform": "douyin"}, ["A1", "A2"]),
        ({"acquisition_platform": "kuaishou"}, ["A3"]),
        ({"acquisition_platform": "none"}, ["A4", "A5", "A6"]),
        ({"stage": "growth", "churn_risk": "medium"}, ["A2"]),
    ],
)
def test_filters_on_the_published_score_and_acquisition(login, scored, acme_viewer, params, expected):
    assert listed(login(acme_viewer), **params) == expected


def test_tier_and_community_filters(login, scored, acme_viewer):
    client = login(acme_viewer)
    assert listed(client, tier=scored["gold"].pk) == ["A4", "A5"]
    assert listed(client, tier=scored["silver"].pk) == ["A2", "A3"]
    assert listed(client, tier="none") == ["A1", "A6"]
    # current members only: A3 left the community
    assert listed(client, community=scored["fans"].pk) == ["A2"]


def test_filter_choices_and_results_never_reach_another_brand(login, scored, acme_viewer):
    client = login(acme_viewer)
    html = client.get(changelist_url(Customer)).content.decode()
    assert f"tier={scored['gold'].pk}" in html and "Silver" in html and "Acme fans" in html
    assert "Rival Gold" not in html and "Rival fans" not in html
    assert f"tier={scored['rival_tier'].pk}" not in html
    # a hand-written filter on Rival's tier or community finds nothing
    assert listed(client, tier=scored["rival_tier"].pk) == []
    assert listed(client, community=scored["rival_fans"].pk) == []
    assert listed(client, stage="decline") == ["A4"]  # not Rival's R1


def test_bad_filter_values_find_nothing(login, scored, acme_viewer):
    client = login(acme_viewer)
    assert listed(client, tier="gold") == []
    assert listed(client, clv_band="top1") == []
    assert listed(client, churn_risk="extreme") == []


def test_clv_bands_are_counted_within_each_brand(login, scored, superuser):
    # Rival's single customer is the top of its own brand, whatever Acme's CLVs are
    assert listed(login(superuser), clv_band="top20") == ["A5"]
    assert listed(login(superuser), clv_band="bottom40") == ["A1", "A2", "R1"]


def test_the_clv_column_shows_the_brands_currency(login, scored, acme_viewer, brand):
    response = login(acme_viewer).get(changelist_url(Customer))
    cells = [row for row in response.content.decode().split("<tr") if ">A5<" in row]
    # the published run's CLV, not the superseded run's 9,999
    assert len(cells) == 1 and f"500.00 {brand.currency}" in cells[0] and "9,999" not in cells[0]


def test_sorting_by_clv(login, scored, acme_viewer):
    client = login(acme_viewer)
    changelist = client.get(changelist_url(Customer)).context["cl"]
    clv_column = changelist.list_display.index("clv")
    response = client.get(changelist_url(Customer), {"o": f"-{clv_column}"})
    order = [c.external_id for c in response.context["cl"].result_list]
    # the unscored customer (no CLV) last both ways: "highest CLV first" starts with the highest CLV
    assert order == ["A5", "A4", "A3", "A2", "A1", "A6"]
    response = client.get(changelist_url(Customer), {"o": f"{clv_column}"})
    assert [c.external_id for c in response.context["cl"].result_list] == ["A1", "A2", "A3", "A4", "A5", "A6"]
    churn_column = changelist.list_display.index("churn_risk")
    response = client.get(changelist_url(Customer), {"o": f"-{churn_column}"})
    assert [c.external_id for c in response.context["cl"].result_list] == ["A5", "A4", "A3", "A2", "A1", "A6"]


def test_facets_count_each_choice(login, scored, acme_viewer):
    response = login(acme_viewer).get(changelist_url(Customer), {"_facets": "1"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Decline (1)" in html and "Not scored yet (1)" in html
    assert "High (≥ 50%) (2)" in html


def test_phone_masked_for_viewer_and_raw_for_manager(login, scored, acme_viewer, brand):
    customer = scored["customers"]["A1"]
    customer.phone = "13812345678"
    customer.save()
    assert "138****5678" in login(acme_viewer).get(changelist_url(Customer)).content.decode()
    assert "13812345678" not in login(acme_viewer).get(changelist_url(Customer)).content.decode()
    manager = staff("acme-boss", (brand, "manager"))
    assert "13812345678" in login(manager).get(changelist_url(Customer)).content.decode()


# Pinned: session, user, user permissions, group permissions, caller's brand ids, tiers and communities of the
# filters (one UNION), count, one page of rows with their published scores and tiers, caller's roles.
CUSTOMER_LIST_QUERIES = 9


def test_query_count_is_flat_with_scores_tiers_and_communities(login, brand, other_brand, acme_manager):
    tiers = [TierFactory(brand=brand, code=f"t{i}", name=f"Tier {i}", rank=i + 1) for i in range(3)]
    community = CommunityFactory(brand=brand)
    stream = StreamFactory(brand=brand)
    run = make_run(brand)
    CustomerFactory.create_batch(3, brand=other_brand)

    def add_customers(n):
        for i in range(n):
            customer = CustomerFactory(brand=brand, acquisition_stream=stream)
            make_score(run, customer, tier=tiers[i % 3], clv=10 * i, churn=(i % 10) / 10)
            CommunityMembershipFactory(brand=brand, community=community, customer=customer)

    def queries_for_list(rows):
        client = login(acme_manager)  # a fresh session and user each time: nothing cached between the two
        with CaptureQueriesContext(connection) as captured:
            response = client.get(changelist_url(Customer))
        assert response.context["cl"].result_count == rows
        assert len(re.findall(r"/customer/\d+/360/", response.content.decode())) == rows  # not a pk of 360
        return len(captured)

    add_customers(5)
    five = queries_for_list(5)
    add_customers(45)
    fifty = queries_for_list(50)
    assert five == fifty
    assert fifty <= CUSTOMER_LIST_QUERIES


def test_staff_of_two_brands_get_the_brand_filter_and_labelled_tiers(login, scored, brand):
    nova = BrandFactory(slug="nova", name="Nova Outdoor")
    TierFactory(brand=nova, code="gold", name="Gold", rank=1)
    user = staff("two-brands", (brand, "viewer"), (nova, "viewer"))
    html = login(user).get(changelist_url(Customer)).content.decode()
    assert f"brand__id__exact={brand.pk}" in html
    assert "Gold (Acme Beauty)" in html and "Gold (Nova Outdoor)" in html
    assert "Rival Gold" not in html


def test_search_finds_a_city_and_an_exact_phone_only_for_those_who_may_see_phones(login, brand):
    from tests.admin.conftest import staff
    from tests.factories import CustomerFactory

    CustomerFactory(brand=brand, external_id="C-HZ", city="杭州", phone="13800001111")
    CustomerFactory(brand=brand, external_id="C-SH", city="上海", phone="13900002222")
    viewer = login(staff("mei", (brand, "viewer")))
    found = viewer.get("/admin/customers/customer/", {"q": "杭州"}, HTTP_ACCEPT_LANGUAGE="en")
    assert found.context["cl"].result_count == 1 and "C-HZ" in found.content.decode()
    assert "exact phone" not in found.content.decode()  # the hint says what this role can search
    assert viewer.get("/admin/customers/customer/", {"q": "13800001111"}).context["cl"].result_count == 0
    manager = login(staff("lin", (brand, "manager")))
    for term in ("13800001111", "138 0000 1111", "+86 138-0000-1111"):
        listed = manager.get("/admin/customers/customer/", {"q": term})
        assert listed.context["cl"].result_count == 1, term
    assert (
        manager.get("/admin/customers/customer/", {"q": "1380000"}).context["cl"].result_count == 0
    )  # exact only


def test_export_streams_the_filtered_customers_masks_personal_data_by_role_and_is_audited(login, brand):
    import csv
    import io

    from apps.audit.models import AuditEvent
    from tests.admin.conftest import staff
    from tests.factories import CustomerFactory

    CustomerFactory(brand=brand, external_id="C-1", display_name="林小雅", phone="13800001111", city="杭州")
    CustomerFactory(
        brand=brand, external_id="C-2", display_name="=HYPERLINK(1)", phone="13900002222", city="上海"
    )

    def export(user, query=""):
        client = login(user)
        response = client.post(
            f"/admin/customers/customer/{query}",
            {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": ["0"]},
        )
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        text = b"".join(response.streaming_content).decode("utf-8")
        assert text.startswith("\ufeff")
        return list(csv.DictReader(io.StringIO(text[1:])))

    rows = export(staff("mei", (brand, "viewer")), "?q=杭州")
    assert [r["customer id"] for r in rows] == ["C-1"]
    assert (
        rows[0]["phone"] != "13800001111" and "林小雅" not in rows[0]["display name"]
    )  # masked for a viewer
    rows = {r["customer id"]: r for r in export(staff("lin", (brand, "manager")))}
    assert rows["C-1"]["phone"] == "13800001111" and rows["C-1"]["display name"] == "林小雅"
    assert rows["C-2"]["display name"] == "'=HYPERLINK(1)"  # never run as a formula
    events = AuditEvent.objects.filter(brand=brand, action="exported").order_by("pk")
    assert [(e.changes["rows"][1], e.changes["personal_data"][1]) for e in events] == [(1, False), (2, True)]
    assert "13800001111" not in str([e.changes for e in events]) and "林小雅" not in str(
        [e.object_repr for e in events]
    )
