import json

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rich.console import Console
from rich.table import Table

from apps.core.commands import Command as ProjectCommand
from apps.engagement.experiments import experiment_results
from apps.engagement.management.commands._common import brand_of
from apps.engagement.models import Experiment, Metric


def _fmt(value, percent: bool = False) -> str:
    if value is None:
        return "—"
    if percent:
        return f"{value * 100:.2f}%"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Command(ProjectCommand):
    help = gettext_lazy(
        "Show an experiment's results: per arm the customers, conversions and rate; per variant against control "
        "the difference with its interval and p-value, the CUPED/CUPAC-adjusted difference, time to repurchase "
        "(RMST, log-rank, hazard ratio); the sample-ratio check and warnings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument("--experiment", required=True, help=gettext_lazy("code of the experiment"))
        parser.add_argument(
            "--format",
            choices=["table", "json"],
            default="table",
            help=gettext_lazy("table (default) or json"),
        )

    def handle(self, *args, brand, experiment, format, **options):
        brand_obj = brand_of(brand)
        found = Experiment.objects.filter(brand=brand_obj, code=experiment).first()
        if found is None:
            known = (
                ", ".join(Experiment.objects.filter(brand=brand_obj).values_list("code", flat=True)) or "—"
            )
            raise CommandError(
                _("Brand %(brand)s has no experiment %(code)s (it has: %(known)s).")
                % {"brand": brand, "code": experiment, "known": known}
            )
        results = experiment_results(experiment=found, at=timezone.now())
        if format == "json":
            self.stdout.write(json.dumps(results, ensure_ascii=False, indent=2))
            return
        console = Console(file=self.stdout, width=140)
        console.print(
            f"[bold]{found.code}[/bold] {found.name} · {found.get_status_display()} · {results['as_of']}"
        )
        arms = Table(title=_("Arms"))
        for head in (
            _("arm"),
            _("customers"),
            _("exposed"),
            _("conversions"),
            _("conversion rate"),
            _("revenue per customer"),
        ):
            arms.add_column(head)
        for code, arm in results["arms"].items():
            arms.add_row(
                code + (" *" if arm["is_control"] else ""),
                str(arm["n"]),
                str(arm["exposed"]),
                str(arm["conversions"]),
                _fmt(arm["conversion_rate"], percent=True),
                _fmt(arm["revenue_per_customer"]),
            )
        console.print(arms)
        metric = dict(Metric.choices).get(results["primary_metric"], results["primary_metric"])
        variants = Table(title=_("Against control (%(metric)s)") % {"metric": metric})
        heads = [
            _("variant"),
            _("difference"),
            _("interval (95%)"),
            _("p"),
            _("p adjusted"),
            _("interval for daily looks"),
            _("CUPED difference"),
            _("variance reduction"),
            _("RMST diff 30 d"),
            _("log-rank p"),
            _("hazard ratio"),
        ]
        for head in heads:
            variants.add_column(head)
        for code, v in results["variants"].items():
            variants.add_row(
                code,
                _fmt(v["diff"]),
                f"[{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}]",
                _fmt(v["p_value"]),
                _fmt(v.get("p_value_adjusted")),
                f"[{_fmt(v.get('sequential_ci_low'))}, {_fmt(v.get('sequential_ci_high'))}]",
                f"{_fmt(v['cuped_diff'])} [{_fmt(v['cuped_ci_low'])}, {_fmt(v['cuped_ci_high'])}]",
                _fmt(v["variance_reduction"], percent=True),
                _fmt(v["rmst_diff_30"]),
                _fmt(v["logrank_p"]),
                _fmt(v["hazard_ratio"]),
            )
        console.print(variants)
        console.print(_("Sample-ratio check p = %(p)s") % {"p": _fmt(results["srm_p"])})
        for warning in results["warnings"]:
            console.print(f"[yellow]! {warning['message']}[/yellow]")
        for key, reason in results["unavailable"].items():
            console.print(f"[dim]{key}: {reason}[/dim]")
