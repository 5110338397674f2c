"""Value tiers (高价值 / 潜力价值 / 基础价值), benefits (权益), their links and grants to customers.

Tier and benefit names are data staff edit. Default names are English msgids, shown translated by
`display_name` as long as staff have not renamed them.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.models import BrandOwnedModel, brand_field, same_brand_fk


class Tier(BrandOwnedModel):
    code = models.SlugField(_("code"), max_length=32, db_index=False)
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("1 is the most valuable tier."))
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["brand", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="tier_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "code"], name="tier_unique_code"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="tier_rank_positive"),
        ]
        indexes = [models.Index(fields=["brand", "rank"], name="tier_brand_rank")]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        return gettext(self.name) if self.name else self.code


class BenefitKind(models.TextChoices):
    COUPON = "coupon", _("Exclusive coupon")
    POINTS_MULTIPLIER = "points_multiplier", _("Points multiplier")
    FREE_SHIPPING = "free_shipping", _("Free shipping")
    EARLY_ACCESS = "early_access", _("Early access")
    PRIORITY_SERVICE = "priority_service", _("Priority after-sales service")
    GIFT = "gift", _("Gift")


class Benefit(BrandOwnedModel):
    code = models.SlugField(_("code"), max_length=64, db_index=False)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=24, choices=BenefitKind.choices)
    value = models.DecimalField(
        _("value"),
        max_digits=12,
        decimal_places=2,
        default=0,
        help_text=_("Coupon amount, points multiplier or gift value; 0 where it does not apply."),
    )
    validity_days = models.PositiveIntegerField(_("validity (days)"), default=30)
    is_active = models.BooleanField(_("active"), default=True)
    description = models.TextField(_("description"), blank=True)
    tiers = models.ManyToManyField(
        Tier, through="TierBenefit", related_name="benefits", verbose_name=_("tiers")
    )

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["brand", "kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="benefit_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "code"], name="benefit_unique_code"),
            models.CheckConstraint(condition=Q(value__gte=0), name="benefit_value_not_negative"),
            models.CheckConstraint(condition=Q(validity_days__gte=1), name="benefit_validity_positive"),
        ]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        return gettext(self.name) if self.name else self.code


class TierBenefit(BrandOwnedModel):
    """A benefit a tier carries, with how many grants a customer may receive per validity period."""

    # enforced by the composite same-brand foreign keys to the parent rows
    brand = brand_field(constraint=False)
    tier = same_brand_fk(Tier, on_delete=models.CASCADE, related_name="tier_benefits", verbose_name=_("tier"))
    benefit = same_brand_fk(
        Benefit,
        on_delete=models.CASCADE,
        related_name="tier_benefits",
        verbose_name=_("benefit"),
    )
    quota = models.PositiveIntegerField(
        _("quota"), default=1, help_text=_("Grants per customer per validity period; 0 means unlimited.")
    )

    class Meta:
        verbose_name = _("tier benefit")
        verbose_name_plural = _("tier benefits")
        constraints = [
            models.UniqueConstraint(fields=["brand", "tier", "benefit"], name="tierbenefit_unique")
        ]
        indexes = [models.Index(fields=["brand", "benefit"], name="tierbenefit_brand_benefit")]

    def __str__(self):
        return f"{self.tier} → {self.benefit}"


class GrantSource(models.TextChoices):
    TIER = "tier", _("Tier assignment")
    MANUAL = "manual", _("Manual")
    CAMPAIGN = "campaign", _("Campaign")
    IMPORT = "import", _("Import")


class BenefitGrant(BrandOwnedModel):
    # enforced by the composite same-brand foreign keys to the parent rows
    brand = brand_field(constraint=False)
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="benefit_grants",
        verbose_name=_("customer"),
    )
    benefit = same_brand_fk(
        Benefit, on_delete=models.PROTECT, related_name="grants", verbose_name=_("benefit")
    )
    granted_at = models.DateTimeField(_("granted at"))
    expires_at = models.DateTimeField(_("expires at"))
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    source = models.CharField(
        _("source"), max_length=16, choices=GrantSource.choices, default=GrantSource.MANUAL
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("benefit grant")
        verbose_name_plural = _("benefit grants")
        ordering = ["brand", "-granted_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gte=F("granted_at")), name="grant_expires_after_granted"
            ),
            models.CheckConstraint(
                condition=Q(redeemed_at__isnull=True) | Q(redeemed_at__gte=F("granted_at")),
                name="grant_redeemed_after_granted",
            ),
            models.CheckConstraint(
                condition=Q(redeemed_at__isnull=True) | Q(revoked_at__isnull=True),
                name="grant_not_redeemed_and_revoked",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "customer", "granted_at"], name="grant_brand_cust_granted"),
            models.Index(fields=["brand", "benefit"], name="grant_brand_benefit"),
        ]

    def __str__(self):
        return f"{self.benefit} → {self.customer}"
