"""Private-domain communities (私域社群) and their membership spells."""

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from apps.communities.models import Community, CommunityMembership
from apps.core.admin import BrandScopedAdmin


@admin.register(Community)
class CommunityAdmin(BrandScopedAdmin):
    list_display = ("name", "external_id", "kind", "opened_at", "active_member_count")
    list_filter = ("brand", "kind")
    search_fields = ("name", "external_id")
    list_select_related = ()
    ordering = ("brand_id", "name")
    fields = ("brand", "external_id", "name", "kind", "opened_at")

    def get_queryset(self, request):
        active = (
            CommunityMembership.objects.filter(
                brand_id=OuterRef("brand_id"), community_id=OuterRef("pk"), left_at__isnull=True
            )
            .order_by()
            .values("community_id")
            .annotate(value=Count("*"))
            .values("value")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(active_member_count=Coalesce(Subquery(active, output_field=IntegerField()), 0))
        )

    @admin.display(description=_("active members"), ordering="active_member_count")
    def active_member_count(self, obj):
        return obj.active_member_count


@admin.register(CommunityMembership)
class CommunityMembershipAdmin(BrandScopedAdmin):
    list_display = ("community", "customer", "joined_at", "left_at", "activity_count")
    list_filter = ("brand", "community", "joined_at", "left_at")
    search_fields = ("=customer__external_id", "community__name")
    list_select_related = ("community", "customer")
    autocomplete_fields = ("community", "customer")
    ordering = ("-pk",)
    show_full_result_count = False
