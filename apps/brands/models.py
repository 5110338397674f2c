"""Brand is the tenant; staff reach brands through memberships with a role."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import TimeStampedModel


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": value}) from exc


currency_validator = RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code such as CNY."))


class ErasedCustomerRows(models.TextChoices):
    """What imports do with a row of a customer whose personal data was erased (docs/privacy.md)."""

    ANONYMOUS = "anonymous", _("Keep them anonymous, on the erased customer")
    REFUSE = "refuse", _("Refuse them: each such row is an error of its line")


class Brand(TimeStampedModel):
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_timezone]
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY", validators=[currency_validator])
    erased_customer_rows = models.CharField(
        _("rows of erased customers in imports"),
        max_length=16,
        choices=ErasedCustomerRows.choices,
        default=ErasedCustomerRows.ANONYMOUS,
        db_default=ErasedCustomerRows.ANONYMOUS.value,
        help_text=_(
            "A re-imported file may still hold customers whose personal data was erased (their external id "
            "is recognised by a keyed hash). Kept anonymous, their orders, views, memberships and redemptions "
            "go to the erased customer and no personal field is written; refused, each such row is an error."
        ),
    )

    class Meta:
        verbose_name = _("brand")
        verbose_name_plural = _("brands")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="brand_currency_iso"
            ),
            models.CheckConstraint(
                condition=models.Q(erased_customer_rows__in=["anonymous", "refuse"]),
                name="brand_erased_customer_rows_valid",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Role(models.TextChoices):
    VIEWER = "viewer", _("Viewer")
    ANALYST = "analyst", _("Analyst")
    MANAGER = "manager", _("Manager")


class Membership(TimeStampedModel):
    """A staff member's role in one brand. Roles map to Django permission groups (see roles.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="brand_memberships",
        verbose_name=_("user"),
    )
    brand = models.ForeignKey(
        Brand, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("brand")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["brand", "user"], name="membership_unique_brand_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=["viewer", "analyst", "manager"]), name="membership_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["user", "brand"], name="membership_user_brand")]

    def __str__(self):
        return f"{self.user} @ {self.brand} ({self.get_role_display()})"
