from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles(sender, **kwargs):
    from apps.brands.services import roles_sync

    roles_sync()


class BrandsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.brands"
    label = "brands"
    verbose_name = _("Brands")

    def ready(self):
        # Role groups must exist with the right permissions after every migrate (idempotent).
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="brands_roles_sync")
