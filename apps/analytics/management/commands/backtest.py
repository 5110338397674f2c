"""python manage.py backtest --brand SLUG --as-of YYYY-MM-DD [--horizon-days N] [--format table|json]"""

import json
from datetime import date

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rich.console import Console
from rich.table import Table

from apps.analytics.evaluation import reason_text
from apps.analytics.models import Estimator, RunStatus
from apps.analytics.selectors import STAGE_ORDER
from apps.analytics.services import backtest_run
from apps.brands.models import Brand
from apps.core.commands import Command as ProjectCommand

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
    ("classic", gettext_lazy("Classic (BG/NBD + Gamma-Gamma)")),
]
# --format json: stored metric key -> JSON key (the six every consumer relies on, then the rest)
JSON_KEYS = {
    "auc_horizon": "auc",
    "harrell_c": "harrell_c",
    "top_decile_revenue_capture": "top_decile_capture",
    "revenue_error": "revenue_error",
    "brier_horizon": "brier",
    "ece_horizon": "ece",
    "uno_c": "uno_c",
    "integrated_brier": "integrated_brier",
    "td_auc": "time_dependent_auc",
    "spearman_purchases": "spearman_purchases",
    "mae_purchases": "mae_purchases",
    "purchases_error": "purchases_error",
    "purchases_actual": "purchases_actual",
    "purchases_forecast": "purchases_forecast",
    "revenue_actual": "revenue_actual",
    "revenue_forecast": "revenue_forecast",
    "customers": "customers",
    "buyers_in_horizon": "buyers_in_horizon",
}
JSON_BASELINES = {"naive_rfm": "naive_rfm", "kaplan_meier_by_stage": "kaplan_meier", "classic": "classic"}


class Command(ProjectCommand):
    help = gettext_lazy(
        "Fit as of a past date and compare the predictions with what happened in the following days, beside "
        "a naive RFM and a per-stage Kaplan-Meier baseline. The result is printed and stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument("--as-of", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--horizon-days", type=int, default=90)
        parser.add_argument("--estimator", choices=[e.value for e in Estimator])
        parser.add_argument(
            "--format",
            choices=["table", "json"],
            default="table",
            help=gettext_lazy("table (default) or one JSON object on standard output"),
        )

    def handle(self, *args, brand, as_of, horizon_days, estimator, format, **options):  # noqa: A002
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
        if format == "json":
            self.stdout.write(json.dumps(backtest_json(run), ensure_ascii=False, default=str))
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(
                _("Backtest %(id)s %(status)s: %(message)s")
                % {"id": run.pk, "status": run.get_status_display(), "message": run.message}
            )
        if format == "json":
            return
        console = Console(file=self.stdout, width=130, color_system=None)
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
            table.add_row(str(label), *[_cell(overall.get(m) or {}, key) for m, _label in MODELS])
        console.print(table)
        notes = sorted(
            {
                f"{label}: {reason_text(code)}"
                for m, label in MODELS
                for code in {(overall.get(m) or {}).get("reasons", {}).get(key) for key, _l, _b in ROWS}
                - {None}
            }
        )
        for note in notes:
            console.print(f"– {note}")
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


def _cell(figures: dict, key: str) -> str:
    """A metric, or a dash (the reason is printed under the table)."""
    return _fmt(figures.get(key))


def _figures(stored: dict | None) -> dict:
    """One model's stored metrics in the JSON's names; an absent metric is null with a reason."""
    stored = stored or {}
    codes = stored.get("reasons") or {}
    out = {name: stored.get(key) for key, name in JSON_KEYS.items()}
    out["reasons"] = {JSON_KEYS[k]: reason_text(code) for k, code in codes.items() if k in JSON_KEYS}
    out["reason_codes"] = {JSON_KEYS[k]: code for k, code in codes.items() if k in JSON_KEYS}
    if stored.get("available") is False:
        out["available"] = False
    return out


def backtest_json(run) -> dict:
    """The backtest as one JSON object: {"model": {...}, "baselines": {"naive_rfm", "kaplan_meier",
    "classic"}, ...}, each with auc, harrell_c, top_decile_capture, revenue_error, brier and ece (null with a
    `reasons` entry when it cannot be computed), and what else the run recorded."""
    metrics = run.metrics or {}
    overall = metrics.get("overall") or {}
    by_stage = {
        stage: {
            "model": _figures(group.get("model")),
            **{JSON_BASELINES[k]: _figures(group.get(k)) for k in JSON_BASELINES if k in group},
        }
        for stage, group in metrics.items()
        if stage in STAGE_ORDER and isinstance(group, dict)
    }
    return {
        "run_id": run.pk,
        "brand": run.brand.slug,
        "status": run.status,
        "message": run.message,
        "as_of": run.as_of.isoformat(),
        "horizon_days": run.horizon_days,
        "customers_judged": metrics.get("customers_judged"),
        "amounts_known": metrics.get("amounts_known"),
        "model": _figures(overall.get("model")),
        "baselines": {name: _figures(overall.get(key)) for key, name in JSON_BASELINES.items()},
        "by_stage": by_stage,
        "model_engine": metrics.get("model_engine", "survival"),
        "recalibration": metrics.get("calibration_learned_before"),
        "next_order_date": metrics.get("next_order"),
        "data_sufficiency": run.data_sufficiency,
    }
