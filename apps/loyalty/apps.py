from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _defaults_for_brand(sender, brand, created, **kwargs):
    """Every brand saved through brands.services.brand_create gets the default tiers and benefits it lacks."""
    from apps.loyalty.services import loyalty_defaults_ensure

    loyalty_defaults_ensure(brand=brand)


class LoyaltyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.loyalty"
    label = "loyalty"
    verbose_name = _("Tiers and benefits")

    def ready(self):
        from apps.brands.signals import brand_saved

        brand_saved.connect(_defaults_for_brand, dispatch_uid="loyalty_defaults_for_brand")
