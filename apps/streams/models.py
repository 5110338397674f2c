"""Live streams and one engagement row per viewer per stream."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.models import BrandOwnedModel, brand_field, same_brand_fk


class Platform(models.TextChoices):
    DOUYIN = "douyin", _("Douyin")
    KUAISHOU = "kuaishou", _("Kuaishou")
    TAOBAO = "taobao", _("Taobao Live")
    WECHAT_CHANNELS = "wechat_channels", _("WeChat Channels")
    OTHER = "other", _("Other")


class Stream(BrandOwnedModel):
    external_id = models.CharField(_("external id"), max_length=128)
    title = models.CharField(_("title"), max_length=300, blank=True)
    host_name = models.CharField(_("host"), max_length=200, blank=True)
    platform = models.CharField(
        _("platform"), max_length=16, choices=Platform.choices, default=Platform.OTHER
    )
    category = models.CharField(_("category"), max_length=100, blank=True)
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("live stream")
        verbose_name_plural = _("live streams")
        ordering = ["brand", "-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="stream_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "external_id"], name="stream_unique_external_id"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="stream_ends_after_start",
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="stream_external_id_not_empty"),
        ]
        indexes = [models.Index(fields=["brand", "started_at"], name="stream_brand_started")]

    def __str__(self):
        return self.title or self.external_id


class StreamView(BrandOwnedModel):
    # enforced by the composite same-brand foreign keys to the parent rows
    brand = brand_field(constraint=False)
    stream = same_brand_fk(
        Stream, on_delete=models.CASCADE, related_name="views", verbose_name=_("live stream")
    )
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="stream_views",
        verbose_name=_("customer"),
    )
    joined_at = models.DateTimeField(_("joined at"))
    watch_seconds = models.PositiveIntegerField(_("watch seconds"), default=0)
    comments = models.PositiveIntegerField(_("comments"), default=0)
    likes = models.PositiveIntegerField(_("likes"), default=0)
    shares = models.PositiveIntegerField(_("shares"), default=0)

    class Meta:
        verbose_name = _("stream view")
        verbose_name_plural = _("stream views")
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "stream", "customer"], name="streamview_one_per_customer"
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "customer", "joined_at"], name="streamview_brand_cust_joined")
        ]

    def __str__(self):
        return gettext("Customer #%(customer)s watching stream #%(stream)s") % {
            "customer": self.customer_id,
            "stream": self.stream_id,
        }

    @property
    def interactions(self) -> int:
        return self.comments + self.likes + self.shares
