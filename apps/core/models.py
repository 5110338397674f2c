"""Base models shared by every brand-owned table."""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
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

    def clean(self):
        """Reject a foreign key to another brand's row: every related brand-owned row shares our brand.

        Errors are non-field errors naming the field, so a form that leaves the field out (read-only,
        inline parent) still shows them instead of failing.
        """
        super().clean()
        if self.brand_id is None:
            return
        errors = []
        for field in self._meta.concrete_fields:
            if not field.many_to_one or field.name == "brand":
                continue
            related_model = field.related_model
            if not (isinstance(related_model, type) and issubclass(related_model, BrandOwnedModel)):
                continue
            value = getattr(self, field.attname)
            if value is None:
                continue
            if field.is_cached(self):
                related_brand_id = field.get_cached_value(self).brand_id
            else:
                related_brand_id = (
                    related_model._base_manager.filter(pk=value).values_list("brand_id", flat=True).first()
                )
            if related_brand_id is not None and related_brand_id != self.brand_id:
                errors.append(
                    ValidationError(
                        _(
                            "The selected %(field)s belongs to another brand. "
                            "Choose a %(field)s of the same brand as this %(model)s."
                        ),
                        code="cross_brand",
                        params={"field": field.verbose_name, "model": self._meta.verbose_name},
                    )
                )
        if errors:
            raise ValidationError({NON_FIELD_ERRORS: errors})
