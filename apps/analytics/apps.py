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


def _dashboard_snapshot_forget_orders(sender, brand, in_place=True, **kwargs):
    """Orders changed in place: the snapshot's data version cannot see it. New orders alone move it (and the
    snapshot stands while fresh: snapshots.FRESH_SECONDS)."""
    if in_place:
        _dashboard_snapshot_forget(sender, brand)


def _reads_forget(sender, brand, **kwargs):
    """Orders, views or a customer's personal data changed: the brand's cached reads are stale."""
    from apps.analytics.readcache import reads_forget

    reads_forget(brand_id=brand.pk)


def _reads_forget_orders(sender, brand, in_place=True, **kwargs):
    """Orders changed in place (a refund, say): the brand's cached reads are stale. New orders alone are not
    announced: they move the data version the cache's keys read, and reads computed at most
    snapshots.FRESH_SECONDS before stand (readcache.py)."""
    if in_place:
        _reads_forget(sender, brand)


def _reads_forget_published(sender, run, **kwargs):
    from apps.analytics.readcache import reads_forget

    reads_forget(brand_id=run.brand_id)


def _reads_forget_saved(sender, instance, **kwargs):
    """A tier or a stream was saved or deleted: reads show their names (the API's response cache keeps
    whole responses)."""
    from apps.analytics.readcache import reads_forget

    reads_forget(brand_id=instance.brand_id)


def _reads_forget_customer(sender, instance, **kwargs):
    from apps.analytics.readcache import reads_forget

    reads_forget(brand_id=instance.brand_id)


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self):
        from apps.brands.signals import brand_saved

        brand_saved.connect(_schedules_for_brand, dispatch_uid="analytics_schedules_for_brand")

        from apps.orders.signals import orders_changed

        orders_changed.connect(
            _dashboard_snapshot_forget_orders, dispatch_uid="analytics_dashboard_snapshot_forget"
        )

        from apps.customers.signals import customer_erased

        # the snapshot's at-risk list keeps external ids: an erased customer's old id must not stay there
        customer_erased.connect(_dashboard_snapshot_forget, dispatch_uid="analytics_snapshot_forget_erased")

        self._read_cache_connect()

    def _read_cache_connect(self):
        """The read cache (readcache.py): its keys see the published run and new orders by themselves; these
        receivers move the brand's generation for what they cannot see (orders updated in place, views,
        erasures, customers edited by hand), and root customer lists count through it."""
        from django.db.models.signals import post_delete, post_save

        from apps.analytics.graphql.counts import list_count
        from apps.analytics.signals import scores_published
        from apps.core.graphql import relay
        from apps.customers.models import Customer
        from apps.customers.signals import customer_erased, customers_changed
        from apps.loyalty.models import Tier
        from apps.orders.signals import orders_changed
        from apps.streams.models import Stream
        from apps.streams.signals import streams_ended

        relay.count_reader = list_count
        for signal, receiver, uid in (
            (orders_changed, _reads_forget_orders, "orders"),
            (customer_erased, _reads_forget, "erased"),
            (customers_changed, _reads_forget, "customers"),
            (streams_ended, _reads_forget, "streams"),
            (scores_published, _reads_forget_published, "published"),
        ):
            signal.connect(receiver, dispatch_uid=f"analytics_reads_forget_{uid}")
        post_save.connect(
            _reads_forget_customer, sender=Customer, dispatch_uid="analytics_reads_customer_saved"
        )
        post_delete.connect(
            _reads_forget_customer, sender=Customer, dispatch_uid="analytics_reads_customer_deleted"
        )
        for model in (Tier, Stream):
            name = model._meta.model_name
            post_save.connect(_reads_forget_saved, sender=model, dispatch_uid=f"analytics_reads_{name}_saved")
            post_delete.connect(
                _reads_forget_saved, sender=model, dispatch_uid=f"analytics_reads_{name}_deleted"
            )
