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


def brand_field(*, constraint: bool = True) -> models.ForeignKey:
    """The brand column of a brand-owned table.

    Tables whose rows hang off a parent row (an order off a customer, an item off an order) pass
    constraint=False: their brand is enforced by composite foreign keys (brand_id, parent_id) → parent
    (brand_id, id), added in migrations by apps.core.migration_ops.AddSameBrandForeignKey. Those keys make a
    cross-brand link impossible in PostgreSQL and let every check use an index that starts with brand_id.
    """
    return models.ForeignKey(
        "brands.Brand",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("brand"),
        db_index=False,
        db_constraint=constraint,
    )


def same_brand_fk(to, **kwargs) -> models.ForeignKey:
    """A foreign key to another brand-owned model, enforced in PostgreSQL as a composite same-brand key.

    The single-column constraint and index Django would create are left out; the migration that adds the
    field must also run AddSameBrandForeignKey for it (tests/core checks that every such field has one).
    """
    kwargs.setdefault("db_index", False)
    return models.ForeignKey(to, db_constraint=False, **kwargs)


class BrandOwnedModel(TimeStampedModel):
    """Every brand-owned table has a non-null brand; its indexes start with brand."""

    brand = brand_field()

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
