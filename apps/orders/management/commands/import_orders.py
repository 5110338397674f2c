from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.importing.command import ImportCommand
from apps.orders.importers import orders_import, parse_rates


class Command(ImportCommand):
    help = gettext_lazy(
        "Import order lines from a CSV file: customer_id, ordered_at, amount (required); order_id, quantity, "
        "category, sku, stream_id, channel, status, currency (optional)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--rates",
            help=gettext_lazy(
                "exchange rates for lines in other currencies than the brand's, as units of the brand's "
                "currency per unit, e.g. USD=7.1,JPY=0.047; without a rate such a line is an error"
            ),
        )

    def import_options(self, options) -> dict:
        if options.get("rates") is None:
            return {}
        try:
            return {"rates": parse_rates(options["rates"])}
        except ValueError as exc:
            raise CommandError(f"--rates: {exc}") from None

    def run_import(self, *, brand, rates=None, **kwargs):
        if rates and brand.currency in rates:
            raise CommandError(
                "--rates: "
                + _("%(currency)s is the brand's currency: it needs no rate") % {"currency": brand.currency}
            )
        return orders_import(brand=brand, rates=rates, **kwargs)
