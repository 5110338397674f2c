"""python manage.py seed_demo [--customers N] [--seed S] [--brand SLUG] [--end YYYY-MM-DD] [--score]
[--world live|classic] [--process bgnbd|pareto_nbd] [--no-amounts]"""

from datetime import date

from django.apps import apps as django_apps
from django.core.management.base import CommandError
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.brands.models import Brand
from apps.core.commands import Command as ProjectCommand
from apps.demo.classic_world import ClassicWorldParams
from apps.demo.experiments import demo_experiments
from apps.demo.followups import FOLLOWUP_DAYS, demo_followups
from apps.demo.services import (
    DEMO_FOLLOW_UP_DAYS,
    DEMO_SLUG,
    NotADemoBrand,
    demo_scores_refresh,
    demo_seed,
    demo_statistics_refresh,
)


class Command(ProjectCommand):
    help = gettext_lazy(
        "Build a realistic demo live-commerce brand with known survival truths (replaces earlier demo data)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", type=int, default=5000, help=gettext_lazy("Number of customers (default 5000).")
        )
        parser.add_argument("--seed", type=int, default=42, help=gettext_lazy("Random seed (default 42)."))
        parser.add_argument("--brand", default=DEMO_SLUG, help=gettext_lazy("Brand slug (default 'demo')."))
        parser.add_argument("--name", default=None, help=gettext_lazy("Brand name for a new brand."))
        parser.add_argument(
            "--end",
            type=date.fromisoformat,
            default=None,
            help=gettext_lazy("Last day (exclusive, brand time); default today."),
        )
        parser.add_argument(
            "--world",
            choices=["live", "classic"],
            default="live",
            help=gettext_lazy(
                "live: the live-commerce brand with streams and communities (default); classic: purchases only, "
                "drawn from a BG/NBD or Pareto/NBD process with one acquisition cohort, mostly one-time buyers "
                "and same-day repeat orders."
            ),
        )
        parser.add_argument(
            "--process",
            choices=["bgnbd", "pareto_nbd"],
            default="bgnbd",
            help=gettext_lazy("The classic world's purchase process."),
        )
        parser.add_argument(
            "--no-amounts",
            action="store_true",
            help=gettext_lazy("The classic world's orders have no amounts (all 0)."),
        )
        parser.add_argument(
            "--no-followups",
            action="store_true",
            help=format_lazy(
                gettext_lazy(
                    "Skip the follow-ups of the last {days} days (planned, sent and played out with a known effect)."
                ),
                days=FOLLOWUP_DAYS,
            ),
        )
        parser.add_argument(
            "--score",
            action="store_true",
            help=format_lazy(
                gettext_lazy(
                    "Then publish scores as of {days} days before the last day and as of the last day."
                ),
                days=DEMO_FOLLOW_UP_DAYS,
            ),
        )

    def handle(
        self,
        *args,
        customers,
        seed,
        brand,
        name,
        end,
        score,
        world,
        process,
        no_amounts,
        no_followups,
        **options,
    ):
        if customers < 1:
            raise CommandError(_("--customers must be at least 1."))
        classic = None
        if world == "classic":
            classic = ClassicWorldParams(process=process, amounts=not no_amounts)
        elif no_amounts or process != "bgnbd":
            raise CommandError(_("--process and --no-amounts are options of --world classic."))
        try:
            summary = demo_seed(
                slug=brand, customers=customers, seed=seed, end_date=end, name=name, classic=classic
            )
        except NotADemoBrand as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            _("Demo brand %(slug)s: %(n)d customers, seed %(seed)d, %(start)s to %(end)s.")
            % {
                "slug": summary.slug,
                "n": summary.n_customers,
                "seed": summary.seed,
                "start": summary.start.date().isoformat(),
                "end": summary.end.date().isoformat(),
            }
        )
        for label, count in summary.rows.items():  # "streams.Stream" → the model's name in the language
            table = django_apps.get_model(label)._meta.verbose_name_plural
            self.stdout.write(_("  %(table)s: %(count)d rows") % {"table": table, "count": count})
        total = sum(summary.seconds.values())
        self.stdout.write(self.style.SUCCESS(_("Done in %(seconds).1f s.") % {"seconds": total}))
        if world == "live" and not no_followups:
            played = demo_followups(brand=Brand.objects.get(pk=summary.brand_id), end=summary.end, seed=seed)
            self.stdout.write(
                _(
                    "Follow-ups of %(streams)d streams: %(sent)d touches sent, %(extra)d orders they caused "
                    "(true uplift %(uplift)s)."
                )
                % {
                    "streams": played["streams"],
                    "sent": played["touches_sent"],
                    "extra": played["extra_orders"],
                    "uplift": "—" if played["true_uplift"] is None else f"{played['true_uplift']:.3f}",
                }
            )
        if score:
            brand_obj = Brand.objects.get(pk=summary.brand_id)
            between = None
            if world == "live" and not no_followups:

                def between(first_run):
                    if first_run.status != "published":
                        return
                    played = demo_experiments(
                        brand=brand_obj, first_as_of=first_run.as_of, end=summary.end, seed=seed
                    )
                    coupon = played["demo-coupon"]
                    self.stdout.write(
                        _(
                            "Experiments demo-coupon (finished: %(n)d customers in the coupon arm, %(extra)d orders "
                            "the coupon caused, true effect on conversion %(effect)s) and demo-aa (running)."
                        )
                        % {
                            "n": coupon["variant_n"],
                            "extra": coupon["extra_orders"],
                            "effect": "—"
                            if coupon["true_effect"] is None
                            else f"{coupon['true_effect']:.3f}",
                        }
                    )

            for run in demo_scores_refresh(brand=brand_obj, end=summary.end, between=between):
                self.stdout.write(
                    _("Run %(id)s as of %(as_of)s: %(status)s, %(n)d customers scored.")
                    % {
                        "id": run.pk,
                        "as_of": run.as_of,
                        "status": run.get_status_display(),
                        "n": run.customers_scored,
                    }
                )
        if score or (world == "live" and not no_followups):
            seconds = demo_statistics_refresh()
            self.stdout.write(_("Planner statistics refreshed in %(seconds).1f s.") % {"seconds": seconds})
