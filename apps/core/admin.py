"""Brand scoping for the Django admin: every brand-owned admin and inline inherits from here.

What a staff member sees and may do is decided by apps.core.scoping:
- querysets (changelists, change pages, autocomplete results) hold rows of the user's brands only;
- every foreign-key and many-to-many choice is limited to the user's brands;
- related-object list filters offer the user's brands' rows only;
- object-level permissions come from the user's role in the object's brand, so a manager of one brand
  who is a viewer of another can edit the first and only read the second;
- a row that does not exist for the user is a 404, never a redirect that hints at its existence.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.auth import get_permission_codename
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.scoping import brand_ids_for_user, user_may


def brand_lookup_for(model) -> str | None:
    """The lookup that holds a row's brand id: 'pk' for Brand, 'brand_id' for brand-owned models."""
    from apps.brands.models import Brand

    if model is Brand:
        return "pk"
    try:
        field = model._meta.get_field("brand")
    except FieldDoesNotExist:
        return None
    if (field.many_to_one or field.one_to_one) and field.related_model is Brand:
        return "brand_id"
    return None


def scope_queryset(queryset, user):
    """Rows of the user's brands; unchanged for superusers and for models that have no brand."""
    lookup = brand_lookup_for(queryset.model)
    if lookup is None:
        return queryset
    ids = brand_ids_for_user(user)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{lookup}__in": ids})


def scope_choices_filter(model, user) -> dict | None:
    """A `limit_choices_to` dict restricting `model` rows to the user's brands (None: no restriction)."""
    lookup = brand_lookup_for(model)
    ids = brand_ids_for_user(user)
    if lookup is None or ids is None:
        return None
    return {f"{lookup}__in": ids}


class BrandScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object list filter that offers only rows of the user's brands (plain ones list all)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        limit = scope_choices_filter(field.related_model, request.user)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


class _BrandScopedBase:
    """Querysets and relation choices scoped to the user's brands; shared by admins and inlines."""

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def scoped_related_queryset(self, db_field, request, using=None):
        """The choices of a relation, limited to the user's brands; None when the related model has none."""
        related_model = db_field.remote_field.model
        if brand_lookup_for(related_model) is None:
            return None
        queryset = self.get_field_queryset(using, db_field, request)
        if queryset is None:
            queryset = related_model._default_manager.using(using).all()
        return scope_queryset(queryset, request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self.scoped_related_queryset(db_field, request, kwargs.get("using"))
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self.scoped_related_queryset(db_field, request, kwargs.get("using"))
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # Object-level permissions: the role in the object's brand decides.

    def brand_id_of(self, obj) -> int | None:
        return obj.pk if brand_lookup_for(type(obj)) == "pk" else getattr(obj, "brand_id", None)

    def permission_name(self, action: str) -> str:
        return f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}"

    def user_may_in_brand(self, request, action: str, brand_id) -> bool:
        if brand_id is None:
            return False
        return user_may(request.user, brand_id, self.permission_name(action))


class BrandScopedAdmin(_BrandScopedBase, admin.ModelAdmin):
    """Base admin for brand-owned models. Subclasses declare list/search options as usual."""

    def get_list_filter(self, request):
        """Related-object filters given by name offer the user's brands' rows only."""
        scoped = []
        for item in super().get_list_filter(request):
            if isinstance(item, str):
                try:
                    field = get_fields_from_path(self.model, item)[-1]
                except (FieldDoesNotExist, NotRelationField):
                    field = None
                if field is not None and field.is_relation and brand_lookup_for(field.related_model):
                    item = (item, BrandScopedRelatedFieldListFilter)
            scoped.append(item)
        return scoped

    def get_list_display(self, request):
        """Staff of several brands (and superusers) see which brand each row belongs to."""
        list_display = list(super().get_list_display(request))
        if self.shows_brand_column(request) and "brand" not in list_display:
            list_display.insert(1, "brand")
        return list_display

    def get_list_select_related(self, request):
        select_related = super().get_list_select_related(request)
        if self.shows_brand_column(request) and isinstance(select_related, list | tuple):
            select_related = (*select_related, "brand") if "brand" not in select_related else select_related
        return select_related

    def shows_brand_column(self, request) -> bool:
        if brand_lookup_for(self.model) != "brand_id":
            return False
        ids = brand_ids_for_user(request.user)
        return ids is None or len(ids) > 1

    def get_object(self, request, object_id, from_field=None):
        """Another brand's row (or a missing one) is a plain 404."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(gettext("This object does not exist or belongs to another brand."))
        return obj

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return super().has_view_permission(request, obj)
        brand_id = self.brand_id_of(obj)
        return self.user_may_in_brand(request, "view", brand_id) or self.user_may_in_brand(
            request, "change", brand_id
        )

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request, obj)
        return self.user_may_in_brand(request, "change", self.brand_id_of(obj))

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return super().has_delete_permission(request, obj)
        return self.user_may_in_brand(request, "delete", self.brand_id_of(obj))

    def get_readonly_fields(self, request, obj=None):
        """A row never moves to another brand: its related rows would stay behind."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and brand_lookup_for(self.model) == "brand_id" and "brand" not in fields:
            fields.append("brand")
        return fields

    def get_changeform_initial_data(self, request):
        """A staff member of exactly one brand gets it pre-filled on add forms."""
        initial = super().get_changeform_initial_data(request)
        if brand_lookup_for(self.model) == "brand_id" and "brand" not in initial:
            ids = brand_ids_for_user(request.user)
            if ids is not None and len(ids) == 1:
                initial["brand"] = ids[0]
        return initial

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The chosen brand must be one where the user's role may add (or change) this kind of row."""
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if brand_lookup_for(self.model) != "brand_id" or "brand" not in form_class.base_fields:
            return form_class
        model_admin = self
        action = "change" if obj is not None else "add"

        class BrandPermissionForm(form_class):
            def clean(self):
                cleaned_data = super().clean()
                brand = cleaned_data.get("brand")
                if brand is not None and not model_admin.user_may_in_brand(request, action, brand.pk):
                    self.add_error(
                        "brand",
                        ValidationError(
                            _("Your role in %(brand)s does not allow adding or changing %(model)s."),
                            code="brand_permission",
                            params={"brand": brand, "model": model_admin.opts.verbose_name_plural},
                        ),
                    )
                return cleaned_data

        BrandPermissionForm.__name__ = form_class.__name__
        return BrandPermissionForm

    def save_model(self, request, obj, form, change):
        """Last line of defence (list_editable saves never go through the change view)."""
        self.check_may_write(request, obj, "change" if change else "add")
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        self.check_may_write(request, obj, "delete")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        ids = brand_ids_for_user(request.user)
        if ids is not None:
            brand_ids = set(queryset.values_list(brand_lookup_for(self.model) or "pk", flat=True))
            if any(not self.user_may_in_brand(request, "delete", b) for b in brand_ids):
                raise PermissionDenied
        super().delete_queryset(request, queryset)

    def check_may_write(self, request, obj, action: str) -> None:
        if brand_lookup_for(self.model) is None:
            return
        if not self.user_may_in_brand(request, action, self.brand_id_of(obj)):
            raise PermissionDenied


class BrandScopedInline(_BrandScopedBase):
    """Base for inlines of brand-owned rows: scoped like the admin; new rows take the parent's brand.

    Use with admin.TabularInline or admin.StackedInline, e.g. `class ItemInline(BrandScopedTabularInline)`.
    The inline's form leaves `brand` out; the parent's brand is set on each row before validation so that
    BrandOwnedModel.clean() can compare the row's other foreign keys with it.
    """

    exclude = ("brand",)

    def get_formset(self, request, obj=None, **kwargs):
        formset_class = super().get_formset(request, obj, **kwargs)

        class BrandInlineFormSet(formset_class):
            def add_fields(self, form, index):
                super().add_fields(form, index)
                parent_brand_id = getattr(self.instance, "brand_id", None)
                if form.instance.brand_id is None and parent_brand_id is not None:
                    form.instance.brand_id = parent_brand_id

        BrandInlineFormSet.__name__ = formset_class.__name__
        return BrandInlineFormSet

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return super().has_view_permission(request, obj)
        brand_id = self.brand_id_of(obj)
        return self.user_may_in_brand(request, "view", brand_id) or self.user_may_in_brand(
            request, "change", brand_id
        )

    def has_add_permission(self, request, obj=None):
        if obj is None:
            return super().has_add_permission(request, obj)
        return self.user_may_in_brand(request, "add", self.brand_id_of(obj))

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request, obj)
        return self.user_may_in_brand(request, "change", self.brand_id_of(obj))

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            return super().has_delete_permission(request, obj)
        return self.user_may_in_brand(request, "delete", self.brand_id_of(obj))


class BrandScopedTabularInline(BrandScopedInline, admin.TabularInline):
    pass


class BrandScopedStackedInline(BrandScopedInline, admin.StackedInline):
    pass
