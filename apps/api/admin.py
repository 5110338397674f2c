"""API tokens in the admin: brand managers create, rename and revoke them; nobody sees a token's hash.

A new token is shown once, on the page that answers the add form (never stored, never sent again).
Only managers see tokens at all, and only those of the brands they manage.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.api.models import ApiToken
from apps.api.services import api_token_create, api_token_revoke
from apps.core.admin import BrandScopedAdmin
from apps.core.scoping import brand_ids_with_role

READ_ONLY_AFTER_CREATION = (
    "brand",
    "role",
    "key_prefix",
    "created_at",
    "created_by",
    "last_used_at",
    "revoked_at",
    "revoked_by",
)


@admin.register(ApiToken)
class ApiTokenAdmin(BrandScopedAdmin):
    list_display = ("key_prefix", "name", "role", "created_at", "last_used_at", "revoked_at")
    list_filter = ("role", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "key_prefix")
    ordering = ("-created_at",)
    actions = ("revoke_tokens",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("brand", "name", "role")
        return ("name", *READ_ONLY_AFTER_CREATION)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return READ_ONLY_AFTER_CREATION

    def get_queryset(self, request):
        """Tokens of the brands the user manages (viewers and analysts of a brand see none of its tokens)."""
        queryset = super().get_queryset(request).select_related("brand")
        ids = brand_ids_with_role(request.user, "manager")
        return queryset if ids is None else queryset.filter(brand_id__in=ids)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row records who created, used and revoked the token

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        self.check_may_write(request, obj, "add")
        token, plaintext = api_token_create(
            brand=obj.brand, role=obj.role, name=obj.name, created_by=request.user
        )
        obj.pk, obj.key_prefix, obj.created_by = token.pk, token.key_prefix, token.created_by
        obj.created_at, obj.updated_at = token.created_at, token.updated_at
        obj._state.adding = False
        request._clv_api_token_plaintext = plaintext

    def response_add(self, request, obj, post_url_continue=None):
        """Answer the add form with the new token itself: the only time it is ever shown."""
        plaintext = getattr(request, "_clv_api_token_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("API token created"),
            "token": obj,
            "plaintext": plaintext,
            "changelist_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
        }
        response = TemplateResponse(request, "admin/api/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke selected API tokens"), permissions=["change"])
    def revoke_tokens(self, request, queryset):
        tokens = list(queryset.filter(revoked_at__isnull=True))
        if any(not self.user_may_in_brand(request, "change", t.brand_id) for t in tokens):
            raise PermissionDenied
        for token in tokens:
            api_token_revoke(token=token, by=request.user)
        self.message_user(
            request,
            ngettext("Revoked %(count)d API token.", "Revoked %(count)d API tokens.", len(tokens))
            % {"count": len(tokens)},
            messages.SUCCESS,
        )
