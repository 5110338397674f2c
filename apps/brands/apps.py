from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles(sender, app_config=None, using="default", apps=None, **kwargs):
    """post_migrate runs per app in INSTALLED_APPS order, so permissions of apps after this one may not
    exist yet: create them all first, then sync the role groups."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from apps.brands.services import roles_sync

    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    roles_sync()


class BrandsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.brands"
    label = "brands"
    verbose_name = _("Brands")

    def ready(self):
        # Role groups must exist with the right permissions after every migrate (idempotent).
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="brands_roles_sync")
