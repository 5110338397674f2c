# The benefit-grant admin list's date hierarchy reads a brand's first and last grant: from this index, two
# probes, instead of every grant of the brand (half a million at a million customers).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("loyalty", "0007_grant_brand_id_key"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="benefitgrant",
            index=models.Index(fields=["brand", "granted_at"], name="grant_brand_granted"),
        ),
    ]
