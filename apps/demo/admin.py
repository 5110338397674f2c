"""Read-only admin for the demo truths: the simulation's answer key, for superusers (developers) only. Brand
staff never see it: it would tell them what the models are supposed to find."""

from django.contrib import admin

from apps.demo.models import DemoCustomerTruth, DemoTruth


class ScopedReadOnlyAdmin(admin.ModelAdmin):
    """Superusers see every brand's truth; nobody else sees any; nobody edits."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.none()

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

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
