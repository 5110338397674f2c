from django.utils.translation import gettext_lazy as _

from apps.core.importing.command import ImportCommand
from apps.loyalty.importers import redemptions_import


class Command(ImportCommand):
    help = _(
        "Import benefit redemptions from a CSV file: customer_id, benefit (the benefit's code), redeemed_at "
        "(required); grant_id (optional). Each row redeems the customer's grant of that benefit that was open "
        "then and expires first; re-importing the same rows changes nothing."
    )

    def run_import(self, **kwargs):
        return redemptions_import(**kwargs)
