from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _schedules_for_brand(sender, brand, created, **kwargs):
    """A new brand (the demo's too) gets its periodic tasks: the nightly refresh, and the shared senders."""
    if created:
        from apps.analytics.schedules import periodic_tasks_sync

        periodic_tasks_sync()


def _dashboard_snapshot_forget(sender, brand, **kwargs):
    """An order import created or changed orders: the brand's dashboard snapshot is recomputed when next read
    (in the import's transaction: a rolled-back import keeps it)."""
    from apps.analytics.snapshots import snapshot_forget

    snapshot_forget(brand=brand)


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self):
        from apps.brands.signals import brand_saved

        brand_saved.connect(_schedules_for_brand, dispatch_uid="analytics_schedules_for_brand")

        from apps.orders.signals import orders_changed

        orders_changed.connect(_dashboard_snapshot_forget, dispatch_uid="analytics_dashboard_snapshot_forget")

        from apps.customers.signals import customer_erased

        # the snapshot's at-risk list keeps external ids: an erased customer's old id must not stay there
        customer_erased.connect(_dashboard_snapshot_forget, dispatch_uid="analytics_snapshot_forget_erased")
