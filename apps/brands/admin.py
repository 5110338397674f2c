"""Brands (tenants) and staff memberships.

Superusers create and delete brands; members see their brands and managers edit them. Managers manage the
memberships of their brands. Every membership write goes through apps.brands.services so that the role
permission groups of the user stay in sync.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from apps.brands.models import Brand, Membership
from apps.brands.services import brand_create, membership_remove, membership_set
from apps.core.admin import BrandScopedAdmin


@admin.register(Brand)
class BrandAdmin(BrandScopedAdmin):
    list_display = ("name", "slug", "timezone", "currency", "created_at")
    search_fields = ("name", "slug")
    ordering = ("name",)
    fields = ("slug", "name", "timezone", "currency", "erased_customer_rows")

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        """The slug identifies the brand in imports and commands; it does not change after creation."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("slug")
        return fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new brand gets its default tiers and benefits: the same service the command uses.
        brand, _created = brand_create(
            slug=obj.slug, name=obj.name, timezone=obj.timezone, currency=obj.currency
        )
        obj.pk = brand.pk
        obj.created_at, obj.updated_at = brand.created_at, brand.updated_at
        Brand.objects.filter(pk=brand.pk).update(erased_customer_rows=obj.erased_customer_rows)


class MembershipAddForm(forms.ModelForm):
    """Add a staff member to a brand by username (no list of every user of the installation)."""

    username = forms.CharField(label=_("username"), max_length=150)

    class Meta:
        model = Membership
        fields = ("brand", "role")

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(_("No active user has this username."), code="unknown_user")
        self.instance.user = user
        return username

    def clean(self):
        cleaned_data = super().clean()
        brand = cleaned_data.get("brand")
        user = getattr(self.instance, "user", None) if self.instance.user_id else None
        if (
            brand is not None
            and user is not None
            and Membership.objects.filter(brand=brand, user=user).exists()
        ):
            raise forms.ValidationError(
                _("%(user)s is already a member of %(brand)s; change their role instead."),
                code="duplicate_membership",
                params={"user": user, "brand": brand},
            )
        return cleaned_data


@admin.register(Membership)
class MembershipAdmin(BrandScopedAdmin):
    list_display = ("user", "brand", "role", "created_at")
    list_filter = ("role", "brand")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user", "brand")
    ordering = ("brand__name", "user__username")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MembershipAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("username", "brand", "role") if obj is None else ("user", "brand", "role")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("user")
        return fields

    def save_model(self, request, obj, form, change):
        self.check_may_write(request, obj, "change" if change else "add")
        membership = membership_set(user=obj.user, brand=obj.brand, role=obj.role)
        obj.pk = membership.pk
        obj.created_at, obj.updated_at = membership.created_at, membership.updated_at

    def delete_model(self, request, obj):
        self.check_may_write(request, obj, "delete")
        membership_remove(user=obj.user, brand=obj.brand)

    def delete_queryset(self, request, queryset):
        memberships = list(queryset.select_related("user", "brand"))
        for membership in memberships:
            self.check_may_write(request, membership, "delete")
        for membership in memberships:
            membership_remove(user=membership.user, brand=membership.brand)
