"""Default tiers, benefits and tier rules every brand starts with. Names are msgids so they show translated."""

from decimal import Decimal

from django.utils.translation import gettext_noop

DEFAULT_TIERS = [
    # code, name, rank, description, demotion grace (days)
    ("high", gettext_noop("High value"), 1, gettext_noop("Recent, frequent, high-spending customers."), 90),
    (
        "potential",
        gettext_noop("Potential value"),
        2,
        gettext_noop("Customers likely to grow into high value."),
        60,
    ),
    ("basic", gettext_noop("Basic value"), 3, gettext_noop("Everyone else."), 0),
]

DEFAULT_BENEFITS = [
    # code, name, kind, value, validity_days
    ("coupon-50", gettext_noop("Exclusive coupon ¥50"), "coupon", Decimal("50"), 30),
    ("coupon-20", gettext_noop("Exclusive coupon ¥20"), "coupon", Decimal("20"), 30),
    ("points-x2", gettext_noop("Double points"), "points_multiplier", Decimal("2"), 30),
    ("free-shipping", gettext_noop("Free shipping"), "free_shipping", Decimal("0"), 30),
    ("early-access", gettext_noop("Early access to streams and products"), "early_access", Decimal("0"), 30),
    ("priority-service", gettext_noop("Priority after-sales service"), "priority_service", Decimal("0"), 90),
    ("birthday-gift", gettext_noop("Birthday gift"), "gift", Decimal("30"), 365),
]

# tier code -> [(benefit code, quota per validity period)]
DEFAULT_TIER_BENEFITS = {
    "high": [
        ("coupon-50", 2),
        ("points-x2", 0),
        ("free-shipping", 0),
        ("early-access", 0),
        ("priority-service", 0),
        ("birthday-gift", 1),
    ],
    "potential": [("coupon-20", 1), ("points-x2", 0), ("free-shipping", 2)],
    "basic": [("coupon-20", 1)],
}

# tier code -> the conditions of its rule (see TierRule). Relative thresholds, so they suit any brand's
# currency and size from the first refresh:
#   high       top 20% by predicted CLV, and churn probability at most 60%
#   potential  top 50% by predicted CLV, and churn probability at most 80%
#   basic      everyone else (no condition; also where customers no rule matches land)
# A customer who stops qualifying keeps high value for 90 days and potential value for 60 (the tiers'
# demotion grace): the churn ceiling would otherwise take benefits away from valuable customers just when
# they are at risk, the moment win-back should start.
DEFAULT_TIER_RULES = {
    "high": {"min_clv_percentile": 80, "max_churn_probability": Decimal("0.600")},
    "potential": {"min_clv_percentile": 50, "max_churn_probability": Decimal("0.800")},
    "basic": {},
}
