"""A background export of the customer list on a real Celery worker and Redis: the worker process writes the
file where the web process reads it, reports its progress, and records the export in the audit trail."""

import io
from pathlib import Path

import openpyxl
import pytest

from apps.audit.models import AuditEvent
from apps.customers.models import ExportJob
from tests.admin.conftest import staff
from tests.factories import CustomerFactory
from tests.worker import QUEUE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def export_root(tmp_path, settings, monkeypatch):
    """Before the worker starts: it reads EXPORTS_ROOT from its environment."""
    root = tmp_path / "exports"
    settings.EXPORTS_ROOT = str(root)
    monkeypatch.setenv("EXPORTS_ROOT", str(root))
    return root


def test_the_worker_writes_the_filtered_list_for_its_owner(brand, export_root, redis_celery, live_worker):
    for i in range(2500):
        CustomerFactory(brand=brand, external_id=f"W{i:05d}", gender="female" if i % 5 else "male")
    owner = staff("lin", (brand, "viewer"))
    job = ExportJob.objects.create(
        brand=brand, user=owner, filters="gender__exact=female", format="xlsx", language="en"
    )
    result = redis_celery.send_task("customers.export_customers", args=[job.pk], queue=QUEUE).get(timeout=300)
    job.refresh_from_db()
    assert result == {"job": job.pk, "status": "done", "rows": 2000}
    assert (job.status, job.rows_done, job.rows_total, job.personal_data) == ("done", 2000, 2000, False)
    path = Path(job.file.path)
    assert path.parent.is_relative_to(export_root) and path.is_file()
    sheet = openpyxl.load_workbook(io.BytesIO(path.read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("customer id", "display name", "phone") and len(rows) == 2001
    assert all("****" in row[2] for row in rows[1:])  # a viewer's file: phones masked
    event = AuditEvent.objects.get(brand=brand, action="exported")
    assert (event.actor_user_id, event.changes["rows"][1]) == (owner.pk, 2000)
