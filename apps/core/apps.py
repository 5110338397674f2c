from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self):
        from django.contrib import admin
        from django.urls import reverse_lazy

        # The admin is the product's web app for brand staff: its own name, and "View site" opens the
        # brand dashboard (there is no public site).
        admin.site.site_header = _("Live-commerce customer value")
        admin.site.site_title = _("Live-commerce customer value")
        admin.site.index_title = _("Brand operations")
        admin.site.site_url = reverse_lazy("clv_dashboard")
