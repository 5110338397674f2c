"""The follow-up templates and rules every brand starts with. Texts are English msgids: a template staff have
not rewritten is sent translated into its language."""

from decimal import Decimal

from django.utils.translation import gettext_noop

DEFAULT_TEMPLATES = [
    # code, name, subject, body
    (
        "viewer-thanks",
        gettext_noop("Thanks for watching"),
        gettext_noop("Your offer from {brand}"),
        gettext_noop(
            "Thanks for watching {stream} with {brand}! Your exclusive offer is waiting for you: {link}"
        ),
    ),
    (
        "buyer-care",
        gettext_noop("After-sales care"),
        gettext_noop("Your order from {brand}"),
        gettext_noop(
            "Thank you for buying in {stream}. Questions about your order? We are here for you: {link}"
        ),
    ),
    (
        "win-back",
        gettext_noop("We miss you"),
        gettext_noop("We miss you at {brand}"),
        gettext_noop("We miss you at {brand}. Here is {benefit} for your next order: {link}"),
    ),
]

DEFAULT_RULES = [
    {
        "name": gettext_noop("Viewers who did not buy: first touch 6–12 hours after the stream"),
        "priority": 10,
        "trigger": "stream_end",
        "audience": "viewers",
        "min_watch_minutes": 3,
        "template": "viewer-thanks",
        "channels": ["wecom", "app_push", "sms"],
        "benefit": "coupon-20",
        "delay_min_hours": Decimal("6"),
        "delay_max_hours": Decimal("12"),
        "window_hours": 72,
        "skip_if_bought": True,
    },
    {
        "name": gettext_noop("Buyers of the stream: after-sales care"),
        "priority": 20,
        "trigger": "stream_end",
        "audience": "buyers",
        "template": "buyer-care",
        "channels": ["wecom", "app_push", "sms"],
        "delay_min_hours": Decimal("12"),
        "delay_max_hours": Decimal("24"),
        "window_hours": 72,
        "skip_if_bought": False,
    },
    {
        "name": gettext_noop("Win-back: valuable customers who are slipping away"),
        "priority": 30,
        "trigger": "win_back",
        "audience": "everyone",
        "template": "win-back",
        "channels": ["wecom", "sms", "app_push"],
        "benefit": "coupon-50",
        "delay_min_hours": Decimal("0"),
        "delay_max_hours": Decimal("6"),
        "window_hours": 72,
        "skip_if_bought": True,
    },
]
