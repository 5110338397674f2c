from django.utils.translation import gettext_lazy as _

from apps.core.importing.command import ImportCommand
from apps.streams.importers import streams_import


class Command(ImportCommand):
    help = _(
        "Import live streams from a CSV file: stream_id, started_at (required); title, host, platform, "
        "category, ended_at (optional)."
    )

    def run_import(self, **kwargs):
        return streams_import(**kwargs)
