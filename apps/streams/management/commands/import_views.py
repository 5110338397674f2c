from django.utils.translation import gettext_lazy as _

from apps.core.importing.command import ImportCommand
from apps.streams.importers import stream_views_import


class Command(ImportCommand):
    help = _(
        "Import stream views from a CSV file: stream_id, customer_id (required); joined_at, watch_seconds, "
        "comments, likes, shares (optional)."
    )

    def run_import(self, **kwargs):
        return stream_views_import(**kwargs)
