"""The main pages in zh-hans carry no untranslated string: no English sentence of the product's own catalogue
(or of Django's admin) shows as is. Data (ids, SKUs, the brand's own names) may be in any language."""

import re
from html import unescape

import pytest
from django.conf import settings
from django.urls import reverse

from tests.admin.conftest import staff
from tests.core.test_translations import parse_po
from tests.scenarios import make_dashboard_brand

pytestmark = pytest.mark.django_db

CATALOGUE = settings.BASE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# msgids that are the same in both languages (codes, units, formats)
SAME = {"CLV", "RFM", "SKU", "GMV", "API", "CSV", "p", "log-rank p"}


def english_phrases() -> list[str]:
    """The catalogue's msgids of at least two words with no placeholder: what a page would show verbatim
    if its translation were missing."""
    phrases = []
    for entry in parse_po(CATALOGUE):
        text = entry.msgid
        if "%" in text or "{" in text or "<" in text or text in SAME:
            continue
        if len(re.findall(r"[A-Za-z]{2,}", text)) >= 2:
            phrases.append(text)
    return sorted(phrases, key=len, reverse=True)


def visible_text(html: str) -> str:
    html = re.sub(r"(?s)<(script|style|svg)\b.*?</\1>", " ", html)
    html = re.sub(r"(?s)<!--.*?-->", " ", html)
    text = unescape(re.sub(r"<[^>]+>", " ", html))
    return re.sub(r"\s+", " ", text)


def test_the_main_pages_in_chinese_show_no_english_ui_string(client, brand):
    shop = make_dashboard_brand(brand)
    client.force_login(staff("lin", (brand, "manager")))
    customer = next(iter(shop.customers.values()))
    pages = [
        "/admin/",
        reverse("clv_dashboard_brand", args=[brand.pk]),
        reverse("clv_dashboard_funnel", args=[brand.pk]) + "?start=2026-01-01&end=2026-06-30",
        reverse("clv_dashboard_cohorts", args=[brand.pk]),
        "/admin/customers/customer/",
        reverse("admin:customers_customer_360", args=[customer.pk]),
        "/admin/analytics/modelrun/",
        "/admin/analytics/customerscore/",
        "/admin/engagement/followuprule/",
        "/admin/engagement/experiment/",
        "/admin/loyalty/tier/",
        "/admin/audit/auditevent/",
    ]
    phrases = english_phrases()
    found = {}
    for url in pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        missing = [p for p in phrases if re.search(r"(?<![A-Za-z])" + re.escape(p) + r"(?![A-Za-z])", text)]
        if missing:
            found[url] = missing[:5]
    assert found == {}
    # the detector itself works: the same page in English shows many of the phrases
    english = visible_text(client.get(pages[1], HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert sum(1 for p in phrases if p in english) >= 10


def test_the_default_follow_up_rules_are_listed_by_their_chinese_names(client):
    # the list showed the stored English name; each rule's own page showed the translation
    from apps.brands.services import brand_create
    from apps.engagement.models import FollowupRule

    brand, _created = brand_create(slug="glow", name="Glow")
    assert FollowupRule.objects.filter(brand=brand).exists()
    client.force_login(staff("lin", (brand, "manager")))
    text = visible_text(
        client.get("/admin/engagement/followuprule/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    )
    assert "Viewers who did not buy" not in text
    assert "未下单的观众：直播结束后 6–12 小时首次触达" in text
    english = client.get("/admin/engagement/followuprule/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Viewers who did not buy: first touch 6–12 hours after the stream" in english
