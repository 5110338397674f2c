"""Orders converted from another currency at a rate staff supplied (import_orders --rates) keep what was
converted: the original total, its currency and the rate."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_same_brand_foreign_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="exchange_rate",
            field=models.DecimalField(
                blank=True, decimal_places=8, max_digits=18, null=True, verbose_name="exchange rate"
            ),
        ),
        migrations.AddField(
            model_name="order",
            name="original_amount",
            field=models.DecimalField(
                blank=True, decimal_places=2, max_digits=14, null=True, verbose_name="original amount"
            ),
        ),
        migrations.AddField(
            model_name="order",
            name="original_currency",
            field=models.CharField(blank=True, default="", max_length=3, verbose_name="original currency"),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("exchange_rate__isnull", True),
                        ("original_amount__isnull", True),
                        ("original_currency", ""),
                    ),
                    models.Q(
                        models.Q(("original_currency", ""), _negated=True),
                        ("exchange_rate__gt", 0),
                        ("original_amount__gte", 0),
                    ),
                    _connector="OR",
                ),
                name="order_conversion_complete",
            ),
        ),
    ]
