"""Base models shared by every brand-owned table."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class BrandScopedQuerySet(models.QuerySet):
    def for_brands(self, brand_ids):
        return self.filter(brand_id__in=brand_ids)

    def for_user(self, user):
        """Rows of the brands this user belongs to; everything for superusers; nothing for anonymous."""
        from apps.core.scoping import brand_ids_for_user

        ids = brand_ids_for_user(user)
        if ids is None:
            return self
        return self.filter(brand_id__in=ids)


class BrandOwnedModel(TimeStampedModel):
    """Every brand-owned table has a non-null brand; its indexes start with brand."""

    brand = models.ForeignKey(
        "brands.Brand", on_delete=models.CASCADE, related_name="+", verbose_name=_("brand"), db_index=False
    )

    objects = BrandScopedQuerySet.as_manager()

    class Meta:
        abstract = True
