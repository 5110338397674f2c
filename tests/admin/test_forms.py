"""Choices, autocomplete, pre-filled brand, cross-brand rejection and inlines in admin forms."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer
from apps.loyalty.models import Benefit, Tier, TierBenefit
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream
from tests.admin.conftest import add_url, change_url, form_data, staff
from tests.factories import T0

pytestmark = pytest.mark.django_db

CROSS_BRAND = (
    "The selected {field} belongs to another brand. Choose a {field} of the same brand as this {model}."
)


def admin_form(model, user, obj=None):
    request = RequestFactory().get("/")
    request.user = user
    model_admin = admin.site._registry[model]
    return model_admin.get_form(request, obj, change=obj is not None)


@pytest.mark.parametrize(
    ("model", "field", "related"),
    [
        (Order, "customer", Customer),
        (Order, "stream", Stream),
        (CommunityMembership, "community", Community),
        (TierBenefit, "benefit", Benefit),
        (Order, "brand", None),
    ],
)
def test_foreign_key_choices_hold_only_own_brand_rows(
    acme, rival, acme_manager, brand, model, field, related
):
    form = admin_form(model, acme_manager)
    choices = set(form.base_fields[field].queryset.values_list("pk", flat=True))
    if related is None:
        assert choices == {brand.pk}
    else:
        assert choices == {acme[related].pk}


def test_brand_dropdown_lists_only_own_brand_and_is_prefilled(login, acme, rival, acme_manager, brand):
    html = login(acme_manager).get(add_url(Tier)).content.decode()
    assert f'<option value="{brand.pk}" selected>Acme Beauty</option>' in html
    assert "Rival Apparel" not in html


def test_brand_is_not_prefilled_for_staff_of_two_brands(login, brand, other_brand):
    user = staff("both", (brand, "manager"), (other_brand, "manager"))
    html = login(user).get(add_url(Tier)).content.decode()
    assert f'<option value="{brand.pk}">Acme Beauty</option>' in html
    assert f'<option value="{other_brand.pk}">Rival Apparel</option>' in html


def autocomplete(client, app_label, model_name, field_name, term=""):
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": term},
    )
    assert response.status_code == 200
    return {row["text"] for row in response.json()["results"]}


def test_autocomplete_returns_only_own_brand_rows(login, acme, rival, acme_manager):
    client = login(acme_manager)
    assert autocomplete(client, "orders", "order", "customer") == {"acme-C1"}
    assert autocomplete(client, "orders", "order", "customer", term="rival") == set()
    assert autocomplete(client, "orders", "order", "stream") == {"acme launch night"}
    assert autocomplete(client, "loyalty", "tierbenefit", "benefit") == {"acme coupon"}
    assert autocomplete(client, "communities", "communitymembership", "community") == {"acme fans"}


def test_autocomplete_for_another_brand_finds_nothing_of_ours(login, acme, rival, rival_manager):
    assert autocomplete(login(rival_manager), "orders", "order", "customer", term="acme") == set()


def test_model_clean_rejects_a_foreign_key_to_another_brand(acme, rival, brand):
    from django.core.exceptions import ValidationError

    order = Order(brand=brand, customer=rival[Customer], external_id="X", placed_at=T0, total_amount=1)
    with pytest.raises(ValidationError) as excinfo:
        order.full_clean()
    assert CROSS_BRAND.format(field="customer", model="order") in excinfo.value.messages


def test_model_clean_accepts_same_brand_foreign_keys(acme, brand):
    Order(
        brand=brand,
        customer=acme[Customer],
        stream=acme[Stream],
        external_id="X",
        placed_at=T0,
        total_amount=1,
    ).full_clean()


def test_admin_form_rejects_a_cross_brand_foreign_key(login, acme, rival, superuser, brand):
    # Given a superuser, who may pick rows of every brand
    client = login(superuser)
    # When they add an Acme order for Rival's customer
    data = {
        "brand": brand.pk,
        "external_id": "O-cross",
        "customer": rival[Customer].pk,
        "placed_at_0": "2026-01-02",
        "placed_at_1": "10:00:00",
        "status": "paid",
        "total_amount": "10.00",
        "currency": "CNY",
        "channel": "live_stream",
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
    }
    response = client.post(add_url(Order), data)
    # Then the form is shown again with the brand error and nothing is saved
    assert response.status_code == 200
    assert CROSS_BRAND.format(field="customer", model="order") in response.content.decode()
    assert not Order.objects.filter(external_id="O-cross").exists()


def test_inline_rows_take_the_parent_brand(login, acme, superuser):
    client = login(superuser)
    order = acme[Order]
    data = form_data(client.get(change_url(order)))
    data.update(
        {
            "items-TOTAL_FORMS": "2",
            "items-1-line_no": "2",
            "items-1-sku": "SKU-2",
            "items-1-quantity": "2",
            "items-1-unit_price": "5.00",
            "items-1-amount": "10.00",
            "items-1-order": order.pk,
        }
    )
    response = client.post(change_url(order), data)
    assert response.status_code == 302, response.context["errors"]
    item = OrderItem.objects.get(order=order, line_no=2)
    assert item.brand_id == order.brand_id


def test_inline_choices_are_scoped(login, acme, rival, acme_manager):
    response = login(acme_manager).get(change_url(acme[Tier]))
    formset = response.context["inline_admin_formsets"][0].formset
    assert set(formset.form.base_fields["benefit"].queryset.values_list("pk", flat=True)) == {
        acme[Benefit].pk
    }


def test_brand_cannot_be_changed_on_an_existing_row(login, acme, acme_manager):
    response = login(acme_manager).get(change_url(acme[Tier]))
    assert "brand" not in response.context["adminform"].form.fields


def test_customer_added_by_a_single_brand_manager_lands_in_their_brand(login, acme_manager, brand):
    client = login(acme_manager)
    data = form_data(client.get(add_url(Customer)))
    data.update({"external_id": "new-1", "gender": "female", "acquisition_channel": "live_stream"})
    response = client.post(add_url(Customer), data)
    assert response.status_code == 302, response.context["errors"]
    assert Customer.objects.get(external_id="new-1").brand == brand


def test_superuser_choices_span_every_brand(acme, rival, superuser):
    form = admin_form(Order, superuser)
    assert set(form.base_fields["customer"].queryset.values_list("pk", flat=True)) == {
        acme[Customer].pk,
        rival[Customer].pk,
    }


def test_inline_rejects_a_cross_brand_row(login, acme, rival, superuser):
    # Given a superuser linking Rival's benefit to Acme's tier
    client = login(superuser)
    tier = acme[Tier]
    data = form_data(client.get(change_url(tier)))
    data["tier_benefits-0-benefit"] = rival[Benefit].pk
    # When they save
    response = client.post(change_url(tier), data)
    # Then the inline row is refused with the brand message
    assert response.status_code == 200
    assert CROSS_BRAND.format(field="benefit", model="tier benefit") in response.content.decode()
    assert TierBenefit.objects.get(tier=tier).benefit == acme[Benefit]


def test_new_order_with_items_gives_each_item_the_order_brand(login, acme, superuser, brand):
    data = {
        "brand": brand.pk,
        "external_id": "O-new",
        "customer": acme[Customer].pk,
        "placed_at_0": "2026-01-02",
        "placed_at_1": "10:00:00",
        "status": "paid",
        "total_amount": "10.00",
        "currency": "CNY",
        "channel": "live_stream",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-0-line_no": "1",
        "items-0-sku": "SKU-9",
        "items-0-quantity": "1",
        "items-0-unit_price": "10.00",
        "items-0-amount": "10.00",
    }
    response = login(superuser).post(add_url(Order), data)
    assert response.status_code == 302, response.context["errors"]
    item = OrderItem.objects.get(order__external_id="O-new")
    assert item.brand_id == brand.pk


def test_form_help_texts_follow_each_request_s_language():
    # a lazy text formatted with `%` at import time kept the language of the import: Chinese on the English UI
    from django.utils import translation

    from apps.engagement.admin import FollowupRuleForm

    with translation.override("en"):
        english = str(FollowupRuleForm.base_fields["channels"].help_text)
    with translation.override("zh-hans"):
        chinese = str(FollowupRuleForm.base_fields["channels"].help_text)
    assert english.startswith("Comma separated, tried first to last") and "wecom" in english
    assert chinese.startswith("用逗号分隔") and "wecom" in chinese


def test_the_admin_javascript_catalogue_has_the_picker_strings_in_chinese(client):
    # Django's own zh_Hans djangojs leaves the many-to-many picker untranslated: 'Choose 等级 by selecting them …'
    from django.urls import reverse

    assert reverse("admin:jsi18n") == "/admin/jsi18n/"
    chinese = client.get("/admin/jsi18n/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "\\u5168\\u9009%s" in chinese or "全选%s" in chinese  # Choose all %s
    assert "Choose %s by selecting them and then select the" in chinese  # the msgid, with its translation
    assert "\\u4eca\\u5929" in chinese or "今天" in chinese  # Django's own "Today" is still served
    english = client.get("/admin/jsi18n/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "全选" not in english and "\\u5168\\u9009" not in english
