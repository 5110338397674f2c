"""The brand dashboard (/admin/dashboard/<brand>/): figures and SVG charts for a small hand-made brand, brand
scoping (another brand's dashboard is a 404), every role reads it, the brand selector, the links from the admin
home and top bar, the note a report shows when it cannot run, and the language (browser or switcher)."""

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.analytics import snapshots
from apps.analytics.dashboard import sections as dashboard
from apps.analytics.models import CustomerScore, DashboardSnapshot
from tests.admin.conftest import staff
from tests.factories import CustomerFactory, OrderFactory, clv_percentiles_set, make_score
from tests.scenarios import CHARTS, at, make_dashboard_brand

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def dashboard_url(brand):
    return reverse("clv_dashboard_brand", args=[brand.pk])


def svg_of(html: str, element_id: str) -> ET.Element:
    start = html.index(f'id="{element_id}"')
    begin = html.index("<svg", start)
    end = html.index("</svg>", begin) + len("</svg>")
    return ET.fromstring(html[begin:end])


@pytest.fixture
def shop(brand):
    return make_dashboard_brand(brand)


@pytest.fixture
def rival_shop(other_brand):
    return make_dashboard_brand(other_brand, prefix="R")


def test_figures_of_a_hand_made_brand(brand, shop):
    context = dashboard.dashboard_context(brand, now=NOW)
    # customers by tier and stage
    distribution = context["distribution"]
    assert distribution.figures["total"] == 5
    assert distribution.figures["by_tier"] == [("D Gold", 2), ("D Silver", 2), ("No tier", 1)]
    assert distribution.figures["by_stage"] == dict.fromkeys(
        ["introduction", "growth", "maturity", "decline", "churned"], 1
    )
    # at risk: C5 only (C4 churns too but its spend to date is not in the top 20%); 500 spent × 0.9
    at_risk = context["at_risk"]
    assert at_risk.figures["count"] == 1
    [row] = at_risk.rows
    assert (row.external_id, row.tier, row.value_at_risk) == ("D-C5", "D Gold", 450.0)
    assert row.url == f"/admin/customers/customer/{shop.customers['C5'].pk}/360/"
    # GMV and repurchase by month: 12 months up to April 2026
    trend = context["gmv"].rows
    assert [r["label"] for r in trend][-4:] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert trend[0]["label"] == "2025-05" and len(trend) == 12
    assert [(r["gmv"], r["buyers"], r["repeat_buyers"]) for r in trend[-4:]] == [
        (150.0, 2, 0),
        (140.0, 2, 2),
        (80.0, 1, 0),
        (60.0, 1, 1),
    ]
    assert [r["repurchase_rate"] for r in trend[-4:]] == [0.0, 1.0, 0.0, 1.0]
    assert trend[0]["repurchase_rate"] is None and trend[0]["gmv"] == 0.0
    # cohorts by first-purchase month
    cohorts = {c.key: c for c in context["cohorts"].rows}
    assert list(cohorts) == ["2026-01", "2026-02", "2026-03"]
    assert cohorts["2026-01"].size == 2 and cohorts["2026-01"].retention[:4] == [1.0, 0.5, 0.0, 0.0]
    assert cohorts["2026-02"].retained[:3] == [1, 0, 1]
    # Kaplan-Meier by stage from the run's cutoff: only the maturity customer bought since
    survival = context["survival"]
    events = {stage: (n, bought) for stage, n, bought, _median in survival.rows}
    assert events == {
        "Introduction": (1, 0),
        "Growth": (1, 0),
        "Maturity": (1, 1),
        "Decline": (1, 0),
        "Churned": (1, 0),
    }
    assert survival.figures["p_value"] is not None and 0 < survival.figures["p_value"] < 1
    assert survival.figures["origin"] == "2026-04-01"
    # 72-hour repurchase after streams: one of the two streams' buyers
    streams = context["streams"]
    assert (streams.figures["repurchasers"], streams.figures["buyers"], streams.figures["rate"]) == (
        1,
        2,
        0.5,
    )
    assert [row.title for row in streams.rows] == ["D encore", "D launch"]
    # the latest run, its holdout metrics and warnings
    latest = context["latest_run"]
    assert latest.figures["run"].pk == shop.run.pk
    assert latest.figures["url"] == f"/admin/analytics/modelrun/{shop.run.pk}/change/"
    model_row = next(r for r in latest.rows if r["key"] == "model")
    assert model_row["cells"][0] == "0.550"
    warnings = " ".join(latest.figures["warnings"])
    assert "Decline: only 3 repeat purchases" in warnings and "barely better than chance" in warnings


def test_viewer_reads_the_page_with_every_chart_drawn(login, brand, shop, rival_shop):
    viewer = staff("acme-viewer", (brand, "viewer"))
    response = login(viewer).get(dashboard_url(brand))
    assert response.status_code == 200
    html = response.content.decode()
    for element_id in CHARTS:
        svg = svg_of(html, element_id)
        assert svg.get("role") == "img"
        assert svg.find(f"{SVG}title").text
        assert not svg.findall(f".//{SVG}text[@class='clv-chart-empty']"), element_id
    # the marks themselves: bars, cells, step curves and trend lines
    assert len(svg_of(html, "chart-distribution").findall(f".//{SVG}rect[@class='clv-bar']")) == 5
    assert len(svg_of(html, "chart-cohorts").findall(f".//{SVG}rect[@class='clv-cell']")) > 3
    assert len(svg_of(html, "chart-survival").findall(f".//{SVG}path[@class='clv-line']")) == 5
    assert svg_of(html, "chart-gmv").findall(f".//{SVG}circle[@class='clv-point']")
    assert len(svg_of(html, "chart-streams").findall(f".//{SVG}rect[@class='clv-bar']")) == 1
    # figures, links and warnings
    assert 'id="at-risk-count">1<' in html
    assert f'href="/admin/customers/customer/{shop.customers["C5"].pk}/360/"' in html
    assert f'href="/admin/analytics/modelrun/{shop.run.pk}/change/"' in html
    assert "barely better than chance" in html
    assert "p = " in html and "Log-rank" in html
    assert "1 of 2 buyers bought again within 72 hours" in html
    # nothing of the other brand; no brand selector for a one-brand member
    assert "R-C" not in html and "R Gold" not in html and "R launch" not in html
    assert 'id="brand-selector"' not in html
    # no outside request and no script needed
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html


def test_another_brands_dashboard_is_a_404(login, brand, other_brand, shop):
    rival_manager = staff("rival-manager", (other_brand, "manager"))
    client = login(rival_manager)
    assert client.get(dashboard_url(brand)).status_code == 404
    assert client.get(reverse("clv_dashboard"), {"brand": brand.pk}).status_code == 404
    assert client.get(reverse("clv_dashboard_brand", args=[999999])).status_code == 404
    # their own brand's is fine, and the bare URL leads there
    assert client.get(dashboard_url(other_brand)).status_code == 200
    response = client.get(reverse("clv_dashboard"))
    assert response.status_code == 302 and response["Location"] == dashboard_url(other_brand)


def test_sign_in_is_required(client, brand):
    response = client.get(dashboard_url(brand))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("role", ["viewer", "analyst", "manager"])
def test_every_role_reads_it(login, brand, role):
    user = staff(f"acme-{role}", (brand, role))
    response = login(user).get(dashboard_url(brand))
    assert response.status_code == 200
    # an empty brand: every section says so instead of failing
    html = response.content.decode()
    assert "No published scores yet" in html and "No model run yet." in html and "No streams yet." in html


def test_staff_of_several_brands_choose_with_the_selector(login, brand, other_brand):
    both = staff("both", (brand, "viewer"), (other_brand, "analyst"))
    client = login(both)
    html = client.get(dashboard_url(other_brand)).content.decode()
    assert 'id="brand-selector"' in html
    assert f'<option value="{brand.pk}">Acme Beauty</option>' in html
    assert f'<option value="{other_brand.pk}" selected>Rival Apparel</option>' in html
    response = client.get(reverse("clv_dashboard"), {"brand": brand.pk})
    assert response.status_code == 302 and response["Location"] == dashboard_url(brand)
    # the bare URL: the first brand by name
    assert client.get(reverse("clv_dashboard"))["Location"] == dashboard_url(brand)


def test_superusers_pick_any_brand(login, brand, other_brand, superuser):
    client = login(superuser)
    assert client.get(dashboard_url(other_brand)).status_code == 200
    assert 'id="brand-selector"' in client.get(dashboard_url(brand)).content.decode()


def test_staff_without_a_brand_are_told(login, db):
    lonely = staff("lonely")
    response = login(lonely).get(reverse("clv_dashboard"))
    assert response.status_code == 200
    assert "You are not a member of any brand yet" in response.content.decode()


def test_admin_home_and_top_bar_link_the_dashboard(login, brand):
    viewer = staff("acme-viewer", (brand, "viewer"))
    client = login(viewer)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="clv-dashboard-entry"' in html and 'href="/admin/dashboard/"' in html
    assert 'id="clv-dashboard-link" href="/admin/dashboard/"' in html


def test_language_switcher_and_browser_language(login, brand):
    viewer = staff("acme-viewer", (brand, "viewer"))
    client = login(viewer)
    html = client.get(dashboard_url(brand)).content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert 'name="language" value="zh-hans"' in html and 'name="language" value="en"' in html
    assert '<html lang="en"' in html and "Home" in html
    # the browser's language, without a choice
    html = client.get(dashboard_url(brand), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="zh-hans"' in html and "首页" in html
    # the switcher's choice wins over the browser
    response = client.post(reverse("set_language"), {"language": "en", "next": dashboard_url(brand)})
    assert response.status_code == 302 and response["Location"] == dashboard_url(brand)
    html = client.get(dashboard_url(brand), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert '<html lang="en"' in html
    client.post(reverse("set_language"), {"language": "zh-hans", "next": dashboard_url(brand)})
    html = client.get(dashboard_url(brand)).content.decode()
    assert '<html lang="zh-hans"' in html and "首页" in html
    assert 'value="zh-hans" lang="zh-hans"\n    aria-pressed="true"' in html


def test_the_score_table_has_no_other_brand_rows(brand, other_brand, shop, rival_shop):
    """Every query of the page filters on the brand: the rival's scores change nothing."""
    assert CustomerScore.objects.filter(brand=other_brand).count() == 5
    context = dashboard.dashboard_context(brand, now=NOW)
    assert context["distribution"].figures["total"] == 5
    assert context["at_risk"].figures["count"] == 1
    assert sum(r["gmv"] for r in context["gmv"].rows) == 430.0
    assert context["streams"].figures["buyers"] == 2
    assert context["latest_run"].figures["run"].brand_id == brand.pk
    assert date(2026, 1, 1) in [r["month"] for r in context["gmv"].rows]


# Queries of one dashboard view by a viewer: session, user, brand, the user's brands, two of permissions (the
# admin's context), the brands of the selector; the published run, the snapshot with the brand's data version,
# tiers, the customers first seen in the three periods, the latest run.
VIEW_QUERIES = 12
# With a stale snapshot, computing it adds: a savepoint, the advisory lock, the snapshot read again under the
# lock, work_mem, the paid orders' first and last times, the orders folded per customer and per day, the
# tier x stage counts, the at-risk list, the at-risk customers' ids, the Kaplan-Meier run and curves, the
# streams' buyers, the upsert, the savepoint's release.
STALE_QUERIES = 15
# With none yet, the brand's data version is read on its own too.
MISSING_QUERIES = STALE_QUERIES + 1


def test_query_count_is_pinned_with_and_without_a_snapshot(login, brand, shop, django_assert_num_queries):
    client = login(staff("acme-viewer", (brand, "viewer")))
    client.get(reverse("admin:index"))  # the session's first read of the user and its permissions

    def view():
        response = client.get(dashboard_url(brand))
        assert response.status_code == 200
        return response

    assert not DashboardSnapshot.objects.filter(brand=brand).exists()
    with django_assert_num_queries(VIEW_QUERIES + MISSING_QUERIES):
        view()  # computed on the first view
    with django_assert_num_queries(VIEW_QUERIES):
        view()  # read
    # more scored customers with orders: new orders change the data version; the snapshot stands while it is
    # fresh (snapshots.FRESH_SECONDS), then it is computed again with the same number of queries and read again
    for i in range(15):
        customer = CustomerFactory(brand=brand, external_id=f"X{i}")
        make_score(shop.run, customer, stage="growth", churn=0.1, clv=50 + i)
        OrderFactory(
            brand=brand, customer=customer, external_id=f"X-O{i}", placed_at=at(3, 1 + i), total_amount=10
        )
    clv_percentiles_set(shop.run)
    with django_assert_num_queries(VIEW_QUERIES):
        response = view()
    assert response.context["distribution"].figures["total"] == 5
    DashboardSnapshot.objects.filter(brand=brand).update(
        computed_at=timezone.now() - timedelta(seconds=snapshots.FRESH_SECONDS + 1)
    )
    with django_assert_num_queries(VIEW_QUERIES + STALE_QUERIES):
        response = view()
    assert response.context["distribution"].figures["total"] == 20
    with django_assert_num_queries(VIEW_QUERIES):
        view()


def test_every_card_and_bar_opens_the_customers_it_counts(login, brand, shop):
    import re
    from html import unescape

    client = login(staff("lin", (brand, "viewer")))
    html = client.get(dashboard_url(brand)).content.decode()
    context = dashboard.dashboard_context(brand)
    # each bar of the tier × stage chart links to the customer list filtered to that tier and stage
    chart = html[html.index('id="chart-distribution"') : html.index('id="at-risk"')]
    bars = re.findall(r'<a class="clv-bar-link" href="([^"]+)"><rect[^>]*><title>([^<]+)</title>', chart)
    assert bars
    for href, title in bars:
        count = int(title.rsplit(": ", 1)[1].replace(",", ""))
        listed = client.get(unescape(href))
        assert listed.status_code == 200 and listed.context["cl"].result_count == count, (href, title)
    # the at-risk card opens the at-risk customers, the same number
    links = dict(
        re.findall(r'<a class="clv-card-link" href="([^"]+)"><span class="clv-card-label">([^<]+)<', html)
    )
    at_risk = next(href for href, label in links.items() if "risk" in label)
    listed = client.get(unescape(at_risk))
    assert listed.context["cl"].result_count == context["at_risk"].figures["count"]
    # the scored card opens the published run's scores: one row per customer it counts
    scored = next(href for href, label in links.items() if "scored" in label)
    listed = client.get(unescape(scored))
    assert listed.status_code == 200 and "customerscore" in scored
    assert listed.context["cl"].result_count == context["distribution"].figures["total"] > 0


def _period_cards(response) -> dict:
    return {card["key"]: card for card in response.context["period_cards"]}


def test_date_range_cards_compare_with_the_previous_period_and_a_year_earlier(login, brand, shop):
    client = login(staff("lin", (brand, "viewer")))
    response = client.get(
        dashboard_url(brand), {"period": "custom", "from": "2026-02-01", "to": "2026-02-28"}
    )
    cards = _period_cards(response)
    # February: 140 over C3's 30 and 40 and C2's 70; the 28 days before (4-31 January): C1's 100, C2's 50
    gmv = cards["gmv"]
    # money with the brand's currency, in the card's label (the figures stood bare)
    assert (gmv["label"], gmv["value"], gmv["partial"]) == (f"GMV ({brand.currency})", "140.00", False)
    [previous, last_year] = gmv["changes"]
    assert (previous["label"], previous["text"], previous["direction"]) == (
        "vs previous 28 days",
        "▼ 6.7%",
        "down",
    )
    assert previous["title"] == "2026-01-04 – 2026-01-31: 150.00 *"  # January's orders start on the 10th
    assert (last_year["text"], last_year["title"]) == ("no data", "2025-02-01 – 2025-02-28")
    assert [c["text"] for c in cards["orders"]["changes"]] == ["▲ 50.0%", "no data"]
    assert (cards["new_buyers"]["value"], cards["new_buyers"]["changes"][0]["text"]) == ("1", "▼ 50.0%")
    # two of February's three orders came from buyers who had bought before; none of January's two
    assert (cards["repeat_orders"]["value"], cards["repeat_orders"]["changes"][0]["text"]) == (
        "67%",
        "▲ 66.7 pts",
    )
    # one of the two buyers of February's streams bought again within 72 hours; January had no stream
    assert (cards["streams_72h"]["value"], cards["streams_72h"]["changes"][0]["text"]) == ("50%", "—")
    # every customer was first seen on 1 January: February is outside what the data say
    assert (cards["new_customers"]["value"], cards["new_customers"]["changes"]) == ("no data", [])
    html = response.content.decode()
    assert 'id="period-days">2026-02-01 to 2026-02-28 (28 days)<' in html
    assert "▼ 6.7%" in html and 'class="clv-change clv-change-down"' in html
    # the default, the last 30 days, is after the brand's last order: no data, and marked not over yet
    cards = _period_cards(client.get(dashboard_url(brand)))
    assert cards["gmv"]["value"] == "no data" and cards["gmv"]["changes"] == []


def test_every_date_range_card_opens_what_it_counts(login, brand, shop):
    from html import unescape

    client = login(staff("lin", (brand, "viewer")))
    response = client.get(
        dashboard_url(brand), {"period": "custom", "from": "2026-01-01", "to": "2026-01-31"}
    )
    cards = _period_cards(response)
    html = response.content.decode()

    def count(link) -> int:
        listed = client.get(link)
        assert listed.status_code == 200, link
        assert unescape(link.replace("&", "&amp;")) == link and link.replace("&", "&amp;") in html
        return listed.context["cl"].result_count

    # the paid orders of January (the range carried into the orders' date filter)
    assert "placed_at__gte=2026-01-01" in cards["orders"]["link"]
    assert count(cards["orders"]["link"]) == int(cards["orders"]["value"]) == 2
    assert count(cards["gmv"]["link"]) == 2
    # a whole month: the new buyers are the month's cohort in the customer list
    assert "cohort=m%3A" in cards["new_buyers"]["link"]
    assert count(cards["new_buyers"]["link"]) == int(cards["new_buyers"]["value"]) == 2
    # the customers first seen in the range (the customer list's own date filter)
    assert "first_seen_at__gte=2026-01-01" in cards["new_customers"]["link"]
    assert count(cards["new_customers"]["link"]) == int(cards["new_customers"]["value"]) == 5
    # repurchase after streams: the funnel of the range's streams
    funnel = client.get(cards["streams_72h"]["link"])
    assert funnel.status_code == 200 and funnel.context["start"] == date(2026, 1, 1)
    # a range that is not a calendar month: the new buyers open the cohort table
    cards = _period_cards(client.get(dashboard_url(brand), {"from": "2026-01-05", "to": "2026-02-10"}))
    assert cards["new_buyers"]["link"] == reverse("clv_dashboard_cohorts", args=[brand.pk])


def test_bad_date_range_input_is_named_and_the_default_is_shown(login, brand, shop):
    client = login(staff("lin", (brand, "viewer")))
    response = client.get(
        dashboard_url(brand), {"period": "custom", "from": "2026-02-30", "to": "2026-01-01"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "from: 2026-02-30 is not a date such as 2026-05-01." in html
    response = client.get(
        dashboard_url(brand), {"period": "custom", "from": "2026-03-05", "to": "2026-03-01"}
    )
    assert "from: 2026-03-05 is after to: 2026-03-01." in response.content.decode()
    assert response.context["period"].preset == "30d"


def test_every_heatmap_cell_opens_the_customers_it_counts(login, brand, shop):
    import re
    from html import unescape
    from urllib.parse import parse_qs, urlparse

    client = login(staff("lin", (brand, "viewer")))
    response = client.get(dashboard_url(brand))
    cohorts = {c.key: c for c in response.context["cohorts"].rows}
    links = re.findall(r'<a class="clv-cell-link" href="([^"]+)">', response.content.decode())
    assert len(links) == sum(1 for c in cohorts.values() for n in c.retained if n is not None)
    for href in map(unescape, links):
        query = parse_qs(urlparse(href).query)
        key, period = query["cohort"][0].rsplit(":", 1)[1], int(query["period"][0])
        listed = client.get(href)
        assert listed.context["cl"].result_count == cohorts[key].retained[period], href


def test_the_run_card_shows_the_published_run_and_names_a_later_unpublished_one(login, brand, shop):
    # a skipped run (a refresh asked for 1990) took the card's place and its "no holdout metrics"
    from tests.factories import make_run

    skipped = make_run(brand, status="skipped", as_of=date(1990, 1, 1), message="too little data")
    latest = dashboard.latest_run_section(brand)
    assert latest.figures["run"].pk == shop.run.pk and latest.rows
    assert latest.figures["later_run"].pk == skipped.pk
    # the revenue columns name the brand's currency
    headings = [heading for heading, _help in latest.figures["metric_columns"]]
    assert (
        f"revenue forecast ({brand.currency})" in headings
        and f"actual revenue ({brand.currency})" in headings
    )
    html = login(staff("viewer-card", (brand, "viewer"))).get(dashboard_url(brand)).content.decode()
    later = html.split('id="latest-run-later"')[1].split("</p>")[0]
    assert f'/admin/analytics/modelrun/{skipped.pk}/change/">#{skipped.pk}</a>, was not published' in later
    assert 'id="latest-run-metrics"' in html
    # with nothing later, no note
    skipped.delete()
    assert dashboard.latest_run_section(brand).figures["later_run"] is None
