"""Live streams with their audience size, and the per-viewer engagement rows."""

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from apps.core.admin import BrandScopedAdmin
from apps.streams.models import Stream, StreamView


def _per_stream(aggregate):
    """A correlated subquery over the stream's views; evaluated only for the rows of the page."""
    views = (
        StreamView.objects.filter(brand_id=OuterRef("brand_id"), stream_id=OuterRef("pk"))
        .order_by()
        .values("stream_id")
        .annotate(value=aggregate)
        .values("value")
    )
    return Coalesce(Subquery(views, output_field=IntegerField()), 0)


@admin.register(Stream)
class StreamAdmin(BrandScopedAdmin):
    list_display = (
        "__str__",
        "external_id",
        "platform",
        "host_name",
        "category",
        "started_at",
        "ended_at",
        "view_count",
        "interaction_count",
    )
    list_filter = ("brand", "platform", "started_at")
    search_fields = ("external_id", "title", "host_name")
    date_hierarchy = "started_at"
    list_select_related = ()
    ordering = ("brand_id", "-started_at")
    fieldsets = (
        (None, {"fields": ("brand", "external_id", "title", "platform", "host_name", "category")}),
        (_("Schedule"), {"fields": ("started_at", "ended_at")}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                view_count=_per_stream(Count("*")),
                interaction_count=_per_stream(Sum("comments") + Sum("likes") + Sum("shares")),
            )
        )

    @admin.display(description=_("viewers"), ordering="view_count")
    def view_count(self, obj):
        return obj.view_count

    @admin.display(description=_("interactions"), ordering="interaction_count")
    def interaction_count(self, obj):
        return obj.interaction_count


@admin.register(StreamView)
class StreamViewAdmin(BrandScopedAdmin):
    list_display = (
        "stream",
        "customer",
        "joined_at",
        "watch_minutes",
        "comments",
        "likes",
        "shares",
        "interactions",
    )
    list_filter = ("brand", "stream__platform", "joined_at")
    search_fields = ("=customer__external_id", "=stream__external_id")
    list_select_related = ("stream", "customer")
    autocomplete_fields = ("stream", "customer")
    ordering = ("-pk",)
    show_full_result_count = False

    @admin.display(description=_("watch time (min)"), ordering="watch_seconds")
    def watch_minutes(self, obj):
        return round(obj.watch_seconds / 60, 1)

    @admin.display(description=_("interactions"))
    def interactions(self, obj):
        return obj.interactions
