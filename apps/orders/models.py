"""Orders and their items. Refunds are a status, never a negative amount."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.models import BrandOwnedModel, brand_field, same_brand_fk


class OrderStatus(models.TextChoices):
    PAID = "paid", _("Paid")
    REFUNDED = "refunded", _("Refunded")
    CANCELLED = "cancelled", _("Cancelled")


class SalesChannel(models.TextChoices):
    LIVE_STREAM = "live_stream", _("Live stream")
    SHORT_VIDEO = "short_video", _("Short video")
    SHOP = "shop", _("Online shop")
    MINI_PROGRAM = "mini_program", _("Mini program")
    COMMUNITY = "community", _("Community")
    OFFLINE = "offline", _("Offline store")
    OTHER = "other", _("Other")


class Order(BrandOwnedModel):
    # enforced by the composite same-brand foreign keys to the parent rows
    brand = brand_field(constraint=False)
    external_id = models.CharField(_("external id"), max_length=128)
    customer = same_brand_fk(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="orders",
        verbose_name=_("customer"),
    )
    placed_at = models.DateTimeField(_("placed at"))
    status = models.CharField(
        _("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.PAID
    )
    total_amount = models.DecimalField(_("total amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    # An order given in another currency and converted at a rate staff supplied (import_orders --rates): its
    # total in that currency, the currency and the rate (brand currency per unit); empty for other orders.
    # db_default too: bulk writers that COPY named columns (the demo seed) leave it out
    original_currency = models.CharField(
        _("original currency"), max_length=3, blank=True, default="", db_default=""
    )
    original_amount = models.DecimalField(
        _("original amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    exchange_rate = models.DecimalField(
        _("exchange rate"), max_digits=18, decimal_places=8, null=True, blank=True
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=SalesChannel.choices, default=SalesChannel.OTHER
    )
    stream = same_brand_fk(
        "streams.Stream",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("attributed stream"),
    )

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["brand", "-placed_at"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "id"], name="order_brand_id_key"),
            models.UniqueConstraint(fields=["brand", "external_id"], name="order_unique_external_id"),
            models.CheckConstraint(condition=Q(total_amount__gte=0), name="order_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(status__in=["paid", "refunded", "cancelled"]), name="order_status_valid"
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="order_external_id_not_empty"),
            models.CheckConstraint(
                condition=(
                    Q(original_currency="", original_amount__isnull=True, exchange_rate__isnull=True)
                    | (~Q(original_currency="") & Q(original_amount__gte=0, exchange_rate__gt=0))
                ),
                name="order_conversion_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "customer", "placed_at"], name="order_brand_cust_placed"),
            models.Index(fields=["brand", "placed_at"], name="order_brand_placed"),
            models.Index(fields=["brand", "stream"], name="order_brand_stream"),
        ]

    def __str__(self):
        return self.external_id


class OrderItem(BrandOwnedModel):
    # enforced by the composite same-brand foreign keys to the parent rows
    brand = brand_field(constraint=False)
    order = same_brand_fk(Order, on_delete=models.CASCADE, related_name="items", verbose_name=_("order"))
    line_no = models.PositiveIntegerField(_("line"))
    sku = models.CharField(_("SKU"), max_length=128, blank=True)
    category = models.CharField(_("product category"), max_length=100, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price = models.DecimalField(_("unit price"), max_digits=16, decimal_places=4)
    amount = models.DecimalField(_("line amount"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")
        ordering = ["order", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "order", "line_no"], name="orderitem_unique_line"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderitem_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderitem_price_not_negative"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="orderitem_amount_not_negative"),
        ]

    def __str__(self):
        return f"{self.order_id}#{self.line_no}"
