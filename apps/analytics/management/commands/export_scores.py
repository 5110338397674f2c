import csv
from datetime import timedelta

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.analytics.selectors import published_run, published_scores
from apps.brands.models import Brand
from apps.core.commands import Command as ProjectCommand
from apps.core.commands import atomic_output, output_checked
from apps.customers.admin.exports import safe  # the customer list export's rule for formula-like cells

COLUMNS = [
    "customer_id",
    "stage",
    "tier",
    "rfm_segment",
    "p_purchase_horizon",
    "churn_probability",
    "expected_revenue_horizon",
    "clv",
    "median_days_to_next_purchase",
    "expected_next_order_on",
    "model_run",
]


class Command(ProjectCommand):
    help = gettext_lazy("Write the brand's published scores to CSV, one row per customer with a purchase.")

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument("--output", required=True, help=gettext_lazy("CSV file to write"))

    def handle(self, *args, brand, output, **options):
        output_checked(output)  # before the scores are read
        try:
            brand_obj = Brand.objects.get(slug=brand)
        except Brand.DoesNotExist:
            raise CommandError(_("Unknown brand: %(slug)s") % {"slug": brand}) from None
        run = published_run(brand=brand_obj)
        if run is None:
            raise CommandError(
                _("Brand %(slug)s has no published scores yet; run refresh_scores first.") % {"slug": brand}
            )
        rows = (
            published_scores(brand=brand_obj)
            .order_by("customer__external_id")
            .values_list(
                "customer__external_id",
                "stage",
                "tier__code",
                "rfm_segment",
                "p_purchase_horizon",
                "churn_probability",
                "expected_revenue_horizon",
                "clv",
                "median_days_to_next_purchase",
                "run_id",
            )
        )
        written = 0
        with atomic_output(output) as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for row in rows.iterator(chunk_size=5000):
                ext, stage, tier, segment, p, churn, revenue, clv, median, run_id = row
                # revenue and CLV are empty (unknown) when the purchase log has no amounts; the next order's
                # date is empty when it is not expected within a year
                # text cells (ids and codes come from the brand's files and staff) never run as a formula in
                # Excel or WPS (CSV injection); numbers are formatted here and stay numbers
                writer.writerow(
                    [
                        safe(ext),
                        safe(stage),
                        safe(tier),
                        safe(segment),
                        f"{p:.6f}",
                        f"{churn:.6f}",
                        "" if revenue is None else revenue,
                        "" if clv is None else clv,
                        "" if median is None else f"{median:g}",
                        "" if median is None else (run.as_of + timedelta(days=int(median))).isoformat(),
                        run_id,
                    ]
                )
                written += 1
        self.stdout.write(
            self.style.SUCCESS(
                _("Wrote %(n)d customers from run %(run)s to %(path)s.")
                % {"n": written, "run": run.pk, "path": output}
            )
        )
