"""Exporting the customer list to CSV and Excel: the selected rows or the whole filtered list, names and phones
masked by role, formula-like cells quoted, every export audited without personal data; a large list is
written in the background (tasks run eagerly here; tests/customers/test_exports_worker.py uses a real
worker) with a progress page, a download for its owner only, and files that expire."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from django.urls import reverse

from apps.analytics.schedules import GLOBAL_SCHEDULES
from apps.audit.models import AuditEvent
from apps.brands.services import membership_remove, membership_set
from apps.customers.admin import exports
from apps.customers.models import Customer, ExportJob
from apps.customers.tasks import cleanup_exports_task, export_customers_task
from tests.admin.conftest import changelist_url, staff
from tests.factories import CustomerFactory, UserFactory, make_run, make_score

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT = reverse("admin:customers_customer_export")


@pytest.fixture
def export_root(tmp_path, settings, monkeypatch):
    root = tmp_path / "exports"
    settings.EXPORTS_ROOT = str(root)
    monkeypatch.setenv("EXPORTS_ROOT", str(root))
    return root


def workbook_rows(content: bytes) -> list[dict]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def csv_rows(content: bytes) -> list[dict]:
    text = content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def progress_url(job) -> str:
    return reverse("admin:customers_exportjob_change", args=[job.pk])


def download_url(job) -> str:
    return reverse("admin:customers_exportjob_download", args=[job.pk])


# --- at once -------------------------------------------------------------------------------------------------


def test_excel_export_of_selected_rows_masks_by_role_quotes_formulas_and_keeps_numbers(client, brand):
    first = CustomerFactory(brand=brand, external_id="C-1", display_name="林小雅", phone="13800001111")
    formula = CustomerFactory(
        brand=brand, external_id="C-2", display_name='=HYPERLINK("http://x")\x07', phone="13900002222"
    )
    CustomerFactory(brand=brand, external_id="C-3")  # not selected
    make_score(make_run(brand), first, stage="growth", churn=0.42, clv=123.5)

    def export(user) -> dict:
        client.force_login(user)
        response = client.post(
            changelist_url(Customer),
            {
                "action": "export_xlsx",
                "select_across": "0",
                "index": "0",
                "_selected_action": [first.pk, formula.pk],
            },
        )
        assert response.status_code == 200 and response["Content-Type"] == XLSX
        return {row["customer id"]: row for row in workbook_rows(response.content)}

    rows = export(staff("mei", (brand, "viewer")))
    assert sorted(rows) == ["C-1", "C-2"]
    assert rows["C-1"]["phone"] == "138****1111" and rows["C-1"]["display name"] == "林**"
    assert rows["C-1"]["churn risk"] == pytest.approx(0.42) and rows["C-1"]["CLV"] == pytest.approx(123.5)
    assert rows["C-1"]["lifecycle stage"] == "Growth"
    rows = export(staff("lin", (brand, "manager")))
    assert rows["C-1"]["phone"] == "13800001111" and rows["C-1"]["display name"] == "林小雅"
    # never run as a formula, and the control character a workbook cannot hold is dropped
    assert rows["C-2"]["display name"] == '\'=HYPERLINK("http://x")'
    assert rows["C-2"]["churn risk"] is None
    events = AuditEvent.objects.filter(brand=brand, action="exported").order_by("pk")
    assert [(e.changes["rows"][1], e.changes["personal_data"][1]) for e in events] == [(2, False), (2, True)]


def test_the_whole_filtered_list_is_exported_past_the_first_page_in_a_fixed_number_of_queries(
    client, brand, django_assert_num_queries
):
    for i in range(130):
        CustomerFactory(brand=brand, external_id=f"F{i:03d}", gender="female", phone="")
    CustomerFactory(brand=brand, external_id="M1", gender="male")
    client.force_login(staff("lin", (brand, "manager")))
    client.get(changelist_url(Customer))  # session and CSRF settled
    # the list shows 100 a page; its button exports all of them
    page = client.get(changelist_url(Customer), {"gender__exact": "female"}).content.decode()
    assert f'action="{EXPORT}?gender__exact=female"' in page
    with django_assert_num_queries(10):
        response = client.post(f"{EXPORT}?gender__exact=female", {"export_format": "csv"})
        rows = csv_rows(b"".join(response.streaming_content))
    assert len(rows) == 130 and {r["customer id"][0] for r in rows} == {"F"}
    event = AuditEvent.objects.get(brand=brand, action="exported")
    assert (event.changes["rows"][1], event.changes["filters"][1]) == (130, "gender__exact=female")
    response = client.post(f"{EXPORT}?gender__exact=female", {"export_format": "xlsx"})
    assert response["Content-Type"] == XLSX and len(workbook_rows(response.content)) == 130


def test_a_search_term_stays_out_of_the_audit_trail_and_bad_input_is_named(client, brand):
    CustomerFactory(brand=brand, external_id="C-1", phone="13800001111")
    client.force_login(staff("lin", (brand, "manager")))
    response = client.post(f"{EXPORT}?q=13800001111", {"export_format": "csv"})
    assert [r["customer id"] for r in csv_rows(b"".join(response.streaming_content))] == ["C-1"]
    event = AuditEvent.objects.get(brand=brand, action="exported")
    assert "13800001111" not in str(event.changes) and event.changes["filters"][1] == "q=%5Bwithheld%5D"
    # an unknown format or filter: a message, nothing exported
    response = client.post(EXPORT, {"export_format": "pdf"}, follow=True)
    assert "Choose CSV or Excel" in response.content.decode()
    response = client.post(f"{EXPORT}?nonsense=1", {"export_format": "csv"}, follow=True)
    assert "filters are not valid" in response.content.decode()
    assert client.get(EXPORT).status_code == 405
    assert AuditEvent.objects.filter(brand=brand, action="exported").count() == 1


# --- in the background -------------------------------------------------------------------------------------------


def test_a_large_list_is_exported_in_the_background_with_progress_and_only_its_owner_downloads_it(
    client, brand, settings, export_root, django_capture_on_commit_callbacks
):
    settings.CLV_EXPORT_BACKGROUND_ROWS = 5
    for i in range(8):
        CustomerFactory(brand=brand, external_id=f"F{i}", gender="female", phone=f"1380000000{i}")
    CustomerFactory(brand=brand, external_id="M1", gender="male")
    owner = staff("lin", (brand, "manager"))
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(f"{EXPORT}?gender__exact=female", {"export_format": "xlsx"})
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response.url == progress_url(job)
    assert (job.brand_id, job.user_id, job.filters, job.format) == (
        brand.pk,
        owner.pk,
        "gender__exact=female",
        "xlsx",
    )
    # the progress page polls while the job waits for a worker
    page = client.get(progress_url(job))
    assert page.status_code == 200 and "?poll=1" in page.content.decode() and page.context["running"]
    assert client.get(progress_url(job), {"poll": "1"}).json()["status"] == "queued"
    assert not AuditEvent.objects.filter(action="exported").exists()
    # the worker runs it
    for callback in queued:
        callback()
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.rows_total, job.personal_data) == ("done", 8, 8, True)
    assert job.expires_at - job.finished_at == timedelta(days=7)
    assert Path(job.file.path).is_file() and str(export_root) in job.file.path
    state = client.get(progress_url(job), {"poll": "1"}).json()
    assert (state["status"], state["percent"], state["download_url"]) == ("done", 100, download_url(job))
    assert download_url(job) in client.get(progress_url(job)).content.decode()
    download = client.get(download_url(job))
    assert download.status_code == 200 and download["Content-Type"] == XLSX
    rows = workbook_rows(b"".join(download.streaming_content))
    assert sorted(r["customer id"] for r in rows) == [f"F{i}" for i in range(8)]
    assert rows[0]["phone"].startswith("1380000000")  # a manager's file holds phones in full
    event = AuditEvent.objects.get(brand=brand, action="exported")
    assert (event.actor_user_id, event.changes["rows"][1], event.changes["personal_data"][1]) == (
        owner.pk,
        8,
        True,
    )
    # another staff member of the brand neither sees nor downloads it
    client.force_login(staff("mei", (brand, "manager")))
    assert (
        client.get(progress_url(job)).status_code == 404 and client.get(download_url(job)).status_code == 404
    )
    assert list(client.get(reverse("admin:customers_exportjob_changelist")).context["cl"].result_list) == []
    # nor does its owner once out of the brand
    membership_remove(user=owner, brand=brand)
    client.force_login(owner)
    assert client.get(download_url(job)).status_code in (403, 404)


def test_names_and_phones_are_masked_by_the_role_the_owner_has_when_the_file_is_written(
    client, brand, settings, export_root, django_capture_on_commit_callbacks
):
    settings.CLV_EXPORT_BACKGROUND_ROWS = 2
    for i in range(3):
        CustomerFactory(brand=brand, display_name="林小雅", phone=f"1380000000{i}")
    owner = staff("lin", (brand, "manager"))
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        client.post(EXPORT, {"export_format": "csv"})
    membership_set(user=owner, brand=brand, role="viewer")  # demoted before the worker got to it
    for callback in queued:
        callback()
    job = ExportJob.objects.get()
    assert (job.status, job.personal_data) == ("done", False)
    client.force_login(owner)
    rows = csv_rows(b"".join(client.get(download_url(job)).streaming_content))
    assert len(rows) == 3 and all(r["display name"] == "林**" and "****" in r["phone"] for r in rows)


def test_staff_of_two_brands_get_one_file_per_brand(client, brand, other_brand, settings, export_root):
    settings.CLV_EXPORT_BACKGROUND_ROWS = 2
    for owner_brand, n in ((brand, 3), (other_brand, 4)):
        for _ in range(n):
            CustomerFactory(brand=owner_brand)
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    response = client.post(EXPORT, {"export_format": "csv"})
    assert response.status_code == 302 and response.url == reverse("admin:customers_exportjob_changelist")
    jobs = list(ExportJob.objects.order_by("brand_id"))
    # eagerly, on commit (the test's transaction never commits: run them here)
    for job in jobs:
        export_customers_task.apply(args=[job.pk])
    done = {j.brand_id: (j.status, j.rows_total) for j in ExportJob.objects.all()}
    assert done == {brand.pk: ("done", 3), other_brand.pk: ("done", 4)}


def test_a_job_whose_filters_no_longer_hold_fails_with_a_message_and_keeps_no_file(brand, export_root):
    job = ExportJob.objects.create(
        brand=brand, user=staff("lin", (brand, "manager")), filters="nonsense=1", format="csv"
    )
    result = export_customers_task.apply(args=[job.pk]).get()
    job.refresh_from_db()
    assert result["status"] == job.status == "failed" and not job.file
    assert "filters are no longer valid" in job.error
    # a job already done is not run twice
    assert export_customers_task.apply(args=[job.pk]).get() == {"job": job.pk, "status": "failed"}


def test_progress_is_reported_while_the_file_is_written(monkeypatch):
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    rows = [dict.fromkeys(name for name, _label in exports.COLUMNS) for _ in range(5)]
    seen = []
    assert exports.write_csv(iter(rows), io.BytesIO(), on_rows=seen.append) == 5
    assert seen == [2, 4]
    seen.clear()
    assert exports.write_xlsx(iter(rows), io.BytesIO(), on_rows=seen.append) == 5
    assert seen == [2, 4]


def test_files_expire_after_seven_days_by_the_periodic_task(
    client, brand, settings, export_root, django_capture_on_commit_callbacks
):
    settings.CLV_EXPORT_BACKGROUND_ROWS = 1
    CustomerFactory(brand=brand, city="杭州")
    CustomerFactory(brand=brand, city="杭州")
    owner = staff("lin", (brand, "manager"))
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{EXPORT}?q=杭州", {"export_format": "csv"})
    job = ExportJob.objects.get()
    path = Path(job.file.path)
    assert path.is_file() and job.filters == "q=%E6%9D%AD%E5%B7%9E"
    assert any(s.task == "customers.cleanup_exports" for s in GLOBAL_SCHEDULES)
    # not yet
    assert cleanup_exports_task.apply().get() == {"expired": 0} and path.is_file()
    ExportJob.objects.filter(pk=job.pk).update(expires_at=job.finished_at - timedelta(seconds=1))
    assert cleanup_exports_task.apply().get() == {"expired": 1}
    job.refresh_from_db()
    assert not path.exists() and (job.status, job.file.name) == ("expired", "")
    assert job.filters == "q=%5Bwithheld%5D"  # the search term goes with the file
    response = client.get(download_url(job), follow=True)
    assert "no file to download" in response.content.decode()


def test_a_job_whose_worker_died_is_taken_over_when_delivered_again_but_a_running_one_is_not(
    brand, export_root
):
    from django.utils import timezone

    CustomerFactory(brand=brand)
    owner = staff("lin", (brand, "manager"))
    running = ExportJob.objects.create(
        brand=brand,
        user=owner,
        format="csv",
        status="running",
        started_at=timezone.now() - timedelta(minutes=5),
    )
    lost = ExportJob.objects.create(
        brand=brand,
        user=owner,
        format="csv",
        status="running",
        started_at=timezone.now() - timedelta(hours=3),
    )
    assert export_customers_task.apply(args=[running.pk]).get() == {"job": running.pk, "status": "running"}
    assert export_customers_task.apply(args=[lost.pk]).get() == {"job": lost.pk, "status": "done", "rows": 1}
