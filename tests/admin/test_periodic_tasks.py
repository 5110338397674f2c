"""django-celery-beat in the admin: superusers see and edit everything; a brand manager sees their brands'
periodic tasks only and may switch them on or off and move them to another time; other staff see nothing."""

import pytest
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.analytics.schedules import periodic_tasks_sync
from tests.admin.conftest import staff

pytestmark = pytest.mark.django_db

TASKS = reverse("admin:django_celery_beat_periodictask_changelist")
CRONTABS = reverse("admin:django_celery_beat_crontabschedule_changelist")


def task_url(task, view="change"):
    return reverse(f"admin:django_celery_beat_periodictask_{view}", args=[task.pk])


@pytest.fixture
def tasks(brand, other_brand):
    """The nightly refresh of Acme and Rival, as setup_periodic_tasks makes them, and a task of no brand."""
    periodic_tasks_sync()
    housekeeping = PeriodicTask.objects.create(
        name="housekeeping", task="core.cleanup", crontab=CrontabSchedule.objects.create(minute="0", hour="5")
    )
    return {
        "acme": PeriodicTask.objects.get(name="refresh scores: acme"),
        "rival": PeriodicTask.objects.get(name="refresh scores: rival"),
        "other": housekeeping,
    }


def listed(response):
    assert response.status_code == 200
    return {t.name for t in response.context["cl"].result_list}


def app_labels(client):
    return {app["app_label"] for app in client.get(reverse("admin:index")).context["app_list"]}


def test_superuser_sees_and_edits_every_task_and_schedule(login, superuser, tasks):
    client = login(superuser)
    assert listed(client.get(TASKS)) == {
        "refresh scores: acme",
        "refresh scores: rival",
        "housekeeping",
        # every brand's follow-up safety nets (no brand's staff see them)
        "send due follow-up touches",
        "attribute orders to follow-up touches",
        "delete expired customer exports",
    }
    assert client.get(CRONTABS).status_code == 200
    page = client.get(task_url(tasks["rival"]))
    assert page.status_code == 200
    assert "crontab" in page.context["adminform"].form.fields  # django-celery-beat's full form
    assert client.get(reverse("admin:django_celery_beat_periodictask_add")).status_code == 200


def test_a_manager_sees_their_brands_task_only(login, acme_manager, tasks):
    client = login(acme_manager)
    assert listed(client.get(TASKS)) == {"refresh scores: acme"}
    assert client.get(task_url(tasks["rival"])).status_code == 404
    assert client.get(task_url(tasks["other"])).status_code == 404
    # the nightly refresh is switched off, not deleted (the next sync would bring it back)
    assert client.post(task_url(tasks["acme"], "delete"), {"post": "yes"}).status_code == 403
    # schedules are shared by every brand: not for managers
    assert client.get(CRONTABS).status_code == 403
    assert "django_celery_beat" in app_labels(client)
    page = client.get(task_url(tasks["acme"]))
    assert page.status_code == 200
    assert set(page.context["adminform"].form.fields) == {"enabled", "run_at", "days"}
    assert page.context["adminform"].form["run_at"].value() == "02:30"
    assert "Every day at 02:30 (Asia/Shanghai)" in page.content.decode()


def test_a_manager_moves_their_refresh_and_switches_it_off_without_touching_other_brands(
    login, acme_manager, tasks
):
    shared = tasks["acme"].crontab
    assert tasks["rival"].crontab_id == shared.pk  # both brands run at 02:30 Shanghai time
    response = login(acme_manager).post(task_url(tasks["acme"]), {"run_at": "04:15"})  # unchecked: disabled
    assert response.status_code == 302, response.context["adminform"].form.errors
    acme, rival = (PeriodicTask.objects.get(pk=tasks[k].pk) for k in ("acme", "rival"))
    assert (acme.crontab.hour, acme.crontab.minute, str(acme.crontab.timezone), acme.enabled) == (
        "4",
        "15",
        "Asia/Shanghai",
        False,
    )
    assert (rival.crontab_id, rival.enabled) == (shared.pk, True)
    shared.refresh_from_db()
    assert (shared.hour, shared.minute) == ("2", "30")
    # and the nightly sync keeps the manager's choice
    periodic_tasks_sync()
    acme.refresh_from_db()
    assert (acme.crontab.hour, acme.crontab.minute, acme.enabled) == ("4", "15", False)


ADD = reverse("admin:django_celery_beat_periodictask_add")


def test_a_manager_adds_a_refresh_after_the_evening_stream_and_deletes_it(login, brand, acme_manager, tasks):
    client = login(acme_manager)
    form = client.get(ADD).context["adminform"].form
    assert set(form.fields) == {"brand", "what", "run_at", "days", "enabled"}
    assert [b.slug for b in form.fields["brand"].queryset] == ["acme"]  # their brands only
    response = client.post(
        ADD,
        {
            "brand": brand.pk,
            "what": "analytics.refresh_scores",
            "run_at": "23:30",
            "days": ["5", "6"],
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    added = PeriodicTask.objects.get(name="refresh scores: acme at 23:30 on days 5,6")
    assert (added.task, added.kwargs, added.enabled) == (
        "analytics.refresh_scores",
        f'{{"brand_id": {brand.pk}}}',
        True,
    )
    assert (added.crontab.hour, added.crontab.minute, added.crontab.day_of_week) == ("23", "30", "5,6")
    assert str(added.crontab.timezone) == "Asia/Shanghai"
    listing = client.get(TASKS)
    assert listed(listing) == {"refresh scores: acme", added.name}
    assert "Friday, Saturday at 23:30 (Asia/Shanghai)" in listing.content.decode()
    # the same task at the same time again is a form error, not a second task
    again = client.post(
        ADD, {"brand": brand.pk, "what": "analytics.refresh_scores", "run_at": "23:30", "days": ["6", "5"]}
    )
    assert again.status_code == 200 and "run_at" in again.context["adminform"].form.errors
    # moved to every day, then deleted (a task they added may go)
    response = client.post(task_url(added), {"run_at": "22:00", "enabled": "on"})
    assert response.status_code == 302
    added.refresh_from_db()
    assert (added.crontab.hour, added.crontab.day_of_week) == ("22", "*")
    assert client.post(task_url(added, "delete"), {"post": "yes"}).status_code == 302
    assert not PeriodicTask.objects.filter(pk=added.pk).exists()


def test_a_manager_cannot_add_a_task_for_another_brand(login, other_brand, acme_manager, tasks):
    before = PeriodicTask.objects.count()
    response = login(acme_manager).post(
        ADD, {"brand": other_brand.pk, "what": "analytics.refresh_scores", "run_at": "23:30"}
    )
    assert response.status_code == 200 and "brand" in response.context["adminform"].form.errors
    response = login(acme_manager).post(
        ADD, {"brand": other_brand.pk, "what": "core.anything", "run_at": "23:30"}
    )
    assert "what" in response.context["adminform"].form.errors
    assert PeriodicTask.objects.count() == before


def test_a_bad_time_is_refused_with_a_form_error(login, acme_manager, tasks):
    response = login(acme_manager).post(task_url(tasks["acme"]), {"run_at": "25:00", "enabled": "on"})
    assert response.status_code == 200
    assert "run_at" in response.context["adminform"].form.errors
    tasks["acme"].refresh_from_db()
    assert tasks["acme"].crontab.hour == "2"


def test_a_manager_cannot_post_to_another_brands_task(login, rival_manager, tasks):
    response = login(rival_manager).post(task_url(tasks["acme"]), {"run_at": "04:00"})
    assert response.status_code == 404
    tasks["acme"].refresh_from_db()
    assert (tasks["acme"].crontab.hour, tasks["acme"].enabled) == ("2", True)


def test_the_enable_and_disable_actions_reach_the_managers_own_tasks_only(login, acme_manager, tasks):
    client = login(acme_manager)
    actions = client.get(TASKS).context["cl"].model_admin.get_actions(client.get(TASKS).wsgi_request)
    assert set(actions) == {"enable_tasks", "disable_tasks"}
    response = client.post(
        TASKS, {"action": "disable_tasks", "_selected_action": [tasks["acme"].pk, tasks["rival"].pk]}
    )
    assert response.status_code == 302
    enabled = dict(PeriodicTask.objects.values_list("name", "enabled"))
    assert (enabled["refresh scores: acme"], enabled["refresh scores: rival"]) == (False, True)


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_other_staff_see_no_periodic_task(login, brand, tasks, role):
    client = login(staff(f"acme-{role}", (brand, role)))
    assert client.get(TASKS).status_code == 403
    assert client.get(task_url(tasks["acme"])).status_code == 404
    assert client.get(CRONTABS).status_code == 403
    assert "django_celery_beat" not in app_labels(client)


def test_staff_of_no_brand_see_no_periodic_task(login, tasks):
    client = login(staff("loner"))
    assert client.get(TASKS).status_code == 403
    assert "django_celery_beat" not in app_labels(client)
