from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.commands import Command as ProjectCommand
from apps.engagement.management.commands._common import brand_of, moment
from apps.engagement.models import Reason
from apps.engagement.planning import PlanError, followups_plan
from apps.engagement.tasks import sends_schedule
from apps.streams.models import Stream


class Command(ProjectCommand):
    help = gettext_lazy(
        "Plan the follow-up touches of a live stream that ended: every active stream-end rule, with the guards "
        "(consent, quiet hours, caps, WeCom limits, the holdout). Planning again adds only customers not yet planned."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument("--stream", required=True, help=gettext_lazy("the live stream's external id"))
        parser.add_argument(
            "--now",
            help=gettext_lazy("plan as if it were this time (ISO 8601; without an offset, the brand's time)"),
        )

    def handle(self, *args, brand, stream, now, **options):
        brand_obj = brand_of(brand)
        when = moment(now, brand_obj.tzinfo)
        try:
            stream_obj = Stream.objects.get(brand=brand_obj, external_id=stream)
        except Stream.DoesNotExist:
            raise CommandError(
                _("Brand %(brand)s has no live stream %(stream)s.") % {"brand": brand, "stream": stream}
            ) from None
        try:
            result = followups_plan(brand=brand_obj, stream=stream_obj, now=when)
        except PlanError as exc:
            raise CommandError(str(exc)) from None
        sends_schedule(brand=brand_obj, times=result.send_times)
        labels = dict(Reason.choices)
        self.stdout.write(
            _("%(stream)s: %(audience)d customers watched or bought; %(written)d touch rows written.")
            % {"stream": stream, "audience": result.audience, "written": result.written}
        )
        for rule in result.rules:
            self.stdout.write(
                _("  %(rule)s: %(eligible)d eligible, %(planned)d planned")
                % {"rule": _(rule.name), "eligible": rule.eligible, "planned": rule.planned}
            )
            for code, count in sorted(rule.reasons.items(), key=lambda item: -item[1]):
                self.stdout.write(f"    {labels.get(code, code)}: {count}")
        if not result.rules:
            self.stdout.write(self.style.WARNING(_("The brand has no active stream-end follow-up rule.")))
