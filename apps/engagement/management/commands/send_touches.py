from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.commands import Command as ProjectCommand
from apps.engagement.attribution import touches_attribute
from apps.engagement.management.commands._common import brand_of, moment
from apps.engagement.sending import touches_send_due


class Command(ProjectCommand):
    help = gettext_lazy(
        "Send the touches that are due (every guard checked again), then attribute conversions. What the "
        "every-minute schedule does; for the demo and for operators."
    )

    def add_arguments(self, parser):
        parser.add_argument("--brand", help=gettext_lazy("slug of the brand (default: every brand)"))
        parser.add_argument("--now", help=gettext_lazy("send what is due at this time (ISO 8601)"))

    def handle(self, *args, brand, now, **options):
        brand_obj = brand_of(brand) if brand else None
        when = moment(now, brand_obj.tzinfo if brand_obj else timezone.get_default_timezone())
        result = touches_send_due(brand=brand_obj, now=when)
        self.stdout.write(
            _(
                "%(claimed)d due: %(sent)d sent, %(failed)d failed, %(rescheduled)d moved out of quiet hours, %(suppressed)d suppressed."
            )
            % {
                "claimed": result.claimed,
                "sent": result.sent,
                "failed": result.failed,
                "rescheduled": result.rescheduled,
                "suppressed": sum(result.suppressed.values()),
            }
        )
        if brand_obj is not None:
            converted = touches_attribute(brand=brand_obj, now=when)
            self.stdout.write(_("%(count)d touches converted.") % {"count": converted})
