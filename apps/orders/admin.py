"""Orders with their items inline."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import BrandScopedAdmin, BrandScopedTabularInline
from apps.orders.models import Order, OrderItem


class OrderItemInline(BrandScopedTabularInline):
    model = OrderItem
    fields = ("line_no", "sku", "category", "quantity", "unit_price", "amount")
    ordering = ("line_no",)
    extra = 0


@admin.register(Order)
class OrderAdmin(BrandScopedAdmin):
    list_display = (
        "external_id",
        "customer",
        "placed_at",
        "status",
        "channel",
        "total_amount",
        "currency",
        "stream",
    )
    list_filter = ("brand", "status", "channel", "placed_at")
    search_fields = ("external_id", "=customer__external_id")
    list_select_related = ("customer", "stream")
    autocomplete_fields = ("customer", "stream")
    date_hierarchy = "placed_at"
    # Served by the (brand, placed_at) index.
    ordering = ("brand_id", "-placed_at")
    show_full_result_count = False
    inlines = (OrderItemInline,)
    fieldsets = (
        (None, {"fields": ("brand", "external_id", "customer", "placed_at")}),
        (_("Amount and status"), {"fields": ("status", "total_amount", "currency")}),
        (_("Attribution"), {"fields": ("channel", "stream")}),
    )


@admin.register(OrderItem)
class OrderItemAdmin(BrandScopedAdmin):
    """Items are edited on their order; this list is for browsing sales by SKU and category."""

    list_display = ("order", "line_no", "sku", "category", "quantity", "unit_price", "amount")
    list_filter = ("brand", "category")
    search_fields = ("=order__external_id", "sku")
    list_select_related = ("order",)
    autocomplete_fields = ("order",)
    ordering = ("-pk",)
    show_full_result_count = False
