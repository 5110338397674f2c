"""django-celery-beat in the admin, scoped by brand.

- Superusers see and edit every periodic task and schedule, as django-celery-beat's own admin offers them.
- A brand manager sees their brands' periodic tasks only (those whose kwargs are {"brand_id": N}) and may
  switch them on or off and move them to another time of day; nothing else. Schedules are shared between
  brands, so only superusers see them: a manager's new time gets a schedule of its own (or a shared one
  already at that time), never an edit of a schedule another brand uses.
- Other staff (viewers, analysts, staff without a brand) see none of it.

Registered on import: apps.audit.admin imports this module (the admin autodiscovery imports apps' `admin`
modules only).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from apps.analytics import schedules
from apps.core.scoping import brand_ids_with_role

MANAGER = "manager"
BRAND_CHANGE_FORM = "admin/django_celery_beat/periodictask/brand_change_form.html"
MANAGER_ACTIONS = ("enable_tasks", "disable_tasks")


def managed_brand_ids(user) -> list[int] | None:
    """Brands whose periodic tasks the user may see and edit: None for superusers (all), else those they manage."""
    return brand_ids_with_role(user, MANAGER)


def _is_superuser(request) -> bool:
    return managed_brand_ids(request.user) is None


class BrandScheduleForm(forms.ModelForm):
    """What a brand manager may change: on or off, and the time of day."""

    run_at = forms.TimeField(
        label=_("time of day"),
        required=True,
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(format="%H:%M", attrs={"placeholder": "02:30", "size": 6}),
        help_text=_("Every day at this time (HH:MM, 24-hour clock), in the schedule's time zone."),
    )

    class Meta:
        model = PeriodicTask
        fields = ("enabled",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "run_at" not in self.initial:
            time = schedules.daily_time_of(self.instance)
            if time is not None:
                self.initial["run_at"] = f"{time[0]:02d}:{time[1]:02d}"


class BrandPeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    # --- who sees what ----------------------------------------------------------------------------

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        ids = managed_brand_ids(request.user)
        if ids is None:
            return queryset
        return queryset.filter(pk__in=schedules.brand_periodic_tasks(ids).values("pk"))

    def get_object(self, request, object_id, from_field=None):
        """Another brand's task (or a missing one) is a plain 404, as everywhere in this admin."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(gettext("This object does not exist or belongs to another brand."))
        return obj

    def _may_manage(self, request, obj) -> bool:
        ids = managed_brand_ids(request.user)
        if ids is None:
            return True
        if obj is None:
            return bool(ids)
        return schedules.brand_id_of_task(obj) in ids

    def has_module_permission(self, request):
        if _is_superuser(request):
            return super().has_module_permission(request)
        return self._may_manage(request, None)

    def has_view_permission(self, request, obj=None):
        if _is_superuser(request):
            return super().has_view_permission(request, obj)
        return self._may_manage(request, obj)

    def has_change_permission(self, request, obj=None):
        if _is_superuser(request):
            return super().has_change_permission(request, obj)
        return self._may_manage(request, obj)

    def has_add_permission(self, request):
        return _is_superuser(request) and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return _is_superuser(request) and super().has_delete_permission(request, obj)

    # --- what a brand manager gets: on/off and the time of day -------------------------------------

    def get_fieldsets(self, request, obj=None):
        if _is_superuser(request):
            return super().get_fieldsets(request, obj)
        return ((None, {"fields": ("name", "description", "enabled", "run_at", "runs", "last_run_at")}),)

    def get_readonly_fields(self, request, obj=None):
        if _is_superuser(request):
            return super().get_readonly_fields(request, obj)
        return ("name", "description", "runs", "last_run_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if not _is_superuser(request):
            kwargs["form"] = BrandScheduleForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_list_display(self, request):
        if _is_superuser(request):
            return super().get_list_display(request)
        return ("name", "enabled", "runs", "last_run_at")

    def get_list_filter(self, request):
        if _is_superuser(request):
            return super().get_list_filter(request)
        return ("enabled",)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if _is_superuser(request):
            return actions
        return {name: action for name, action in actions.items() if name in MANAGER_ACTIONS}

    @admin.display(description=_("runs"))
    def runs(self, obj):
        time = schedules.daily_time_of(obj)
        if time is not None:
            return _("Every day at %(time)s (%(zone)s)") % {
                "time": f"{time[0]:02d}:{time[1]:02d}",
                "zone": obj.crontab.timezone,
            }
        for schedule in (obj.crontab, obj.interval, obj.solar, obj.clocked):
            if schedule is not None:
                return str(schedule)
        return "-"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if _is_superuser(request):
            return super().changeform_view(request, object_id, form_url, extra_context)
        # django-celery-beat's view lists every schedule for its script; a manager's form has no schedule field
        return admin.ModelAdmin.changeform_view(self, request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        response = super().render_change_form(request, context, add, change, form_url, obj)
        if not _is_superuser(request):
            response.template_name = [BRAND_CHANGE_FORM]
        return response

    def save_model(self, request, obj, form, change):
        if _is_superuser(request):
            super().save_model(request, obj, form, change)
            return
        if not change or not self._may_manage(request, obj):
            raise PermissionDenied
        run_at = form.cleaned_data["run_at"]
        schedules.brand_task_schedule_set(
            task=obj, hour=run_at.hour, minute=run_at.minute, enabled=form.cleaned_data["enabled"]
        )


class SuperuserOnlyMixin:
    """Schedules are shared by every brand's tasks: only superusers see or edit them."""

    def has_module_permission(self, request):
        return _is_superuser(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _is_superuser(request) and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return _is_superuser(request) and super().has_change_permission(request, obj)

    def has_add_permission(self, request):
        return _is_superuser(request) and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return _is_superuser(request) and super().has_delete_permission(request, obj)


class CrontabScheduleAdmin(SuperuserOnlyMixin, beat_admin.CrontabScheduleAdmin):
    pass


class IntervalScheduleAdmin(SuperuserOnlyMixin, beat_admin.IntervalScheduleAdmin):
    pass


class SolarScheduleAdmin(SuperuserOnlyMixin, beat_admin.SolarScheduleAdmin):
    pass


class ClockedScheduleAdmin(SuperuserOnlyMixin, beat_admin.ClockedScheduleAdmin):
    pass


def register(site=admin.site) -> None:
    """Put the scoped admins in place of django-celery-beat's own ones."""
    for model, model_admin in (
        (PeriodicTask, BrandPeriodicTaskAdmin),
        (CrontabSchedule, CrontabScheduleAdmin),
        (IntervalSchedule, IntervalScheduleAdmin),
        (SolarSchedule, SolarScheduleAdmin),
        (ClockedSchedule, ClockedScheduleAdmin),
    ):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)


register()
