from django.utils.translation import gettext_lazy as _

from apps.core.importing.command import ImportCommand
from apps.customers.importers import customers_import


class Command(ImportCommand):
    help = _(
        "Import customers from a CSV file: customer_id, name, phone, gender, birth_year, age or age_band, …"
    )

    def run_import(self, **kwargs):
        return customers_import(**kwargs)
