"""factory_boy factories shared by the test suite."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from apps.brands.models import Brand, Membership
from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer
from apps.loyalty.models import Benefit, BenefitGrant, Tier, TierBenefit
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream, StreamView

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pw-for-tests-123")  # hashed when built: no save after creation
    is_staff = True


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"brand-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    timezone = "Asia/Shanghai"
    currency = "CNY"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    brand = factory.SubFactory(BrandFactory)
    role = "viewer"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    brand = factory.SubFactory(BrandFactory)
    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    display_name = factory.Sequence(lambda n: f"顾客{n}")
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    first_seen_at = T0


class StreamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stream

    brand = factory.SubFactory(BrandFactory)
    external_id = factory.Sequence(lambda n: f"S{n:05d}")
    title = factory.Sequence(lambda n: f"Evening stream {n}")
    host_name = "Host A"
    platform = "douyin"
    started_at = T0
    ended_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(hours=2))


class StreamViewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StreamView

    brand = factory.SubFactory(BrandFactory)
    stream = factory.SubFactory(StreamFactory, brand=factory.SelfAttribute("..brand"))
    customer = factory.SubFactory(CustomerFactory, brand=factory.SelfAttribute("..brand"))
    joined_at = factory.LazyAttribute(lambda o: o.stream.started_at)
    watch_seconds = 600


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    brand = factory.SubFactory(BrandFactory)
    external_id = factory.Sequence(lambda n: f"O{n:07d}")
    customer = factory.SubFactory(CustomerFactory, brand=factory.SelfAttribute("..brand"))
    placed_at = T0
    total_amount = Decimal("99.00")


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    brand = factory.SubFactory(BrandFactory)
    order = factory.SubFactory(OrderFactory, brand=factory.SelfAttribute("..brand"))
    line_no = factory.Sequence(lambda n: n + 1)
    sku = "SKU-1"
    quantity = 1
    unit_price = Decimal("99.00")
    amount = factory.LazyAttribute(lambda o: o.unit_price * o.quantity)


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    brand = factory.SubFactory(BrandFactory)
    external_id = factory.Sequence(lambda n: f"G{n:04d}")
    name = factory.Sequence(lambda n: f"Fans group {n}")
    kind = "wecom"


class CommunityMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CommunityMembership

    brand = factory.SubFactory(BrandFactory)
    community = factory.SubFactory(CommunityFactory, brand=factory.SelfAttribute("..brand"))
    customer = factory.SubFactory(CustomerFactory, brand=factory.SelfAttribute("..brand"))
    joined_at = T0


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    brand = factory.SubFactory(BrandFactory)
    code = factory.Sequence(lambda n: f"tier-{n}")
    name = factory.Sequence(lambda n: f"Tier {n}")
    rank = factory.Sequence(lambda n: n + 10)


class BenefitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Benefit

    brand = factory.SubFactory(BrandFactory)
    code = factory.Sequence(lambda n: f"benefit-{n}")
    name = factory.Sequence(lambda n: f"Benefit {n}")
    kind = "coupon"
    value = Decimal("10")


class TierBenefitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TierBenefit

    brand = factory.SubFactory(BrandFactory)
    tier = factory.SubFactory(TierFactory, brand=factory.SelfAttribute("..brand"))
    benefit = factory.SubFactory(BenefitFactory, brand=factory.SelfAttribute("..brand"))
    quota = 1


class BenefitGrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BenefitGrant

    brand = factory.SubFactory(BrandFactory)
    customer = factory.SubFactory(CustomerFactory, brand=factory.SelfAttribute("..brand"))
    benefit = factory.SubFactory(BenefitFactory, brand=factory.SelfAttribute("..brand"))
    granted_at = T0
    expires_at = factory.LazyAttribute(lambda o: o.granted_at + timedelta(days=30))
