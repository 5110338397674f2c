from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.analytics.schedules import periodic_tasks_sync
from apps.core.commands import Command as ProjectCommand


class Command(ProjectCommand):
    help = gettext_lazy(
        "Create the periodic tasks that are missing: the nightly score refresh per brand, and sending due "
        "follow-up touches and attributing conversions for every brand."
    )

    def handle(self, *args, **options):
        counts = periodic_tasks_sync()
        self.stdout.write(_("Periodic tasks: %(created)d created, %(updated)d updated.") % counts)
