"""Brands created before tier rules existed get the default rule for each default tier they still have."""

from decimal import Decimal

from django.db import migrations

# The defaults as they were when rules were introduced (frozen here; apps/loyalty/defaults.py may change).
DEFAULT_TIER_RULES = {
    "high": {"min_clv_percentile": 80, "max_churn_probability": Decimal("0.600")},
    "potential": {"min_clv_percentile": 50, "max_churn_probability": Decimal("0.800")},
    "basic": {},
}


def add_default_rules(apps, schema_editor):
    Tier = apps.get_model("loyalty", "Tier")
    TierRule = apps.get_model("loyalty", "TierRule")
    for tier in Tier.objects.filter(code__in=list(DEFAULT_TIER_RULES)):
        if not TierRule.objects.filter(brand_id=tier.brand_id, tier_id=tier.pk).exists():
            TierRule.objects.create(brand_id=tier.brand_id, tier_id=tier.pk, **DEFAULT_TIER_RULES[tier.code])


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0004_tier_rules_and_history")]

    operations = [migrations.RunPython(add_default_rules, migrations.RunPython.noop)]
