"""The database refuses rows that break the model constraints, whatever code wrote them."""

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from apps.brands.models import Membership
from apps.communities.models import CommunityMembership
from apps.customers.models import Customer
from apps.loyalty.models import Benefit, BenefitGrant, Tier, TierBenefit
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream, StreamView
from tests.factories import (
    T0,
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

pytestmark = pytest.mark.django_db


@contextmanager
def refused(constraint_name):
    """The block raises IntegrityError naming this constraint (inside a savepoint, so the test goes on)."""
    with pytest.raises(IntegrityError, match=constraint_name), transaction.atomic():
        yield


# Orders
def test_negative_order_amount(brand):
    with refused("order_amount_not_negative"):
        OrderFactory(brand=brand, total_amount=Decimal("-1.00"))


def test_order_status_must_be_known(brand):
    with refused("order_status_valid"):
        OrderFactory(brand=brand, status="lost")


def test_empty_order_external_id(brand):
    with refused("order_external_id_not_empty"):
        OrderFactory(brand=brand, external_id="")


def test_order_external_id_unique_per_brand_but_not_across_brands(brand, other_brand):
    OrderFactory(brand=brand, external_id="O-1")
    OrderFactory(brand=other_brand, external_id="O-1")
    with refused("order_unique_external_id"):
        OrderFactory(brand=brand, external_id="O-1")


def test_order_item_quantity_zero(brand):
    with refused("orderitem_quantity_positive"):
        OrderItemFactory(brand=brand, quantity=0, amount=Decimal("0"))


def test_order_item_negative_price_and_amount(brand):
    with refused("orderitem_price_not_negative"):
        OrderItemFactory(brand=brand, unit_price=Decimal("-1"), amount=Decimal("1"))
    with refused("orderitem_amount_not_negative"):
        OrderItemFactory(brand=brand, unit_price=Decimal("1"), amount=Decimal("-1"))


def test_order_item_line_unique_per_order(brand):
    item = OrderItemFactory(brand=brand, line_no=1)
    with refused("orderitem_unique_line"):
        OrderItemFactory(brand=brand, order=item.order, line_no=1)


# Customers
def test_customer_external_id_unique_per_brand_but_not_across_brands(brand, other_brand):
    CustomerFactory(brand=brand, external_id="C-1")
    CustomerFactory(brand=other_brand, external_id="C-1")
    with refused("customer_unique_external_id"):
        CustomerFactory(brand=brand, external_id="C-1")
    assert Customer.objects.filter(external_id="C-1").count() == 2


def test_empty_customer_external_id(brand):
    with refused("customer_external_id_not_empty"):
        CustomerFactory(brand=brand, external_id="")


@pytest.mark.parametrize("year", [1899, 2101])
def test_birth_year_out_of_range(brand, year):
    with refused("customer_birth_year_range"):
        CustomerFactory(brand=brand, birth_year=year)


@pytest.mark.parametrize("year", [None, 1900, 1990, 2100])
def test_birth_year_in_range_or_unknown(brand, year):
    CustomerFactory(brand=brand, birth_year=year)


# Streams
def test_stream_ended_before_started(brand):
    with refused("stream_ends_after_start"):
        StreamFactory(brand=brand, started_at=T0, ended_at=T0 - timedelta(minutes=1))


def test_stream_external_id_unique_per_brand_and_not_empty(brand, other_brand):
    StreamFactory(brand=brand, external_id="S-1")
    StreamFactory(brand=other_brand, external_id="S-1")
    with refused("stream_unique_external_id"):
        StreamFactory(brand=brand, external_id="S-1")
    with refused("stream_external_id_not_empty"):
        StreamFactory(brand=brand, external_id="")


def test_duplicate_view_per_stream_and_customer(brand):
    view = StreamViewFactory(brand=brand)
    with refused("streamview_one_per_customer"):
        StreamViewFactory(brand=brand, stream=view.stream, customer=view.customer)


# Communities
def test_left_before_joined(brand):
    with refused("communitymembership_left_after_joined"):
        CommunityMembershipFactory(brand=brand, joined_at=T0, left_at=T0 - timedelta(days=1))


def test_membership_spell_unique(brand):
    spell = CommunityMembershipFactory(brand=brand)
    CommunityMembershipFactory(
        brand=brand, community=spell.community, customer=spell.customer, joined_at=T0 + timedelta(days=9)
    )
    with refused("communitymembership_unique_spell"):
        CommunityMembershipFactory(
            brand=brand, community=spell.community, customer=spell.customer, joined_at=spell.joined_at
        )


def test_community_external_id_unique_per_brand_and_not_empty(brand, other_brand):
    CommunityFactory(brand=brand, external_id="G-1")
    CommunityFactory(brand=other_brand, external_id="G-1")
    with refused("community_unique_external_id"):
        CommunityFactory(brand=brand, external_id="G-1")
    with refused("community_external_id_not_empty"):
        CommunityFactory(brand=brand, external_id="")


# Loyalty
def test_grant_expires_before_granted(brand):
    with refused("grant_expires_after_granted"):
        BenefitGrantFactory(brand=brand, granted_at=T0, expires_at=T0 - timedelta(seconds=1))


def test_grant_redeemed_before_granted(brand):
    with refused("grant_redeemed_after_granted"):
        BenefitGrantFactory(brand=brand, granted_at=T0, redeemed_at=T0 - timedelta(seconds=1))


def test_grant_both_redeemed_and_revoked(brand):
    with refused("grant_not_redeemed_and_revoked"):
        BenefitGrantFactory(
            brand=brand, redeemed_at=T0 + timedelta(days=1), revoked_at=T0 + timedelta(days=2)
        )


def test_tier_rank_zero_and_duplicate_code(brand, other_brand):
    with refused("tier_rank_positive"):
        TierFactory(brand=brand, rank=0)
    TierFactory(brand=brand, code="gold")
    TierFactory(brand=other_brand, code="gold")
    with refused("tier_unique_code"):
        TierFactory(brand=brand, code="gold")
    assert Tier.objects.filter(code="gold").count() == 2


def test_benefit_negative_value_zero_validity_and_duplicate_code(brand):
    with refused("benefit_value_not_negative"):
        BenefitFactory(brand=brand, value=Decimal("-1"))
    with refused("benefit_validity_positive"):
        BenefitFactory(brand=brand, validity_days=0)
    BenefitFactory(brand=brand, code="coupon-10")
    with refused("benefit_unique_code"):
        BenefitFactory(brand=brand, code="coupon-10")
    assert Benefit.objects.filter(code="coupon-10").count() == 1


def test_tier_benefit_unique(brand):
    link = TierBenefitFactory(brand=brand)
    with refused("tierbenefit_unique"):
        TierBenefit.objects.create(brand=brand, tier=link.tier, benefit=link.benefit)


# Brands
def test_brand_currency_iso(db):
    from apps.brands.models import Brand

    with refused("brand_currency_iso"):
        Brand.objects.create(slug="bad", name="Bad", currency="cny")


def test_membership_unique_and_role_valid(brand):
    user = UserFactory()
    Membership.objects.create(user=user, brand=brand, role="viewer")
    with refused("membership_unique_brand_user"):
        Membership.objects.create(user=user, brand=brand, role="manager")
    with refused("membership_role_valid"):
        Membership.objects.create(user=UserFactory(), brand=brand, role="owner")


def test_valid_rows_of_every_model_are_accepted(brand):
    # Guard against a constraint that refuses everything.
    view = StreamViewFactory(brand=brand)
    item = OrderItemFactory(brand=brand)
    grant = BenefitGrantFactory(brand=brand)
    spell = CommunityMembershipFactory(brand=brand)
    assert all(
        [
            Stream.objects.filter(pk=view.stream_id).exists(),
            StreamView.objects.filter(pk=view.pk).exists(),
            Order.objects.filter(pk=item.order_id).exists(),
            OrderItem.objects.filter(pk=item.pk).exists(),
            BenefitGrant.objects.filter(pk=grant.pk).exists(),
            CommunityMembership.objects.filter(pk=spell.pk).exists(),
        ]
    )
