from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _schedules_for_brand(sender, brand, created, **kwargs):
    """A new brand (the demo's too) gets its periodic tasks: the nightly refresh, and the shared senders."""
    if created:
        from apps.analytics.schedules import periodic_tasks_sync

        periodic_tasks_sync()


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self):
        from apps.brands.signals import brand_saved

        brand_saved.connect(_schedules_for_brand, dispatch_uid="analytics_schedules_for_brand")
