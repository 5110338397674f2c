from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from tqdm import tqdm

from apps.analytics.local_workers import local_chunking
from apps.analytics.models import Estimator, ModelRun, RunStatus
from apps.analytics.runs import phase_label
from apps.analytics.services import RefreshSkipped, scores_refresh
from apps.brands.models import Brand
from apps.core.commands import Command as ProjectCommand

# Exit codes, so cron and scripts can tell the outcomes apart.
EXIT_PUBLISHED = 0
EXIT_FAILED = 1  # the run failed (its message says why); also a bad argument
EXIT_TOO_LITTLE_DATA = 3  # the run was skipped: too little history to score anything yet
EXIT_LOCKED = 75  # EX_TEMPFAIL: another refresh of the brand is running; nothing was done, try again later


class Command(ProjectCommand):
    help = gettext_lazy(
        "Fit the churn models, score every customer of a brand and publish the scores. Exit status: 0 published, "
        "1 failed, 3 skipped for too little data, 75 skipped because another refresh of the brand is running."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument(
            "--as-of", type=date.fromisoformat, help=gettext_lazy("YYYY-MM-DD; today if omitted")
        )
        parser.add_argument(
            "--horizon-days", type=int, help=gettext_lazy("prediction horizon; brand setting if omitted")
        )
        parser.add_argument("--estimator", choices=[e.value for e in Estimator])
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help=gettext_lazy(
                "score in this many processes of this machine (default: one per core for a brand of 100,000 "
                "customers or more, one per 50,000; 1: in this process); the scores are the same"
            ),
        )

    def handle(self, *args, brand, as_of, horizon_days, estimator, processes=None, **options):
        try:
            brand_obj = Brand.objects.get(slug=brand)
        except Brand.DoesNotExist:
            raise CommandError(_("Unknown brand: %(slug)s") % {"slug": brand}) from None
        if horizon_days is not None and not 7 <= horizon_days <= 365:
            raise CommandError(_("--horizon-days must be between 7 and 365."))
        today = timezone.now().astimezone(brand_obj.tzinfo).date()
        if as_of is not None and as_of > today:
            # scores as of a day to come would be published as the brand's current ones
            raise CommandError(
                _("--as-of %(as_of)s is in the future (today is %(today)s in the brand's time zone).")
                % {"as_of": as_of.isoformat(), "today": today.isoformat()}
            )
        if processes is not None and not 1 <= processes <= 64:
            raise CommandError(_("--processes must be between 1 and 64."))
        phases = [
            "holdout: fit",
            "holdout: predict",
            "holdout: metrics",
            "fit",
            "rfm",
            "features: customers",
            "predict",
            "write scores",
            "prospects",
            "publish",
        ]
        bar = tqdm(total=len(phases), unit=_("step"), file=self.stderr, disable=None, leave=False)

        def progress(phase: str) -> None:
            bar.set_description(phase)
            bar.update(1)

        try:
            run = scores_refresh(
                brand=brand_obj,
                as_of=as_of,
                horizon_days=horizon_days,
                estimator=estimator,
                triggered_by="command",
                progress=progress,
                **local_chunking(brand_obj, processes),
            )
        except RefreshSkipped as exc:
            raise CommandError(str(exc), returncode=EXIT_LOCKED) from None
        except Exception as exc:  # the run is marked failed with the reason; no traceback for the user
            failed = ModelRun.objects.filter(brand=brand_obj).order_by("-pk").first()
            where = _("run %(id)s") % {"id": failed.pk} if failed is not None else brand
            raise CommandError(
                _("The refresh failed (%(where)s): %(error)s")
                % {"where": where, "error": type(exc).__name__},
                returncode=EXIT_FAILED,
            ) from None
        finally:
            bar.close()
        for phase, seconds in run.timings.items():  # named as the run's page names them, in the language
            self.stdout.write(f"  {phase_label(phase):<24} {seconds:8.2f} s")
        if run.status == RunStatus.PUBLISHED:
            overall = run.metrics.get("overall", {}).get("model", {})
            self.stdout.write(
                self.style.SUCCESS(
                    _("Run %(id)s published: %(n)d customers scored as of %(as_of)s (holdout C-index %(c)s).")
                    % {
                        "id": run.pk,
                        "n": run.customers_scored,
                        "as_of": run.as_of,
                        "c": _("not computable")
                        if overall.get("harrell_c") is None
                        else f"{overall['harrell_c']:.3f}",
                    }
                )
            )
        else:
            message = _("Run %(id)s %(status)s: %(message)s") % {
                "id": run.pk,
                "status": run.get_status_display(),
                "message": run.message,
            }
            code = EXIT_TOO_LITTLE_DATA if run.status == RunStatus.SKIPPED else EXIT_FAILED
            raise CommandError(message, returncode=code)
