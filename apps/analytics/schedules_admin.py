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
from apps.brands.models import Brand
from apps.core.scoping import brand_ids_with_role

MANAGER = "manager"
BRAND_CHANGE_FORM = "admin/django_celery_beat/periodictask/brand_change_form.html"
MANAGER_ACTIONS = ("enable_tasks", "disable_tasks")


def managed_brand_ids(user) -> list[int] | None:
    """Brands whose periodic tasks the user may see and edit: None for superusers (all), else those they manage."""
    return brand_ids_with_role(user, MANAGER)


def _is_superuser(request) -> bool:
    return managed_brand_ids(request.user) is None


WEEKDAY_CHOICES = [
    ("1", _("Monday")),
    ("2", _("Tuesday")),
    ("3", _("Wednesday")),
    ("4", _("Thursday")),
    ("5", _("Friday")),
    ("6", _("Saturday")),
    ("0", _("Sunday")),
]


class BrandScheduleForm(forms.ModelForm):
    """What a brand manager may change: on or off, the time of day and the days of the week."""

    run_at = forms.TimeField(
        label=_("time of day"),
        required=True,
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(format="%H:%M", attrs={"placeholder": "02:30", "size": 6}),
        help_text=_("At this time (HH:MM, 24-hour clock), in the schedule's time zone."),
    )
    days = forms.MultipleChoiceField(
        label=_("days of the week"),
        choices=WEEKDAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every day."),
    )

    class Meta:
        model = PeriodicTask
        fields = ("enabled",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "run_at" not in self.initial:
            when = schedules.time_and_days_of(self.instance)
            if when is not None:
                self.initial["run_at"] = f"{when[0]:02d}:{when[1]:02d}"
                self.initial["days"] = when[2]


class BrandTaskAddForm(BrandScheduleForm):
    """A manager's new periodic task: which brand (when they manage several), what, when."""

    brand = forms.ModelChoiceField(label=_("brand"), queryset=None, empty_label=None)
    what = forms.ChoiceField(label=_("task"), choices=())

    class Meta(BrandScheduleForm.Meta):
        fields = ("enabled",)

    def __init__(self, *args, brands=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["brand"].queryset = brands
        self.fields["what"].choices = [(k, str(v)) for k, v in schedules.MANAGER_TASKS.items()]
        self.fields["enabled"].initial = True
        order = ["brand", "what", "run_at", "days", "enabled"]
        self.order_fields(order)

    def clean(self):
        data = super().clean()
        brand, run_at, what = data.get("brand"), data.get("run_at"), data.get("what")
        if brand is not None and run_at is not None and what:
            name = schedules.brand_task_name(
                brand=brand, task=what, hour=run_at.hour, minute=run_at.minute, days=data.get("days")
            )
            if PeriodicTask.objects.filter(name=name).exists():
                self.add_error("run_at", _("The brand already has this task at this time."))
        return data

    def _post_clean(self):
        """No model validation of the bare instance: schedules.brand_task_add builds and saves the task (with
        its schedule) from the cleaned data."""


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
        if _is_superuser(request):
            return super().has_add_permission(request)
        return self._may_manage(request, None)

    def has_delete_permission(self, request, obj=None):
        """Managers delete the tasks they added; the brand's nightly refresh can be switched off, not deleted."""
        if _is_superuser(request):
            return super().has_delete_permission(request, obj)
        if obj is None:
            return False  # no bulk delete from the list
        return self._may_manage(request, obj) and not schedules.is_default_task(obj)

    # --- what a brand manager gets: add a task; on/off, the time of day and the days ---------------------

    def get_fieldsets(self, request, obj=None):
        if _is_superuser(request):
            return super().get_fieldsets(request, obj)
        if obj is None:
            return ((None, {"fields": ("brand", "what", "run_at", "days", "enabled")}),)
        return ((None, {"fields": ("what_label", "enabled", "run_at", "days", "runs", "last_run_at")}),)

    def get_readonly_fields(self, request, obj=None):
        if _is_superuser(request):
            return super().get_readonly_fields(request, obj)
        return () if obj is None else ("what_label", "runs", "last_run_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if _is_superuser(request):
            return super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            brands = Brand.objects.filter(pk__in=managed_brand_ids(request.user)).order_by("name")
            kwargs["form"] = BrandTaskAddForm
            kwargs["fields"] = ("enabled",)
            base = super().get_form(request, obj, change=change, **kwargs)

            class AddForm(base):
                def __init__(self, *args, **kw):
                    super().__init__(*args, brands=brands, **kw)

            return AddForm
        kwargs["form"] = BrandScheduleForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_list_display(self, request):
        if _is_superuser(request):
            return super().get_list_display(request)
        return ("what_label", "brand_label", "enabled", "runs", "last_run_at")

    @admin.display(description=_("task"))
    def what_label(self, obj):
        return schedules.MANAGER_TASKS.get(obj.task, obj.name)

    @admin.display(description=_("brand"))
    def brand_label(self, obj):
        brand_id = schedules.brand_id_of_task(obj)
        return Brand.objects.filter(pk=brand_id).values_list("name", flat=True).first() or "-"

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
        when = schedules.time_and_days_of(obj)
        if when is not None:
            values = {"time": f"{when[0]:02d}:{when[1]:02d}", "zone": obj.crontab.timezone}
            if not when[2]:
                return _("Every day at %(time)s (%(zone)s)") % values
            names = dict(WEEKDAY_CHOICES)
            values["days"] = gettext(", ").join(str(names[d]) for d in when[2])
            return _("%(days)s at %(time)s (%(zone)s)") % values
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
        data = form.cleaned_data
        run_at = data["run_at"]
        if not change:
            if data["brand"].pk not in (managed_brand_ids(request.user) or []):
                raise PermissionDenied
            created = schedules.brand_task_add(
                brand=data["brand"],
                task=data["what"],
                hour=run_at.hour,
                minute=run_at.minute,
                days=data.get("days"),
                enabled=data["enabled"],
            )
            for field in PeriodicTask._meta.concrete_fields:  # the admin's message and log name it
                setattr(obj, field.attname, getattr(created, field.attname))
            obj._state.adding = False
            return
        if not self._may_manage(request, obj):
            raise PermissionDenied
        schedules.brand_task_schedule_set(
            task=obj,
            hour=run_at.hour,
            minute=run_at.minute,
            enabled=data["enabled"],
            days=data.get("days"),
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
