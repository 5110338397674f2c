"""Brands created before follow-ups get a contact policy and the default templates and rules, as new brands
get them from services.engagement_defaults_ensure."""

import secrets

from django.db import migrations

# a copy of apps.engagement.defaults as it was when this migration was written (migrations must not change
# with the code)
TEMPLATES = [
    (
        "viewer-thanks",
        "Thanks for watching",
        "Your offer from {brand}",
        "Thanks for watching {stream} with {brand}! Your exclusive offer is waiting for you: {link}",
    ),
    (
        "buyer-care",
        "After-sales care",
        "Your order from {brand}",
        "Thank you for buying in {stream}. Questions about your order? We are here for you: {link}",
    ),
    (
        "win-back",
        "We miss you",
        "We miss you at {brand}",
        "We miss you at {brand}. Here is {benefit} for your next order: {link}",
    ),
]
RULES = [
    ("Viewers who did not buy: first touch 6–12 hours after the stream", 10, "stream_end", "viewers", 3,
     "viewer-thanks", ["wecom", "app_push", "sms"], "coupon-20", 6, 12, True),
    ("Buyers of the stream: after-sales care", 20, "stream_end", "buyers", None,
     "buyer-care", ["wecom", "app_push", "sms"], None, 12, 24, False),
    ("Win-back: valuable customers who are slipping away", 30, "win_back", "everyone", None,
     "win-back", ["wecom", "sms", "app_push"], "coupon-50", 0, 6, True),
]


def forwards(apps, schema_editor):
    Brand = apps.get_model("brands", "Brand")
    Policy = apps.get_model("engagement", "ContactPolicy")
    Template = apps.get_model("engagement", "MessageTemplate")
    Rule = apps.get_model("engagement", "FollowupRule")
    Benefit = apps.get_model("loyalty", "Benefit")
    for brand in Brand.objects.all():
        Policy.objects.get_or_create(brand=brand, defaults={"holdout_salt": secrets.token_hex(8)})
        templates = {}
        for code, name, subject, body in TEMPLATES:
            templates[code], _ = Template.objects.get_or_create(
                brand=brand, code=code, defaults={"name": name, "subject": subject, "body": body}
            )
        benefits = {b.code: b for b in Benefit.objects.filter(brand=brand, is_active=True)}
        for name, priority, trigger, audience, minutes, template, channels, benefit, low, high, skip in RULES:
            if Rule.objects.filter(brand=brand, trigger=trigger, audience=audience).exists():
                continue
            Rule.objects.create(
                brand=brand,
                name=name,
                priority=priority,
                trigger=trigger,
                audience=audience,
                min_watch_minutes=minutes,
                template=templates[template],
                channels=channels,
                benefit=benefits.get(benefit),
                delay_min_hours=low,
                delay_max_hours=high,
                window_hours=72,
                skip_if_bought=skip,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0001_initial"),
        ("loyalty", "0006_tier_demotion_grace"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
