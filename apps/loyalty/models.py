"""Value tiers (高价值 / 潜力价值 / 基础价值), benefits (权益), their links and grants to customers.

Tier and benefit names are data staff edit. Default names are English msgids, shown translated by
`display_name` as long as staff have not renamed them.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.models import BrandOwnedModel, BrandScopedQuerySet, brand_field, same_brand_fk


class Tier(BrandOwnedModel):
    code = models.SlugField(_("code"), max_length=32, db_index=False)
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("1 is the most valuable tier."))
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    demotion_grace_days = models.PositiveSmallIntegerField(
        _("grace period before moving down (days)"),
        default=0,
        help_text=_(
            "A customer who stops meeting this tier's rule keeps the tier and its benefits for this many "
            "days, so valuable customers are not stripped of benefits just when they are at risk of leaving. "
            "If they still do not qualify when it ends, they move down. 0 moves them at once."
        ),
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["brand", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="tier_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "code"], name="tier_unique_code"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="tier_rank_positive"),
            models.CheckConstraint(
                condition=Q(demotion_grace_days__lte=3650), name="tier_grace_at_most_ten_years"
            ),
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


class GrantStatus(models.TextChoices):
    """Where a grant stands at a moment. The one definition (BenefitGrantQuerySet.with_status for rows in the
    database, BenefitGrant.status_at for one row, open_grant_sql for raw SQL): redeemed or revoked whenever
    that happened; otherwise expired once `expires_at` is reached (expires_at <= the moment), else open."""

    OPEN = "open", _("Open")
    REDEEMED = "redeemed", _("Redeemed")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")


def grant_status_q(status: str, at) -> Q:
    """The condition for grants with this status at `at` (see GrantStatus)."""
    unused = Q(redeemed_at__isnull=True, revoked_at__isnull=True)
    return {
        GrantStatus.OPEN: unused & Q(expires_at__gt=at),
        GrantStatus.REDEEMED: Q(redeemed_at__isnull=False),
        GrantStatus.REVOKED: Q(revoked_at__isnull=False),
        GrantStatus.EXPIRED: unused & Q(expires_at__lte=at),
    }[GrantStatus(status)]


def open_grant_sql(alias: str) -> str:
    """GrantStatus.OPEN as raw SQL over the grant table aliased `alias`; takes one parameter, the moment."""
    return f"{alias}.redeemed_at IS NULL AND {alias}.revoked_at IS NULL AND {alias}.expires_at > %s"


class BenefitGrantQuerySet(BrandScopedQuerySet):
    def with_status(self, status: str, *, at=None):
        return self.filter(grant_status_q(status, timezone.now() if at is None else at))

    def open(self, *, at=None):
        """Grants the customer can use at `at` (default now): not redeemed, not revoked, not expired."""
        return self.with_status(GrantStatus.OPEN, at=at)


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
            models.UniqueConstraint(fields=["brand", "id"], name="benefitgrant_brand_id_key"),
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
            # the admin list's date hierarchy: the first and last grant of a brand without reading them all
            models.Index(fields=["brand", "granted_at"], name="grant_brand_granted"),
        ]

    objects = BenefitGrantQuerySet.as_manager()

    def __str__(self):
        return f"{self.benefit} → {self.customer}"

    def status_at(self, at=None) -> GrantStatus:
        """This grant's status at `at` (default now); see GrantStatus."""
        if self.redeemed_at is not None:
            return GrantStatus.REDEEMED
        if self.revoked_at is not None:
            return GrantStatus.REVOKED
        if self.expires_at <= (timezone.now() if at is None else at):
            return GrantStatus.EXPIRED
        return GrantStatus.OPEN


# RFM segment codes (apps.analytics.survival.rfm.SEGMENTS) as staff see them.
RFM_SEGMENT_LABELS = {
    "champions": _("Champions"),
    "loyal": _("Loyal"),
    "potential_loyalist": _("Potential loyalist"),
    "new": _("New"),
    "promising": _("Promising"),
    "need_attention": _("Need attention"),
    "cant_lose": _("Can't lose"),
    "at_risk": _("At risk"),
    "about_to_sleep": _("About to sleep"),
    "hibernating": _("Hibernating"),
    "lost": _("Lost"),
}


class TierRule(BrandOwnedModel):
    """When a scored customer belongs to a tier. Explainable by design:

    - A rule matches a customer when every condition that is set holds (an AND); unset conditions are
      ignored, so a rule with no condition matches everyone.
        min_clv                customer's CLV ≥ this amount (brand currency)
        min_clv_percentile     CLV higher than at least this share (%) of the brand's scored customers
                               (80 = the top 20% by CLV; tied customers share a percentile)
        max_churn_probability  churn probability ≤ this (0–1)
        min_rfm_score          R + F + M quintile scores ≥ this (3–15)
        rfm_segments           RFM segment is one of these (empty = any segment)
    - Tiers are checked by rank, most valuable (rank 1) first; the first active rule that matches wins.
    - A customer no rule matches gets the brand's lowest-ranked active tier (the largest rank number).
    - Customers who opted out of automated decisions keep the tier they had.
    """

    # enforced by the composite same-brand foreign key to the tier
    brand = brand_field(constraint=False)
    tier = same_brand_fk(Tier, on_delete=models.CASCADE, related_name="rules", verbose_name=_("tier"))
    min_clv = models.DecimalField(
        _("minimum CLV"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("CLV at least this amount. Leave empty for no floor."),
    )
    min_clv_percentile = models.PositiveSmallIntegerField(
        _("minimum CLV percentile"),
        null=True,
        blank=True,
        help_text=_(
            "CLV higher than at least this percentage of the brand's scored customers: 80 means the top "
            "20%. Leave empty for no floor."
        ),
    )
    max_churn_probability = models.DecimalField(
        _("maximum churn probability"),
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=_("Churn probability at most this (0 to 1). Leave empty for no ceiling."),
    )
    min_rfm_score = models.PositiveSmallIntegerField(
        _("minimum RFM score"),
        null=True,
        blank=True,
        help_text=_("R + F + M scores (each 1 to 5) at least this, 3 to 15. Leave empty for no floor."),
    )
    rfm_segments = models.JSONField(
        _("RFM segments"),
        default=list,
        blank=True,
        help_text=_("Only customers in one of these RFM segments. None selected means any segment."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("tier rule")
        verbose_name_plural = _("tier rules")
        ordering = ["brand", "tier__rank"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "tier"], name="tierrule_one_per_tier"),
            models.CheckConstraint(
                condition=Q(min_clv__isnull=True) | Q(min_clv__gte=0), name="tierrule_min_clv_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(min_clv_percentile__isnull=True)
                | Q(min_clv_percentile__gte=1, min_clv_percentile__lte=99),
                name="tierrule_clv_percentile_range",
            ),
            models.CheckConstraint(
                condition=Q(max_churn_probability__isnull=True)
                | Q(max_churn_probability__gte=0, max_churn_probability__lte=1),
                name="tierrule_churn_in_unit",
            ),
            models.CheckConstraint(
                condition=Q(min_rfm_score__isnull=True) | Q(min_rfm_score__gte=3, min_rfm_score__lte=15),
                name="tierrule_rfm_score_range",
            ),
        ]

    def __str__(self):
        return str(self.tier) if self.tier_id else gettext("tier rule")

    def clean(self):
        super().clean()
        segments = self.rfm_segments
        if not isinstance(segments, list) or any(s not in RFM_SEGMENT_LABELS for s in segments):
            raise ValidationError(
                {
                    "rfm_segments": ValidationError(
                        _("Choose RFM segments from the list (%(codes)s)."),
                        code="unknown_segment",
                        params={"codes": ", ".join(RFM_SEGMENT_LABELS)},
                    )
                }
            )


class TierChangeSource(models.TextChoices):
    REFRESH = "refresh", _("Score refresh")
    MANUAL = "manual", _("Manual")


class TierChange(BrandOwnedModel):
    """Tier history: one row each time a customer moves to another tier (or into or out of every tier)."""

    # enforced by the composite same-brand foreign keys to the parent rows
    brand = brand_field(constraint=False)
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="tier_changes",
        verbose_name=_("customer"),
    )
    from_tier = same_brand_fk(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("from tier")
    )
    to_tier = same_brand_fk(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("to tier")
    )
    changed_at = models.DateTimeField(_("changed at"))
    # the model run that decided it, if any; a plain id so loyalty does not depend on analytics
    run_id = models.BigIntegerField(_("model run"), null=True, blank=True)
    source = models.CharField(
        _("source"), max_length=16, choices=TierChangeSource.choices, default=TierChangeSource.REFRESH
    )
    reason = models.CharField(
        _("reason"),
        max_length=64,
        help_text=_("rule:<tier code>, no_rule_matched, opted_out_kept or manual."),
    )

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["brand", "-changed_at"]
        indexes = [
            models.Index(fields=["brand", "customer", "changed_at"], name="tierchange_brand_customer"),
            models.Index(fields=["brand", "changed_at"], name="tierchange_brand_changed"),
        ]

    def reason_label(self, tier_name: str | None = None) -> str:
        """The reason in words (the stored code is for scripts): `tier_name`, the tier whose rule matched, when the
        caller has it at hand (its display name); else the tier's code."""
        if self.reason.startswith("rule:"):
            return gettext("met the rule of tier %(tier)s") % {"tier": tier_name or self.reason[5:]}
        labels = {
            "no_rule_matched": gettext("no tier rule matched"),
            "opted_out_kept": gettext("kept: the customer opted out of automated decisions"),
            "manual": gettext("set by staff"),
        }
        return labels.get(self.reason, self.reason)

    def __str__(self):
        def tier(pk):
            return f"#{pk}" if pk else gettext("No tier")

        return gettext("Customer #%(customer)s: tier %(from)s → %(to)s") % {
            "customer": self.customer_id,
            "from": tier(self.from_tier_id),
            "to": tier(self.to_tier_id),
        }


class TierGrace(BrandOwnedModel):
    """A customer in a tier's grace period: since `since` their tier's rule no longer matches them, and they
    keep the tier until `since` + the tier's demotion_grace_days. Written only by the tier refresh
    (tier_refresh.tiers_refresh): created when a customer first fails to qualify, removed when they qualify
    again or move down."""

    # enforced by the composite same-brand foreign keys to the customer and the tier
    brand = brand_field(constraint=False)
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="tier_graces",
        verbose_name=_("customer"),
    )
    tier = same_brand_fk(Tier, on_delete=models.CASCADE, related_name="graces", verbose_name=_("tier"))
    since = models.DateTimeField(_("no longer qualifies since"))

    class Meta:
        verbose_name = _("tier grace period")
        verbose_name_plural = _("tier grace periods")
        constraints = [
            models.UniqueConstraint(fields=["brand", "customer"], name="tiergrace_one_per_customer"),
        ]

    def __str__(self):
        return gettext("Customer #%(customer)s keeps tier #%(tier)s since %(since)s") % {
            "customer": self.customer_id,
            "tier": self.tier_id,
            "since": f"{self.since:%Y-%m-%d}",
        }

    @property
    def ends_at(self):
        return self.since + datetime.timedelta(days=self.tier.demotion_grace_days)
