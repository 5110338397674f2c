from django.utils.translation import gettext_lazy as _

from apps.core.importing.command import ImportCommand
from apps.orders.importers import orders_import


class Command(ImportCommand):
    help = _(
        "Import order lines from a CSV file: customer_id, ordered_at, amount (required); order_id, quantity, "
        "category, sku, stream_id, channel, status, currency (optional)."
    )

    def run_import(self, **kwargs):
        return orders_import(**kwargs)
