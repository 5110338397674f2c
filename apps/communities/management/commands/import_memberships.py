from django.utils.translation import gettext_lazy as _

from apps.communities.importers import memberships_import
from apps.core.importing.command import ImportCommand


class Command(ImportCommand):
    help = _(
        "Import community memberships from a CSV file: community_id, customer_id, joined_at (required); "
        "community_name, community_kind, left_at, activity_count (optional)."
    )

    def run_import(self, **kwargs):
        return memberships_import(**kwargs)
