"""Staff of two brands, one row of every brand-owned model per brand, and admin URL/form helpers."""

from dataclasses import dataclass, field

import pytest
from django.forms import CheckboxInput, MultiWidget
from django.urls import reverse

from apps.brands.services import membership_set
from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer
from apps.loyalty.models import Benefit, BenefitGrant, Tier, TierBenefit
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream, StreamView
from tests.factories import (
    BenefitFactory,
    BenefitGrantFactory,
    CommunityFactory,
    CommunityMembershipFactory,
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
    StreamFactory,
    StreamViewFactory,
    TierBenefitFactory,
    TierFactory,
    UserFactory,
)

BRAND_OWNED_MODELS = [
    Customer,
    Stream,
    StreamView,
    Order,
    OrderItem,
    Community,
    CommunityMembership,
    Tier,
    Benefit,
    TierBenefit,
    BenefitGrant,
]


def model_id(model) -> str:
    return model._meta.label_lower


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def delete_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_delete", args=[obj.pk])


def _post_value(value):
    if hasattr(value, "pk"):
        return value.pk
    return "" if value is None else value


def form_data(response) -> dict:
    """POST data that re-submits an admin change form (and its inlines) exactly as rendered."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.append(formset.management_form)
        forms.extend(formset.forms)
    for form in forms:
        for bound in form:
            widget = getattr(bound.field.widget, "widget", bound.field.widget)
            value = bound.value()
            if isinstance(widget, MultiWidget):
                for index, part in enumerate(widget.decompress(value)):
                    data[f"{bound.html_name}_{index}"] = _post_value(part)
            elif isinstance(widget, CheckboxInput):
                if value:
                    data[bound.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[bound.html_name] = [_post_value(v) for v in value]
            else:
                data[bound.html_name] = _post_value(value)
    return data


@dataclass
class BrandRows:
    brand: object
    rows: dict = field(default_factory=dict)

    def __getitem__(self, model):
        return self.rows[model]


def make_rows(brand, prefix: str) -> BrandRows:
    customer = CustomerFactory(brand=brand, external_id=f"{prefix}-C1", phone="13812345678")
    stream = StreamFactory(brand=brand, external_id=f"{prefix}-S1", title=f"{prefix} launch night")
    order = OrderFactory(brand=brand, customer=customer, stream=stream, external_id=f"{prefix}-O1")
    community = CommunityFactory(brand=brand, name=f"{prefix} fans")
    tier = TierFactory(brand=brand, code=f"{prefix}-gold", name=f"{prefix} Gold", rank=1)
    benefit = BenefitFactory(brand=brand, code=f"{prefix}-coupon", name=f"{prefix} coupon")
    rows = {
        Customer: customer,
        Stream: stream,
        StreamView: StreamViewFactory(brand=brand, stream=stream, customer=customer),
        Order: order,
        OrderItem: OrderItemFactory(brand=brand, order=order, line_no=1),
        Community: community,
        CommunityMembership: CommunityMembershipFactory(brand=brand, community=community, customer=customer),
        Tier: tier,
        Benefit: benefit,
        TierBenefit: TierBenefitFactory(brand=brand, tier=tier, benefit=benefit),
        BenefitGrant: BenefitGrantFactory(brand=brand, customer=customer, benefit=benefit),
    }
    return BrandRows(brand=brand, rows=rows)


@pytest.fixture
def acme(brand):
    return make_rows(brand, "acme")


@pytest.fixture
def rival(other_brand):
    return make_rows(other_brand, "rival")


def staff(username, *memberships):
    """A staff user with (brand, role) memberships, written through the service (groups in sync)."""
    user = UserFactory(username=username)
    for brand, role in memberships:
        membership_set(user=user, brand=brand, role=role)
    user.refresh_from_db()
    return user


@pytest.fixture
def acme_viewer(brand):
    return staff("acme-viewer", (brand, "viewer"))


@pytest.fixture
def acme_analyst(brand):
    return staff("acme-analyst", (brand, "analyst"))


@pytest.fixture
def acme_manager(brand):
    return staff("acme-manager", (brand, "manager"))


@pytest.fixture
def rival_manager(other_brand):
    return staff("rival-manager", (other_brand, "manager"))


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def login(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
