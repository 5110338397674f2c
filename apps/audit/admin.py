"""The audit trail in the admin: read-only and scoped to the staff member's brands.

Whoever may see a brand's tiers may see the history of its tiers, benefits, links, rules and grants. Nobody
adds, changes or deletes an event, superusers included (only deleting a whole brand takes its events along).
"""

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from apps.audit.models import AuditEvent
from apps.core.admin import BrandScopedAdmin
from apps.core.scoping import brand_ids_for_user, user_may

# The permission (from the role in the event's brand) that shows a brand's audit trail.
VIEW_PERMISSION = "loyalty.view_tier"


def _value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _model_of(object_type: str):
    """The model an event's object type names (from the audit trail's own list of audited models)."""
    from django.apps import apps as django_apps

    from apps.audit.services import AUDITED

    for label, (kind, _fields) in AUDITED.items():
        if kind == object_type:
            return django_apps.get_model(label)
    return None


def _field(model, name):
    try:
        return model._meta.get_field(name) if model is not None else None
    except Exception:  # noqa: BLE001 - a field renamed since the event: shown by its stored name
        return None


def _words(event, name: str, value, *, names: bool) -> tuple[str, str]:
    """A change in words: the field's label, and the value as staff read it (a choice's label; with `names`,
    a related row's name instead of its id; yes/no)."""
    from django.utils.translation import gettext

    field = _field(_model_of(event.object_type), name)
    if field is None:
        return name, _value(value)
    label = str(field.verbose_name)
    if value is None or value == "":
        return label, "-"
    if field.choices:
        return label, str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return label, gettext("yes") if value else gettext("no")
    if field.many_to_one and names and isinstance(value, int):
        row = field.related_model._default_manager.filter(pk=value).first()
        if row is not None:
            # a customer by their external id: their name is personal data, which the trail never shows
            personal = row._meta.label_lower == "customers.customer"
            shown = str(row) if personal else (getattr(row, "display_name", None) or str(row))
            return label, str(shown)
    return label, _value(value)


@admin.register(AuditEvent)
class AuditEventAdmin(BrandScopedAdmin):
    list_display = ("occurred_at", "actor", "action", "object_type", "object_repr", "changes_summary")
    list_display_links = ("occurred_at",)
    list_filter = (
        "brand",
        "action",
        "object_type",
        "actor_kind",
        ("actor_label", admin.AllValuesFieldListFilter),
    )
    search_fields = ("object_repr",)
    date_hierarchy = "occurred_at"
    ordering = ("-occurred_at", "-pk")
    list_select_related = ()
    show_full_result_count = False
    fields = ("occurred_at", "actor", "action", "object_type", "object_id", "object_repr", "changes_table")
    readonly_fields = fields
    actions = None

    @admin.display(description=_("who"), ordering="actor_label")
    def actor(self, obj):
        if obj.actor_kind == "system":
            return obj.get_actor_kind_display()
        return format_html("{} <small>({})</small>", obj.actor_label, obj.get_actor_kind_display())

    @admin.display(description=_("changes"))
    def changes_summary(self, obj):
        parts = []
        for name, (old, new) in obj.changes.items():
            label, before = _words(obj, name, old, names=False)
            _label, after = _words(obj, name, new, names=False)
            parts.append(f"{label}: {before} → {after}")
        return Truncator("; ".join(parts)).chars(120)

    @admin.display(description=_("changes"))
    def changes_table(self, obj):
        if not obj.changes:
            return "-"
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (
                    _words(obj, name, old, names=True)[0],
                    _words(obj, name, old, names=True)[1],
                    _words(obj, name, new, names=True)[1],
                )
                for name, (old, new) in obj.changes.items()
            ),
        )
        return format_html(
            '<table class="audit-changes"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            _("field"),
            _("before"),
            _("after"),
            rows,
        )

    # Read-only for everyone; visible to members of the event's brand.

    def user_may_in_brand(self, request, action: str, brand_id) -> bool:
        return action == "view" and brand_id is not None and user_may(request.user, brand_id, VIEW_PERMISSION)

    def _may_view_any(self, request) -> bool:
        ids = brand_ids_for_user(request.user)
        if ids is None:
            return True
        return any(user_may(request.user, pk, VIEW_PERMISSION) for pk in ids)

    def has_module_permission(self, request):
        return self._may_view_any(request)

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return self._may_view_any(request)
        return self.user_may_in_brand(request, "view", obj.brand_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        """No one deletes an event on its own. Events go with their brand: a superuser deleting a brand (from
        the brand's pages) is allowed to take its audit trail along."""
        match = getattr(request, "resolver_match", None)
        own_page = match is not None and (match.url_name or "").startswith("audit_auditevent_")
        user = request.user
        return bool(obj is not None and not own_page and user.is_active and user.is_superuser)
