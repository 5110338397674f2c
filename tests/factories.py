"""factory_boy factories shared by the test suite."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model

from apps.analytics.models import CustomerScore, ModelRun
from apps.analytics.selectors import cutoff_for
from apps.brands.models import Brand, Membership
from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer
from apps.engagement.models import FollowupRule, MessageTemplate
from apps.loyalty.models import Benefit, BenefitGrant, Tier, TierBenefit, TierChange, TierRule
from apps.loyalty.tiering import clv_percentile, percentile_below
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


class TierRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TierRule

    brand = factory.SubFactory(BrandFactory)
    tier = factory.SubFactory(TierFactory, brand=factory.SelfAttribute("..brand"))


class TierChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TierChange

    brand = factory.SubFactory(BrandFactory)
    customer = factory.SubFactory(CustomerFactory, brand=factory.SelfAttribute("..brand"))
    to_tier = factory.SubFactory(TierFactory, brand=factory.SelfAttribute("..brand"))
    changed_at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    reason = "rule:test"


# --- model runs and scores made by hand ----------------------------------------------------------------------

# P(no purchase yet) on the engine's day grid, for scores made by hand
CURVE = [0.95, 0.9, 0.86, 0.8, 0.72, 0.66, 0.55, 0.47, 0.41, 0.36, 0.3, 0.26, 0.22]


class ModelRunFactory(factory.django.DjangoModelFactory):
    """A refresh of the brand, published by default (publishing by hand: see clv_percentiles_set)."""

    class Meta:
        model = ModelRun

    brand = factory.SubFactory(BrandFactory)
    status = "published"
    as_of = date(2026, 3, 31)
    cutoff = factory.LazyAttribute(lambda o: cutoff_for(o.brand, o.as_of))
    horizon_days = 90
    estimator = "coxph"


class CustomerScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerScore

    brand = factory.SelfAttribute("run.brand")
    run = factory.SubFactory(ModelRunFactory)
    customer = factory.SubFactory(CustomerFactory, brand=factory.SelfAttribute("..brand"))
    stage = "growth"
    stage_rule = "growth_orders"
    rhythm_days = 20.0
    rfm_recency = rfm_frequency = rfm_monetary = 3
    rfm_segment = "loyal"
    orders_count = 2
    monetary_total = Decimal("100.00")
    last_purchase_at = datetime(2026, 3, 1, tzinfo=UTC)
    days_since_last_purchase = 30.0
    p_purchase_horizon = 0.7
    churn_probability = 0.3
    expected_revenue_horizon = Decimal("80.00")
    clv = Decimal("300.00")
    survival_curve = factory.LazyFunction(lambda: list(CURVE))


def make_run(brand, **fields) -> ModelRun:
    """A model run of the brand (published by default)."""
    return ModelRunFactory(brand=brand, **fields)


def make_score(run, customer, *, rfm=None, p=None, churn=None, **fields) -> CustomerScore:
    """One customer's score in a run; `rfm`, `p` and `churn` are short for the segment, P(purchase within the
    horizon) and the churn probability."""
    for key, value in (("rfm_segment", rfm), ("p_purchase_horizon", p), ("churn_probability", churn)):
        if value is not None:
            fields[key] = value
    return CustomerScoreFactory(run=run, customer=customer, **fields)


def clv_percentiles_set(run) -> None:
    """Give the run's scores their CLV and value-to-date percentiles as publishing does
    (apps.loyalty.tiering.percentile_below over the run's scored customers; value to date is the total spend,
    or paid purchases when no score has one): for runs published by hand, whose scores were made one by one."""
    scores = list(CustomerScore.objects.filter(run=run).order_by("pk"))
    clv = clv_percentile(pd.Series([float(s.clv) if s.clv is not None else np.nan for s in scores]))
    spend = [float(s.monetary_total) if s.monetary_total is not None else np.nan for s in scores]
    worth = spend if not all(np.isnan(spend)) else [float(s.orders_count) for s in scores]
    value = percentile_below(worth)
    for score, c, v in zip(scores, clv, value, strict=True):
        score.clv_percentile = None if np.isnan(c) else float(c)
        score.value_percentile = float(v)
    CustomerScore.objects.bulk_update(scores, ["clv_percentile", "value_percentile"])


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    brand = factory.SubFactory(BrandFactory)
    code = factory.Sequence(lambda n: f"template-{n}")
    name = "Thanks"
    language = "en"
    subject = "From {brand}"
    body = "Thanks for watching {stream}! {link}"


class FollowupRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowupRule

    brand = factory.SubFactory(BrandFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    template = factory.SubFactory(MessageTemplateFactory, brand=factory.SelfAttribute("..brand"))
    channels = factory.LazyFunction(lambda: ["sms"])
    audience = "viewers"
    trigger = "stream_end"
