# The stage-change admin list's order (brand id, latest first) from an index: at a million customers a publish
# writes a million stage changes, which the list would otherwise sort on every page.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("analytics", "0009_run_phase"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="stagechange",
            index=models.Index(fields=["brand", "-changed_on", "-id"], name="stagechange_brand_latest"),
        ),
    ]
