"""Read-only admin for the demo truths, scoped to the brands the staff member belongs to."""

from django.contrib import admin

from apps.core.scoping import brand_ids_for_user
from apps.demo.models import DemoCustomerTruth, DemoTruth


class ScopedReadOnlyAdmin(admin.ModelAdmin):
    """Superusers see every brand's truth, members see their brands', nobody edits."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        ids = brand_ids_for_user(request.user)
        return qs if ids is None else qs.filter(brand_id__in=ids)

    def has_module_permission(self, request):
        ids = brand_ids_for_user(request.user)
        return ids is None or bool(ids)

    def has_view_permission(self, request, obj=None):
        ids = brand_ids_for_user(request.user)
        if ids is None:
            return True
        return bool(ids) if obj is None else obj.brand_id in ids

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DemoTruth)
class DemoTruthAdmin(ScopedReadOnlyAdmin):
    list_display = ["brand", "seed", "n_customers", "start", "end", "generated_at"]
    readonly_fields = ["brand", "seed", "n_customers", "start", "end", "params", "generated_at"]


@admin.register(DemoCustomerTruth)
class DemoCustomerTruthAdmin(ScopedReadOnlyAdmin):
    list_display = ["customer", "brand", "is_alive_at_end", "died_at", "spend_level", "view_propensity"]
    list_filter = ["is_alive_at_end"]
    list_select_related = ["customer", "brand"]
    raw_id_fields = ["customer"]
    show_full_result_count = False
