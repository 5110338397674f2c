"""The customer 360 page: profile with masked PII, activity, benefits, stage/tier/score history and the survival
curve with P(purchase within horizon) marked; brand-scoped (404) and readable by viewers."""

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from apps.analytics.models import CustomerScore, StageChange
from apps.analytics.survival.scoring import GRID_DAYS
from apps.loyalty.models import TierChange
from tests.admin.conftest import change_url, staff
from tests.factories import (
    CURVE,
    BenefitFactory,
    BenefitGrantFactory,
    CommunityFactory,
    CommunityMembershipFactory,
    CustomerFactory,
    OrderFactory,
    StreamFactory,
    StreamViewFactory,
    TierFactory,
    make_run,
    make_score,
)

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
RAW = "13987654321"
MASKED = "139****4321"


def url_360(customer) -> str:
    return reverse("admin:customers_customer_360", args=[customer.pk])


@pytest.fixture
def story(brand):
    """One Acme customer with a bit of everything: two runs (the newer published), orders, views, a community,
    a grant, stage and tier changes."""
    gold = TierFactory(brand=brand, code="gold", name="Gold <VIP>", rank=1)
    silver = TierFactory(brand=brand, code="silver", name="Silver", rank=2)
    stream = StreamFactory(brand=brand, title="Spring launch night", platform="douyin")
    customer = CustomerFactory(
        brand=brand,
        external_id="C-360",
        display_name="Lin",
        phone=RAW,
        province="Zhejiang",
        city="Hangzhou",
        acquisition_stream=stream,
    )
    old = make_run(brand, status="superseded", as_of=date(2026, 2, 28))
    run = make_run(brand, horizon_days=90)
    make_score(old, customer, stage="growth", tier=silver, p=0.61, churn=0.2, clv=250)
    make_score(run, customer, stage="maturity", tier=gold, rfm="champions", p=0.45, churn=0.12, clv=1234.5)
    StageChange.objects.create(
        brand=brand,
        customer=customer,
        run=run,
        from_stage="growth",
        to_stage="maturity",
        changed_on=run.as_of,
        rule="maturity_orders",
    )
    TierChange.objects.create(
        brand=brand,
        customer=customer,
        from_tier=silver,
        to_tier=gold,
        changed_at=datetime(2026, 4, 1, tzinfo=UTC),
        run_id=run.pk,
        reason="rule:gold",
    )
    OrderFactory(brand=brand, customer=customer, stream=stream, external_id="O-1", total_amount=120)
    OrderFactory(brand=brand, customer=customer, external_id="O-2", total_amount=80, status="refunded")
    StreamViewFactory(brand=brand, stream=stream, customer=customer, watch_seconds=1800, comments=7)
    community = CommunityFactory(brand=brand, name="Acme VIP fans")
    CommunityMembershipFactory(brand=brand, community=community, customer=customer)
    benefit = BenefitFactory(brand=brand, code="vip-coupon", name="VIP coupon")
    BenefitGrantFactory(brand=brand, customer=customer, benefit=benefit)
    return {"customer": customer, "run": run, "old": old}


def svg_in(html: str, element_id: str) -> ET.Element:
    start = html.index(f'id="{element_id}"')
    begin = html.index("<svg", start)
    end = html.index("</svg>", begin) + len("</svg>")
    return ET.fromstring(html[begin:end])


def test_viewer_reads_every_section(login, story, acme_viewer):
    response = login(acme_viewer).get(url_360(story["customer"]))
    assert response.status_code == 200
    html = response.content.decode()
    # profile, with the phone masked for a viewer
    assert "C-360" in html and "Zhejiang / Hangzhou" in html
    assert ">L**<" in html and "Lin" not in html  # the name masked for a viewer too (personal data)
    assert MASKED in html and RAW not in html
    assert "Spring launch night (Douyin)" in html
    # published score summary: the newer run's figures
    assert "Maturity" in html and "45%" in html and "12%" in html and "1,234.50" in html
    assert "Gold &lt;VIP&gt;" in html and "Gold <VIP>" not in html  # escaped tier name
    assert "Champions" in html
    # orders (paid count and spend), views, community, grant
    assert "O-1" in html and "O-2" in html and "Refunded" in html
    assert response.context["paid_orders_count"] == 1 and response.context["paid_total"] == 120
    assert "Acme VIP fans" in html and "VIP coupon" in html
    assert "30" in html  # watch minutes of the 1800-second view
    # stage, tier and score history
    assert [c.to_stage for c in response.context["stage_changes"]] == ["maturity"]
    assert [(f, t) for _c, f, t, _r in response.context["tier_changes"]] == [("Silver", "Gold <VIP>")]
    # the reason in words, not its code
    [(change, _f, _t, reason)] = response.context["tier_changes"]
    assert reason == change.reason_label("Gold <VIP>") and not reason.startswith(("rule:", "manual"))
    assert [s.run_id for s, *_ in response.context["score_rows"]] == [story["run"].pk, story["old"].pk]
    assert "61%" in html  # the older run's P(purchase)


def test_survival_curve_is_drawn_with_the_horizon_marked(login, story, acme_viewer):
    html = login(acme_viewer).get(url_360(story["customer"])).content.decode()
    svg = svg_in(html, "survival-chart")
    assert svg.get("role") == "img"
    assert "Chance of no purchase yet" in svg.get("aria-label")
    dots = svg.findall(f".//{SVG}circle[@class='clv-point']")
    assert len(dots) == len(GRID_DAYS) + 1  # day 0 and the grid
    marker = svg.find(f".//{SVG}g[@class='clv-marker']")
    assert marker.find(f"{SVG}title").text == "P(purchase within 90 days) = 45%"
    # the marker sits at x = 90 days, y = 1 − 0.45 on the plot area (x from 0 to 365 days, y from 0 to 1)
    plot = svg.find(f".//{SVG}rect[@class='clv-plot']")
    x0, y0 = float(plot.get("x")), float(plot.get("y"))
    width, height = float(plot.get("width")), float(plot.get("height"))
    circle = marker.find(f"{SVG}circle")
    assert float(circle.get("cx")) == pytest.approx(x0 + 90 / 365 * width, abs=0.01)
    assert float(circle.get("cy")) == pytest.approx(y0 + height - 0.55 * height, abs=0.01)
    # the first grid point (7 days) carries the first value of the stored curve
    first = dots[1]
    assert float(first.get("cy")) == pytest.approx(y0 + height - CURVE[0] * height, abs=0.01)


def test_score_history_chart_has_a_point_per_run(login, story, acme_viewer):
    html = login(acme_viewer).get(url_360(story["customer"])).content.decode()
    svg = svg_in(html, "score-history-chart")
    series = svg.findall(f".//{SVG}g[@class='clv-series']")
    assert len(series) == 2
    assert [len(s.findall(f"{SVG}circle")) for s in series] == [2, 2]
    assert "2026-02-28" in "".join(svg.itertext())


def test_manager_sees_the_raw_phone(login, story, acme_manager):
    html = login(acme_manager).get(url_360(story["customer"])).content.decode()
    assert RAW in html


def test_another_brands_customer_is_a_404(login, story, rival_manager, other_brand):
    assert login(rival_manager).get(url_360(story["customer"])).status_code == 404
    rival_customer = CustomerFactory(brand=other_brand)
    assert login(rival_manager).get(url_360(rival_customer)).status_code == 200


def test_missing_customer_is_a_404(login, acme_viewer):
    assert login(acme_viewer).get(reverse("admin:customers_customer_360", args=[987654])).status_code == 404


def test_anonymous_is_sent_to_login(client, story):
    response = client.get(url_360(story["customer"]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_customer_without_scores_says_so(login, brand, acme_viewer):
    customer = CustomerFactory(brand=brand, phone="")
    response = login(acme_viewer).get(url_360(customer))
    html = response.content.decode()
    assert response.status_code == 200
    svg = svg_in(html, "survival-chart")
    assert "No published score yet" in "".join(svg.itertext())
    assert "No orders yet." in html and "No stage changes yet." in html


def test_change_page_links_to_the_360_page(login, story, acme_viewer):
    html = login(acme_viewer).get(change_url(story["customer"])).content.decode()
    assert f'href="{url_360(story["customer"])}"' in html


def test_multi_brand_viewer_reads_each_brand(login, story, brand, other_brand):
    user = staff("both", (brand, "viewer"), (other_brand, "viewer"))
    assert login(user).get(url_360(story["customer"])).status_code == 200


# session, user, permissions (2), brand ids, roles, the customer, the acquisition stream, scores with runs and
# tiers, tier names, and per section its rows and total: orders (+ paid totals), views, communities, grants, stage
# and tier changes; the next best action and the recommendations; the run and its engine for the hazard
# factors behind the risk (a run without a Cox-family model has no factors and reads no feature frame).
CUSTOMER_360_QUERIES = 23
# with a next best action: its tier names
CUSTOMER_360_QUERIES_WITH_ACTION = CUSTOMER_360_QUERIES + 1


def test_the_next_best_action_adds_a_fixed_number_of_queries(login, story, brand, acme_viewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.engagement.models import NextAction

    customer = story["customer"]
    NextAction.objects.create(
        brand=brand,
        run_id=0,  # any run: the page reads the customer's stored action
        customer=customer,
        action="followup",
        basis="policy",
        reasons=[{"code": "stage", "stage": "maturity"}, {"code": "cooling"}, {"code": "no_evidence"}],
    )
    client = login(acme_viewer)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url_360(customer))
    page = response.content.decode()
    assert "next-action" in page and "Buying less often than usual" in page
    assert len(ctx.captured_queries) <= CUSTOMER_360_QUERIES_WITH_ACTION


def test_page_query_count_is_bounded(login, story, acme_viewer, django_assert_max_num_queries):
    client = login(acme_viewer)
    with django_assert_max_num_queries(CUSTOMER_360_QUERIES):
        client.get(url_360(story["customer"]))


def test_page_query_count_does_not_grow_with_history(login, story, brand, acme_viewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customer = story["customer"]
    client = login(acme_viewer)
    client.get(url_360(customer))  # the run's fitted engine is read once per process, by the first page
    with CaptureQueriesContext(connection) as before:
        client.get(url_360(customer))
    stream = StreamFactory(brand=brand)
    benefit = BenefitFactory(brand=brand)
    for i in range(20):
        OrderFactory(brand=brand, customer=customer, stream=stream, external_id=f"extra-{i}")
        StreamViewFactory(brand=brand, stream=StreamFactory(brand=brand), customer=customer)
        BenefitGrantFactory(brand=brand, customer=customer, benefit=benefit)
        CommunityMembershipFactory(brand=brand, community=CommunityFactory(brand=brand), customer=customer)
    with CaptureQueriesContext(connection) as after:
        response = client.get(url_360(customer))
    assert response.context["orders_count"] == 22 and len(response.context["memberships"]) == 21
    assert len(after) == len(before)


def test_the_admin_has_the_products_name_and_view_site_opens_the_dashboard(login, acme_viewer):
    page = login(acme_viewer).get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Django" not in page.split("<title>")[1].split("</title>")[0]
    assert 'href="/admin/dashboard/"' in page


def test_seeded_tier_and_benefit_names_show_in_the_staff_language(login, story, brand, acme_viewer):
    from apps.loyalty.models import Tier

    Tier.objects.filter(brand=brand, code="gold").update(name="High value")  # a seeded name (a msgid)
    page = login(acme_viewer).get(url_360(story["customer"]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "高价值" in page and "High value" not in page
    listed = (
        login(acme_viewer).get("/admin/customers/customer/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    )
    assert "高价值" in listed and "High value" not in listed


def test_why_this_risk_names_the_customers_strongest_covariates_in_words(login, brand, acme_viewer):
    """Under a Cox model of the customer's stage, the page lists the three covariates that move their chance of
    buying again most (customer_hazard_factors), each with its value, the stage's typical value and the factor
    in words; a stage without such a model (Kaplan-Meier, or no engine) lists none and says so."""
    import re

    from django.utils import translation

    from apps.customers.graphql.scores import customer_hazard_factors
    from tests.scenarios import cox_engine_attach, make_dashboard_brand

    shop = make_dashboard_brand(brand)
    cox_engine_attach(shop.run, "maturity", {"log_orders": 1.2, "log_tenure_days": -0.8})
    c3 = shop.customers["C3"]
    with translation.override("en"):
        expected = customer_hazard_factors(customer_id=c3.pk, run_id=shop.run.pk, stage="maturity", top=3)
    html = login(acme_viewer).get(url_360(c3)).content.decode()
    items = re.findall(r"<li>(.*?)</li>", html.split('id="risk-factors"')[1].split("</ul>")[0], re.S)
    assert len(items) == 3
    for item, factor in zip(items, expected, strict=True):
        ratio = factor["hazard_ratio"]
        assert item.startswith(f"{factor['label']} ({factor['value']:.3g}; typical {factor['average']:.3g})")
        if ratio >= 1:
            assert f"buys again {ratio:.1f}× as readily" in item and "lowers the churn risk" in item
        else:
            assert (
                f"buys again at {ratio:.0%} of the rate of a typical" in item
                and "raises the churn risk" in item
            )
    # C4 is in decline, which has no Cox model in this run: no reasons are made up
    html = login(acme_viewer).get(url_360(shop.customers["C4"])).content.decode()
    section = html.split('id="why-risk"')[1].split("</div>")[0]
    assert "<li>" not in section and 'id="risk-no-factors"' in section


@pytest.mark.parametrize(
    ("language", "since", "median", "texts"),
    [
        ("en", 1.2, 1.0, ["1 day since the last purchase", "next purchase in about 1 day (median)"]),
        ("en", 12.0, 30.0, ["12 days since the last purchase", "next purchase in about 30 days (median)"]),
        ("zh-hans", 1.2, 1.0, ["距上次购买 1 天", "预计约 1 天后再次购买（中位数）"]),
    ],
)
def test_the_churn_card_counts_days_in_the_right_number(
    login, story, acme_viewer, language, since, median, texts
):
    CustomerScore.objects.filter(run=story["run"], customer=story["customer"]).update(
        days_since_last_purchase=since, median_days_to_next_purchase=median
    )
    client = login(acme_viewer)
    html = client.get(url_360(story["customer"]), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    for text in texts:
        assert text in html
    assert "1 days" not in html
