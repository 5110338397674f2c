"""The admin in real headless Chromium against the live test server (PostgreSQL): sign in, the dashboard's SVG
charts are drawn, the customer 360 page's survival curve is drawn, a tier rule threshold is edited and saved, and
the language switcher turns the admin into Chinese. Screenshots: artifacts/browser/."""

import re
from decimal import Decimal

import pytest
from django.utils import translation
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from apps.customers.graphql.scores import customer_hazard_factors
from apps.loyalty.models import TierRule
from tests.admin.conftest import staff
from tests.factories import UserFactory
from tests.scenarios import CHARTS, cox_engine_attach, make_dashboard_brand

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-123"  # tests.factories.UserFactory's
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def shop(brand):
    shop = make_dashboard_brand(brand)
    shop.manager = staff("lin", (brand, "manager"))
    assert UserFactory._meta.model.objects.get(username="lin").check_password(PASSWORD)
    return shop


def wait_for(driver, css: str, timeout: int = 20):
    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def wait_for_language(driver, code: str, timeout: int = 20) -> None:
    """Until the page that loads after a language switch is in `code`. The old page goes away meanwhile, and
    Chromium may then report the stale node as a generic WebDriverException ("Node with given id does not
    belong to the document") rather than StaleElementReferenceException: both mean "not yet", so the wait
    goes on (a page that never switches still fails, with a timeout)."""
    WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException, WebDriverException)
    ).until(lambda d: d.execute_script("return document.documentElement.lang") == code)


def sign_in(driver, live_server, username="lin"):
    driver.get(f"{live_server.url}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait_for(driver, "#user-tools")
    assert driver.current_url == f"{live_server.url}/admin/"


def drawn(element) -> bool:
    """The element takes room on screen (a box, or a line: a flat curve has no height)."""
    size = element.size
    return size["width"] > 0 and size["height"] > 0


def wide(element) -> bool:
    return element.size["width"] > 0


def test_sign_in_and_the_dashboard_charts_are_drawn(page, live_server, shop, shoot):
    sign_in(page, live_server)
    # from the admin home's top bar to the brand's dashboard
    page.find_element(By.ID, "clv-dashboard-link").click()
    wait_for(page, "#dashboard-cards")
    assert page.current_url == f"{live_server.url}/admin/dashboard/{shop.run.brand_id}/"
    for chart_id in CHARTS:
        svg = page.find_element(By.CSS_SELECTOR, f"#{chart_id} svg.clv-chart")
        assert drawn(svg), chart_id
        assert drawn(svg.find_element(By.CSS_SELECTOR, "rect.clv-plot")), chart_id
        assert not svg.find_elements(By.CSS_SELECTOR, "text.clv-chart-empty"), chart_id
    # the marks themselves have a size on screen
    bars = page.find_elements(By.CSS_SELECTOR, "#chart-distribution rect.clv-bar")
    assert len(bars) == 5 and all(drawn(bar) for bar in bars)
    cells = page.find_elements(By.CSS_SELECTOR, "#chart-cohorts rect.clv-cell")
    assert len(cells) > 3 and all(drawn(cell) for cell in cells)
    curves = page.find_elements(By.CSS_SELECTOR, "#chart-survival path.clv-line")
    assert len(curves) == 5 and all(wide(curve) for curve in curves)
    assert any(drawn(curve) for curve in curves)  # the maturity customer bought: that curve steps down
    assert drawn(page.find_element(By.CSS_SELECTOR, "#chart-gmv path.clv-line"))
    assert drawn(page.find_element(By.CSS_SELECTOR, "#chart-streams rect.clv-bar"))
    assert "Log-rank" in page.find_element(By.ID, "logrank").text
    assert page.find_element(By.ID, "at-risk-count").text == "1"
    shoot(page, "dashboard-en")
    # the at-risk customer's link opens the 360 page
    page.find_element(By.CSS_SELECTOR, "#at-risk tbody a").click()
    wait_for(page, "#survival-chart svg")
    assert page.current_url.endswith(f"/admin/customers/customer/{shop.customers['C5'].pk}/360/")


def test_customer_360_survival_curve_is_drawn(page, live_server, shop, shoot):
    # the run's maturity model is a Cox model: the page can say why C3 (maturity) is at risk
    cox_engine_attach(shop.run, "maturity", {"log_orders": 1.2, "log_tenure_days": -0.8})
    sign_in(page, live_server)
    page.get(f"{live_server.url}/admin/customers/customer/{shop.customers['C3'].pk}/360/")
    svg = wait_for(page, "#survival-chart svg.clv-chart")
    assert drawn(svg)
    curve = svg.find_element(By.CSS_SELECTOR, "path.clv-line")
    assert drawn(curve)
    assert len(svg.find_elements(By.CSS_SELECTOR, "circle.clv-point")) >= 10
    marker = svg.find_element(By.CSS_SELECTOR, "g.clv-marker")
    assert drawn(marker)
    assert "P(purchase within 90 days)" in svg.find_element(By.CSS_SELECTOR, "text.clv-marker-label").text
    # money with its currency and CLV with its basis; one risk figure; the reasons in words
    clv = page.find_element(By.ID, "card-clv").text
    assert re.search(r"300(\.00)? CNY", clv) and "gross margin expected over" in clv, clv
    assert "%" in page.find_element(By.ID, "card-risk").text
    assert not page.find_elements(By.ID, "card-p-purchase")
    reasons = [li.text for li in page.find_elements(By.CSS_SELECTOR, "#risk-factors li")]
    # a factor that lowers the risk as a multiple, one that raises it as a share of the typical rate
    assert len(reasons) == 3 and all(
        ("× as readily" in r or "% of the rate" in r) and "typical" in r for r in reasons
    ), reasons
    with translation.override("en"):
        strongest = customer_hazard_factors(
            customer_id=shop.customers["C3"].pk, run_id=shop.run.pk, stage="maturity", top=3
        )
    assert [r.split(" (")[0] for r in reasons] == [f["label"].split(" (")[0] for f in strongest]
    shoot(page, "customer-360")
    # the same page in Chinese: the reasons too
    page.find_element(By.CSS_SELECTOR, "#clv-language button[value='zh-hans']").click()
    wait_for_language(page, "zh-hans")
    reasons = [li.text for li in page.find_elements(By.CSS_SELECTOR, "#risk-factors li")]
    assert len(reasons) == 3 and all(CJK.search(r) for r in reasons), reasons
    assert "CNY" in page.find_element(By.ID, "card-clv").text
    shoot(page, "customer-360-zh-hans")


def test_edit_a_tier_rule_threshold_and_save(page, live_server, shop, shoot):
    rule = TierRule.objects.create(brand=shop.gold.brand, tier=shop.gold, min_clv=Decimal("1000"))
    sign_in(page, live_server)
    page.get(f"{live_server.url}/admin/loyalty/tier/{shop.gold.pk}/change/")
    field = wait_for(page, "input[name$='-min_clv']")
    assert Decimal(field.get_attribute("value")) == Decimal("1000")
    field.clear()
    field.send_keys("1500.50")
    shoot(page, "tier-rule-edit")
    page.find_element(By.CSS_SELECTOR, "input[name='_save']").click()
    wait_for(page, "ul.messagelist li.success")
    assert page.current_url.endswith("/admin/loyalty/tier/")
    rule.refresh_from_db()
    assert rule.min_clv == Decimal("1500.50")
    shoot(page, "tier-rule-saved")


def test_switch_the_language_to_chinese(page, live_server, shop, shoot):
    sign_in(page, live_server)
    page.get(f"{live_server.url}/admin/dashboard/{shop.run.brand_id}/")
    wait_for(page, "#dashboard-cards")
    html = page.find_element(By.TAG_NAME, "html")
    assert html.get_attribute("lang") == "en"
    assert page.find_element(By.CSS_SELECTOR, "#logout-form button").text == "LOG OUT"
    page.find_element(By.CSS_SELECTOR, "#clv-language button[value='zh-hans']").click()
    wait_for_language(page, "zh-hans")
    # back on the same page, in Chinese: the admin's own labels and the page's
    assert page.current_url == f"{live_server.url}/admin/dashboard/{shop.run.brand_id}/"
    assert page.find_element(By.CSS_SELECTOR, "#logout-form button").text == "注销"
    assert "首页" in page.find_element(By.CSS_SELECTOR, ".breadcrumbs").text
    assert (
        page.find_element(By.CSS_SELECTOR, "#clv-language button[value='zh-hans']").get_attribute(
            "aria-pressed"
        )
        == "true"
    )
    # the project's labels too: the lifecycle stages in the chart legend
    legend = page.find_element(By.CSS_SELECTOR, "#chart-distribution g.clv-legend").text
    assert CJK.search(legend), legend
    for chart_id in CHARTS:  # the charts are still drawn
        assert drawn(page.find_element(By.CSS_SELECTOR, f"#{chart_id} svg.clv-chart"))
    shoot(page, "dashboard-zh-hans")
    # the choice sticks: the admin home is in Chinese too
    page.get(f"{live_server.url}/admin/")
    wait_for(page, "#user-tools")
    assert CJK.search(page.find_element(By.ID, "user-tools").text)
    assert "站点管理" in page.title or CJK.search(page.title)
    shoot(page, "admin-home-zh-hans")
    # and back to English
    page.find_element(By.CSS_SELECTOR, "#clv-language button[value='en']").click()
    wait_for_language(page, "en")
    assert page.find_element(By.CSS_SELECTOR, "#logout-form button").text == "LOG OUT"


def test_followup_rule_preview_and_results_in_chinese_and_english(page, live_server, brand, shoot):
    from datetime import timedelta

    from apps.engagement.planning import followups_plan
    from apps.engagement.sending import touches_send_due
    from tests.factories import CommunityFactory, CommunityMembershipFactory
    from tests.scenarios import FOLLOWUP_ENDED, FOLLOWUP_PLANNED_AT, make_followup_shop

    shop = make_followup_shop(brand)
    staff("lin", (brand, "manager"))
    shop.policy.holdout_percent = Decimal("40")
    shop.policy.save()
    shop.rule.post_to_groups = True
    shop.rule.save()
    group = CommunityFactory(brand=brand, external_id="G-FANS", name="粉丝群", kind="wecom")
    for n in range(30):
        customer = shop.viewer(consent=n % 6 != 0)
        if n < 10:
            CommunityMembershipFactory(
                brand=brand, community=group, customer=customer, joined_at=FOLLOWUP_ENDED - timedelta(days=9)
            )
    followups_plan(brand=brand, stream=shop.stream, now=FOLLOWUP_PLANNED_AT)
    touches_send_due(brand=brand, now=FOLLOWUP_ENDED + timedelta(hours=7))
    sign_in(page, live_server)
    for language, touched, results_title in (
        ("zh-hans", "将被触达", "跟进效果"),
        ("en", "Would be touched", "Follow-up results"),
    ):
        page.get(f"{live_server.url}/admin/")
        wait_for(page, "#user-tools")
        if page.execute_script("return document.documentElement.lang") != language:
            page.find_element(By.CSS_SELECTOR, f"#clv-language button[value='{language}']").click()
            wait_for_language(page, language)
        page.get(f"{live_server.url}/admin/engagement/followuprule/{shop.rule.pk}/preview/")
        summary = wait_for(page, "#preview-summary").text
        assert touched in summary, summary
        assert page.find_elements(By.CSS_SELECTOR, "#preview-rows tbody tr")
        shoot(page, f"followup-preview-{language}")
        page.get(f"{live_server.url}/admin/engagement/touch/results/?brand={brand.pk}&by=rule")
        wait_for(page, "#results-table")
        assert results_title in page.find_element(By.TAG_NAME, "h1").text
        assert drawn(page.find_element(By.CSS_SELECTOR, "#followup-results svg.clv-chart"))
        shoot(page, f"followup-results-{language}")
        page.get(f"{live_server.url}/admin/engagement/grouppost/")
        assert (
            "G-FANS" in wait_for(page, "#result_list").text
            or "粉丝群" in page.find_element(By.ID, "result_list").text
        )
        shoot(page, f"group-posts-{language}")


def test_experiment_results_in_chinese_and_english(page, live_server, brand, shoot):
    from datetime import UTC, datetime, timedelta

    from apps.engagement.experiments import experiment_create, experiment_start
    from apps.engagement.services import contact_policy_ensure
    from tests.factories import (
        BenefitFactory,
        CustomerFactory,
        CustomerScoreFactory,
        ModelRunFactory,
        OrderFactory,
    )

    start = datetime(2026, 4, 2, 16, 0, tzinfo=UTC)
    contact_policy_ensure(brand=brand)
    run = ModelRunFactory(brand=brand)
    for n in range(80):
        customer = CustomerFactory(brand=brand)
        CustomerScoreFactory(brand=brand, run=run, customer=customer)
        if n % 3 == 0:
            OrderFactory(brand=brand, customer=customer, placed_at=start + timedelta(days=1 + n % 20))
    coupon = BenefitFactory(brand=brand, code="coupon-x", kind="coupon", name="优惠券")
    experiment = experiment_create(
        brand=brand,
        code="spring-coupon",
        name="春季优惠券",
        starts_at=start,
        ends_at=start + timedelta(days=30),
        secondary_metrics=["revenue"],
        arms=[
            {"code": "control", "name": "对照", "is_control": True, "share": 50},
            {"code": "coupon", "name": "优惠券", "share": 50, "treatment": "benefit", "benefit": coupon},
        ],
    )
    experiment_start(experiment=experiment, at=start)
    staff("lin", (brand, "manager"))
    sign_in(page, live_server)
    for language, heading in (("zh-hans", "对照组"), ("en", "Against control")):
        page.get(f"{live_server.url}/admin/")
        wait_for(page, "#user-tools")
        if page.execute_script("return document.documentElement.lang") != language:
            page.find_element(By.CSS_SELECTOR, f"#clv-language button[value='{language}']").click()
            wait_for_language(page, language)
        page.get(f"{live_server.url}/admin/engagement/experiment/{experiment.pk}/results/")
        wait_for(page, "#arms-table")
        assert heading in page.find_element(By.ID, "experiment-results").text
        assert drawn(page.find_element(By.CSS_SELECTOR, "#experiment-results svg.clv-chart"))
        assert len(page.find_elements(By.CSS_SELECTOR, "#arms-table tbody tr")) == 2
        shoot(page, f"experiment-results-{language}")
        page.get(f"{live_server.url}/admin/engagement/experiment/")
        assert "spring-coupon" in wait_for(page, "#result_list").text
        shoot(page, f"experiments-{language}")


def test_graphiql_is_served_by_the_product_and_runs_a_query_offline(
    page, live_server, brand, settings, shoot
):
    """The GraphiQL page loads its scripts from the product's own static files (no CDN: the test machine has
    no outside network) and runs the example query with the staff session."""
    from django.urls import clear_url_caches

    settings.ROOT_URLCONF = "tests.browser.graphiql_urls"
    clear_url_caches()
    staff("lin", (brand, "manager"))
    sign_in(page, live_server)
    page.get(f"{live_server.url}/graphql/")
    assert "unpkg.com" not in page.page_source and "jsdelivr" not in page.page_source
    wait_for(page, ".graphiql-execute-button")
    page.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
    WebDriverWait(page, 20).until(
        lambda d: "acme" in d.find_element(By.CSS_SELECTOR, ".graphiql-response").text
    )
    result = page.find_element(By.CSS_SELECTOR, ".graphiql-response").text
    assert '"slug": "acme"' in result
    shoot(page, "graphiql")


def test_refresh_now_asks_first_and_does_nothing_when_declined(page, live_server, brand):
    from apps.analytics.models import ModelRun

    staff("lin", (brand, "manager"))
    sign_in(page, live_server)
    page.get(f"{live_server.url}/admin/analytics/modelrun/")
    wait_for(page, "#refresh-now-form button").click()
    alert = WebDriverWait(page, 10).until(ec.alert_is_present())
    assert "rescore every customer" in alert.text
    alert.dismiss()
    assert not ModelRun.objects.filter(brand=brand).exists()


def _downloaded(directory, name: str, timeout: int = 30):
    """The file Chromium saved under `name` in `directory`, once complete."""
    import time

    path = directory / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and not list(directory.glob("*.crdownload")):
            return path
        time.sleep(0.2)
    raise AssertionError(
        f"{name} was not downloaded; the folder holds {sorted(p.name for p in directory.iterdir())}"
    )


def test_export_the_filtered_customer_list_as_csv_and_excel(page, live_server, shop, shoot, tmp_path):
    """From the customer list filtered by a tier, both export buttons download a file with exactly the list's
    customers (every page), in the staff member's language."""
    import csv

    from openpyxl import load_workbook

    page.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    sign_in(page, live_server)
    page.get(f"{live_server.url}/admin/customers/customer/?tier={shop.silver.pk}")
    wait_for(page, "#result_list")
    rows_on_page = page.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    listed = sorted(tr.find_elements(By.CSS_SELECTOR, "th, td")[1].text for tr in rows_on_page)
    assert listed == ["D-C2", "D-C3"]
    assert "2 customers" in page.find_element(By.CSS_SELECTOR, ".paginator").text
    shoot(page, "customer-list-filtered")
    page.find_element(By.CSS_SELECTOR, "#export-list-form button[value='csv']").click()
    with _downloaded(tmp_path, "customers.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "customer id" and len(rows) == 3
    assert sorted(r[0] for r in rows[1:]) == ["D-C2", "D-C3"]
    assert {r[6] for r in rows[1:]} == {"D Silver"}
    page.find_element(By.CSS_SELECTOR, "#export-list-form button[value='xlsx']").click()
    sheet = load_workbook(_downloaded(tmp_path, "customers.xlsx"), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 3 and sorted(v[0] for v in values[1:]) == ["D-C2", "D-C3"]


def test_the_main_pages_in_chinese_show_no_untranslated_string(page, live_server, shop, shoot):
    """What Chromium renders in zh-hans on the main pages holds no English sentence of the catalogue (data such
    as ids and the brand's own names may be in any language); each page is saved as a screenshot."""
    from django.urls import reverse

    from tests.admin.test_untranslated import english_phrases

    brand_id = shop.run.brand_id
    pages = {
        "home": "/admin/",
        "dashboard": reverse("clv_dashboard_brand", args=[brand_id]),
        "cohorts": reverse("clv_dashboard_cohorts", args=[brand_id]),
        "customers": "/admin/customers/customer/",
        "customer-360": reverse("admin:customers_customer_360", args=[shop.customers["C3"].pk]),
        "model-runs": "/admin/analytics/modelrun/",
        "scores": "/admin/analytics/customerscore/",
        "stage-changes": "/admin/analytics/stagechange/",
        "orders": "/admin/orders/order/",
        "segments": "/admin/engagement/savedsegment/",
        "rules": "/admin/engagement/followuprule/",
        "experiments": "/admin/engagement/experiment/",
        "tiers": "/admin/loyalty/tier/",
        "periodic-tasks": "/admin/django_celery_beat/periodictask/",
    }
    phrases = english_phrases()
    sign_in(page, live_server)
    page.find_element(By.CSS_SELECTOR, "#clv-language button[value='zh-hans']").click()
    wait_for_language(page, "zh-hans")
    found = {}
    for name, url in pages.items():
        page.get(live_server.url + url)
        wait_for(page, "#content")
        assert page.execute_script("return document.documentElement.lang") == "zh-hans", name
        text = re.sub(r"\s+", " ", page.find_element(By.TAG_NAME, "body").text)
        missing = [p for p in phrases if re.search(r"(?<![A-Za-z])" + re.escape(p) + r"(?![A-Za-z])", text)]
        if missing:
            found[name] = missing[:5]
        shoot(page, f"zh-hans-{name}")
    assert found == {}


def test_drill_down_from_a_dashboard_bar_to_the_customers_it_counts(page, live_server, shop, shoot):
    """Each tier × stage bar of the dashboard is a link: clicking it opens the customer list filtered to the
    customers it counts, and the list's count equals the bar's value."""
    sign_in(page, live_server)
    page.get(f"{live_server.url}/admin/dashboard/{shop.run.brand_id}/")
    wait_for(page, "#chart-distribution svg")
    bars = page.find_elements(By.CSS_SELECTOR, "#chart-distribution a.clv-bar-link rect.clv-bar")
    assert len(bars) == 5
    titles = [bar.find_element(By.TAG_NAME, "title").get_attribute("textContent") for bar in bars]
    checked = 0
    for index, title in enumerate(titles):
        value = int(title.rsplit(":", 1)[1].strip().replace(",", ""))
        page.get(f"{live_server.url}/admin/dashboard/{shop.run.brand_id}/")
        wait_for(page, "#chart-distribution svg")
        bar = page.find_elements(By.CSS_SELECTOR, "#chart-distribution a.clv-bar-link rect.clv-bar")[index]
        page.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", bar)
        wait_for(page, "#result_list")
        assert "/admin/customers/customer/?" in page.current_url and "stage=" in page.current_url
        rows = page.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
        assert len(rows) == value, (title, page.current_url)
        noun = "customer" if value == 1 else "customers"
        assert f"{value} {noun}" in page.find_element(By.CSS_SELECTOR, ".paginator").text
        checked += 1
        if index == 0:
            shoot(page, "drill-down-from-a-bar")
    assert checked == 5
