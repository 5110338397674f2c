"""Brand-owned private-domain groups (私域社群) and who is in them."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.models import BrandOwnedModel, brand_field, same_brand_fk


class CommunityKind(models.TextChoices):
    WECHAT_GROUP = "wechat_group", _("WeChat group")
    WECOM = "wecom", _("WeCom")
    APP_GROUP = "app_group", _("App group")
    OTHER = "other", _("Other")


class Community(BrandOwnedModel):
    external_id = models.CharField(_("external id"), max_length=128)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=16, choices=CommunityKind.choices, default=CommunityKind.OTHER
    )
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering = ["brand", "name"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="community_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "external_id"], name="community_unique_external_id"),
            models.CheckConstraint(condition=~Q(external_id=""), name="community_external_id_not_empty"),
        ]

    def __str__(self):
        return self.name


class CommunityMembership(BrandOwnedModel):
    """One spell of membership. A customer who leaves and rejoins has two rows."""

    # enforced by the composite same-brand foreign keys to the parent rows
    brand = brand_field(constraint=False)
    community = same_brand_fk(
        Community,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("community"),
    )
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="community_memberships",
        verbose_name=_("customer"),
    )
    joined_at = models.DateTimeField(_("joined at"))
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    activity_count = models.PositiveIntegerField(_("activity count"), default=0)

    class Meta:
        verbose_name = _("community membership")
        verbose_name_plural = _("community memberships")
        ordering = ["brand", "-joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "community", "customer", "joined_at"],
                name="communitymembership_unique_spell",
            ),
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=F("joined_at")),
                name="communitymembership_left_after_joined",
            ),
        ]
        indexes = [models.Index(fields=["brand", "customer", "joined_at"], name="cmember_brand_cust_joined")]

    def __str__(self):
        return gettext("Customer #%(customer)s in community #%(community)s") % {
            "customer": self.customer_id,
            "community": self.community_id,
        }
