# The touch admin list's order (brand id, latest first) from an index: a brand with millions of touches would
# otherwise have them all sorted for every page of the list.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("engagement", "0010_saved_segments"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="touch",
            index=models.Index(fields=["brand", "-scheduled_at", "-id"], name="touch_brand_latest"),
        ),
    ]
