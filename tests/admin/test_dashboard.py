"""The brand dashboard (/admin/dashboard/<brand>/): figures and SVG charts for a small hand-made brand, brand
scoping (another brand's dashboard is a 404), every role reads it, the brand selector, the links from the admin
home and top bar, the note a report shows when it cannot run, and the language (browser or switcher)."""

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.analytics.dashboard import sections as dashboard
from apps.analytics.models import CustomerScore
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
    assert [stream.title for stream, _row in streams.rows] == ["D encore", "D launch"]
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


def test_query_count_does_not_grow_with_customers(login, brand, shop):
    client = login(staff("acme-viewer", (brand, "viewer")))
    client.get(dashboard_url(brand))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(dashboard_url(brand)).status_code == 200
        return len(captured.captured_queries)

    before = queries()
    for i in range(15):  # more scored customers with orders, none at risk
        customer = CustomerFactory(brand=brand, external_id=f"X{i}")
        make_score(shop.run, customer, stage="growth", churn=0.1, clv=50 + i)
        OrderFactory(
            brand=brand, customer=customer, external_id=f"X-O{i}", placed_at=at(3, 1 + i), total_amount=10
        )
    clv_percentiles_set(shop.run)
    assert queries() == before


def test_every_card_and_bar_opens_the_customers_it_counts(login, brand, shop):
    import re
    from html import unescape

    client = login(staff("lin", (brand, "viewer")))
    html = client.get(dashboard_url(brand)).content.decode()
    context = dashboard.dashboard_context(brand)
    # each bar of the tier × stage chart links to the customer list filtered to that tier and stage
    bars = re.findall(r'<a class="clv-bar-link" href="([^"]+)"><rect[^>]*><title>([^<]+)</title>', html)
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
    scored = next(href for href, label in links.items() if "scored" in label)
    assert client.get(unescape(scored)).status_code == 200
