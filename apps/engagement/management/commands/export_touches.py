import csv

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.commands import Command as ProjectCommand
from apps.core.commands import atomic_output, output_checked
from apps.customers.admin.exports import safe
from apps.engagement.management.commands._common import brand_of
from apps.engagement.models import Touch

COLUMNS = [
    "customer_id",
    "stream_id",
    "rule",
    "channel",
    "scheduled_at",
    "status",
    "reason",
    "holdout",
    "sent_at",
    "converted_order_id",
]


class Command(ProjectCommand):
    help = gettext_lazy(
        "Write the brand's touches to CSV, one row each (external ids; times ISO 8601 in the brand's time zone "
        "with the offset)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument("--output", required=True, help=gettext_lazy("CSV file to write"))

    def handle(self, *args, brand, output, **options):
        brand_obj = brand_of(brand)
        zone = brand_obj.tzinfo
        output_checked(output)  # before the touches are read

        def iso(value):
            return timezone.localtime(value, zone).isoformat() if value else ""

        rows = (
            Touch.objects.filter(brand=brand_obj)
            .order_by("scheduled_at", "pk")
            .values_list(
                "customer__external_id",
                "stream__external_id",
                "rule__name",
                "channel",
                "scheduled_at",
                "status",
                "reason",
                "holdout",
                "sent_at",
                "converted_order__external_id",
            )
        )
        written = 0
        # written next to the target and renamed at the end: a failed export leaves no half file
        with atomic_output(output) as stream:
            writer = csv.writer(stream)
            writer.writerow(COLUMNS)
            for (
                customer,
                stream_id,
                rule,
                channel,
                scheduled,
                status,
                reason,
                holdout,
                sent,
                order,
            ) in rows.iterator(chunk_size=5000):
                # ids, names and codes come from imports and staff: a cell a spreadsheet would run as
                # a formula (=, +, -, @, tab, CR) is quoted, as in the customer list's exports
                writer.writerow(
                    [
                        safe(customer),
                        safe(stream_id),
                        safe(rule),
                        safe(channel),
                        iso(scheduled),
                        safe(status),
                        safe(reason),
                        "true" if holdout else "false",
                        iso(sent),
                        safe(order),
                    ]
                )
                written += 1
        self.stdout.write(_("%(count)d touches written to %(path)s.") % {"count": written, "path": output})
