from django.db import migrations

from apps.core.migration_ops import AddSameBrandForeignKey


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_same_brand_foreign_keys"),
        ("streams", "0002_same_brand_foreign_keys"),
    ]

    operations = [
        AddSameBrandForeignKey(model_name="customer", field_name="acquisition_stream"),
    ]
