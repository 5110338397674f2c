from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rich.console import Console
from rich.table import Table

from apps.analytics.models import Estimator, RunStatus
from apps.analytics.services import backtest_run
from apps.brands.models import Brand

ROWS = [
    ("auc_horizon", gettext_lazy("AUC of buying again within the horizon"), "high"),
    ("harrell_c", gettext_lazy("Harrell's C-index"), "high"),
    ("top_decile_revenue_capture", gettext_lazy("Top-decile revenue capture"), "high"),
    ("revenue_error", gettext_lazy("Total revenue forecast error"), "zero"),
    ("brier_horizon", gettext_lazy("Brier score"), "low"),
    ("ece_horizon", gettext_lazy("Expected calibration error"), "low"),
]
MODELS = [
    ("model", gettext_lazy("Model")),
    ("naive_rfm", gettext_lazy("Naive RFM")),
    ("kaplan_meier_by_stage", gettext_lazy("Kaplan-Meier by stage")),
]


class Command(BaseCommand):
    help = gettext_lazy(
        "Fit as of a past date and compare the predictions with what happened in the following days, beside "
        "a naive RFM and a per-stage Kaplan-Meier baseline. The result is printed and stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument("--as-of", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--horizon-days", type=int, default=90)
        parser.add_argument("--estimator", choices=[e.value for e in Estimator])

    def handle(self, *args, brand, as_of, horizon_days, estimator, **options):
        try:
            brand_obj = Brand.objects.get(slug=brand)
        except Brand.DoesNotExist:
            raise CommandError(_("Unknown brand: %(slug)s") % {"slug": brand}) from None
        if not 7 <= horizon_days <= 365:
            raise CommandError(_("--horizon-days must be between 7 and 365."))
        try:
            run = backtest_run(
                brand=brand_obj,
                as_of=as_of,
                horizon_days=horizon_days,
                estimator=estimator,
                triggered_by="command",
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(
                _("Backtest %(id)s %(status)s: %(message)s")
                % {"id": run.pk, "status": run.get_status_display(), "message": run.message}
            )
        console = Console(file=self.stdout, width=110, color_system=None)
        overall = run.metrics["overall"]
        table = Table(
            title=_("Backtest %(id)s: %(brand)s, as of %(as_of)s, next %(days)d days, %(n)d customers")
            % {
                "id": run.pk,
                "brand": brand_obj.slug,
                "as_of": as_of,
                "days": horizon_days,
                "n": overall["model"]["customers"],
            }
        )
        table.add_column(_("Metric"))
        for _key, label in MODELS:
            table.add_column(str(label), justify="right")
        for key, label, _better in ROWS:
            table.add_row(str(label), *[_fmt(overall[m].get(key)) for m, _label in MODELS])
        console.print(table)
        reliability = Table(title=_("Calibration of the model: predicted vs observed, by bin"))
        for column in (_("Predicted"), _("Customers"), _("Mean predicted"), _("Observed")):
            reliability.add_column(column, justify="right")
        for row in overall["model"].get("reliability", []):
            reliability.add_row(
                f"{row['lower']:.1f}–{row['upper']:.1f}",
                str(row["count"]),
                _fmt(row["mean_predicted"]),
                _fmt(row["observed_rate"]),
            )
        console.print(reliability)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"
