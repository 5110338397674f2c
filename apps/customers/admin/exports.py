"""Exporting the customer list: CSV or Excel (.xlsx), the selected rows or the whole filtered list.

Names and phones come out masked unless the staff member's role may see personal data in the row's brand; a
text cell a spreadsheet would run as a formula is quoted (the same rule for CSV and Excel); every export is
in the audit trail with its row count and filters, never with personal data (a search term is withheld: it
may be a name or a phone number).

A list of up to `background_rows()` customers (5,000) is sent at once; a larger one is written in the
background by a Celery task (customers.export_customers): an ExportJob per brand holds the filters, the
progress and the file, which only the staff member who asked may download, until it expires
(`keep_days()`, 7 days; the periodic task customers.cleanup_exports deletes the files).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import tempfile
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.files import File
from django.db import transaction
from django.db.models import Count, Q
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.test import RequestFactory
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from apps.analytics.models import Stage
from apps.audit.services import audit_export
from apps.core.admin import BrandScopedAdmin
from apps.core.scoping import user_may
from apps.customers.admin.customer_360 import PII_PERMISSION
from apps.customers.models import Customer, ExportFormat, ExportJob, ExportStatus

logger = logging.getLogger(__name__)

FORMAT_PARAM = "export_format"
PROGRESS_EVERY = 1000  # rows between two progress updates of a background export
STALE_AFTER = dt.timedelta(hours=2)  # a job running this long lost its worker (a million rows take minutes)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = [
    ("external_id", _("customer id")),
    ("display_name", _("display name")),
    ("phone", _("phone")),
    ("province", _("province")),
    ("city", _("city")),
    ("score_stage", _("lifecycle stage")),
    ("score_tier_name", _("tier")),
    ("score_churn", _("churn risk")),
    ("score_clv", _("CLV")),
    ("first_seen_at", _("first seen at")),
]
CHURN_INDEX = [name for name, _label in COLUMNS].index("score_churn")


def background_rows() -> int:
    """Lists larger than this are exported in the background."""
    return int(getattr(settings, "CLV_EXPORT_BACKGROUND_ROWS", 5000))


def keep_days() -> int:
    """Days a background export's file is kept."""
    return int(getattr(settings, "CLV_EXPORT_KEEP_DAYS", 7))


# --- rows and files ---------------------------------------------------------------------------------------


def safe(value) -> str:
    """A cell as text that no spreadsheet runs as a formula: a leading =, +, -, @, tab or return is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def personal_data_by_brand(user, brand_ids: Iterable[int]) -> dict[int, bool]:
    return {brand_id: user_may(user, brand_id, PII_PERMISSION) for brand_id in brand_ids}


def customer_rows(queryset, personal_data: dict[int, bool]) -> Iterator[dict]:
    """One dict per customer of the list (with its score_* annotations), in the export's columns: names and
    phones masked unless `personal_data[brand]`; churn and CLV as numbers (None when unknown)."""
    stages = dict(Stage.choices)
    for customer in queryset.order_by("brand_id", "external_id").iterator(chunk_size=2000):
        visible = personal_data.get(customer.brand_id, False)
        yield {
            "external_id": customer.external_id,
            "display_name": customer.display_name if visible else customer.masked_display_name,
            "phone": customer.phone if visible else customer.masked_phone,
            "province": customer.province,
            "city": customer.city,
            "score_stage": str(stages.get(customer.score_stage, "")) if customer.score_stage else "",
            "score_tier_name": gettext(customer.score_tier_name) if customer.score_tier_name else "",
            "score_churn": customer.score_churn,
            "score_clv": customer.score_clv,
            "first_seen_at": customer.first_seen_at.isoformat() if customer.first_seen_at else "",
        }


def _csv_cell(name: str, value) -> str:
    if name == "score_churn":
        return f"{value:.3f}" if value is not None else ""
    return safe("" if value is None else value)


class _Echo:
    def write(self, value):
        return value


def csv_lines(rows: Iterable[dict]) -> Iterator[str]:
    """The CSV text, line by line: a BOM (Excel and WPS then read UTF-8), the header, the rows."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow([str(label) for _name, label in COLUMNS])
    for row in rows:
        yield writer.writerow([_csv_cell(name, row[name]) for name, _label in COLUMNS])


def _xlsx_cell(name: str, value):
    """Numbers stay numbers; text is quoted like in CSV and stripped of the control characters a workbook
    cannot hold."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if name in ("score_churn", "score_clv"):
        return None if value is None else float(value)
    return ILLEGAL_CHARACTERS_RE.sub("", safe(value))


def write_xlsx(rows: Iterable[dict], target, on_rows=None) -> int:
    """Write the rows as one worksheet (streamed: write-only mode) to `target` (a path or a binary file);
    `on_rows(n)` is called every PROGRESS_EVERY rows. Returns the number of rows. Text goes in as text (only a
    leading = makes a formula there, and safe() quotes it), churn risk as a number shown in percent."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=gettext("customers")[:31])
    sheet.append([str(label) for _name, label in COLUMNS])
    count = 0
    for row in rows:
        values = [_xlsx_cell(name, row[name]) for name, _label in COLUMNS]
        if values[CHURN_INDEX] is not None:
            churn = WriteOnlyCell(sheet, value=values[CHURN_INDEX])
            churn.number_format = "0.0%"
            values[CHURN_INDEX] = churn
        sheet.append(values)
        count += 1
        if on_rows is not None and count % PROGRESS_EVERY == 0:
            on_rows(count)
    book.save(target)
    return count


def write_csv(rows: Iterable[dict], target, on_rows=None) -> int:
    """Write the CSV to a binary file; `on_rows(n)` every PROGRESS_EVERY rows. Returns the number of rows."""
    text = io.TextIOWrapper(target, encoding="utf-8", newline="", write_through=True)
    count = -2  # the BOM and the header
    for line in csv_lines(rows):
        text.write(line)
        count += 1
        if on_rows is not None and count > 0 and count % PROGRESS_EVERY == 0:
            on_rows(count)
    text.detach()
    return max(count, 0)


def audit_filters(querystring: str) -> str:
    """The list's filters as the audit trail keeps them: a search term is withheld (it may be a name or a
    phone number)."""
    query = QueryDict(querystring, mutable=True)
    query.pop(FORMAT_PARAM, None)
    if "q" in query:
        query.setlist("q", ["[withheld]"])
    return query.urlencode()


def _file_name(fmt: str) -> str:
    return f"customers-{timezone.localdate().isoformat()}.{fmt}"


# --- the list as the changelist filters it -----------------------------------------------------------------


def customer_admin():
    from apps.customers.admin.customer import CustomerAdmin

    model_admin = admin.site._registry.get(Customer)
    if not isinstance(model_admin, CustomerAdmin):  # a worker that has not loaded the admin yet
        admin.autodiscover()
        model_admin = admin.site._registry[Customer]
    return model_admin


def filtered_customers(model_admin, request):
    """The customers the list at request.GET (filters, search) holds for request.user: the changelist's own
    queryset, so the export and the list never disagree. Raises IncorrectLookupParameters on bad filters."""
    changelist = model_admin.get_changelist_instance(request)
    return changelist.queryset


def _changelist_request(user, querystring: str, language: str = ""):
    """A GET request of the customer list with these filters, made by `user` (a background export)."""
    request = RequestFactory().get(reverse("admin:customers_customer_changelist"), QueryDict(querystring))
    request.user = user
    request.LANGUAGE_CODE = language or settings.LANGUAGE_CODE
    return request


# --- starting an export --------------------------------------------------------------------------------------


def export_start(model_admin, request, queryset, fmt: str, *, whole_list: bool):
    """Export `queryset` (the selected customers, or with `whole_list` every customer the list's filters in
    request.GET select): at once up to background_rows(), else as background jobs (one per brand) and a
    redirect to the progress page."""
    if fmt not in ExportFormat.values:
        raise Http404(gettext("Unknown export format."))
    filters = request.GET.urlencode()
    counts = dict(queryset.order_by().values("brand_id").annotate(n=Count("pk")).values_list("brand_id", "n"))
    total = sum(counts.values())
    if whole_list and total > background_rows():
        return _jobs_start(request, counts, fmt, filters)
    personal_data = personal_data_by_brand(request.user, counts)
    for brand_id, rows in counts.items():
        audit_export(
            actor=request.user,
            brand_id=brand_id,
            rows=rows,
            filters=audit_filters(filters),
            personal_data=personal_data[brand_id],
        )
    rows = customer_rows(queryset, personal_data)
    if fmt == ExportFormat.CSV:
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    else:
        buffer = io.BytesIO()
        write_xlsx(rows, buffer)
        response = HttpResponse(
            buffer.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="customers.{fmt}"'
    return response


def _jobs_start(request, counts: dict[int, int], fmt: str, filters: str):
    from apps.customers.tasks import export_customers_task

    jobs = []
    with transaction.atomic():
        for brand_id, rows in sorted(counts.items()):
            jobs.append(
                ExportJob.objects.create(
                    brand_id=brand_id,
                    user=request.user,
                    filters=filters,
                    format=fmt,
                    language=translation.get_language() or "",
                    rows_total=rows,
                )
            )
        for job in jobs:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                transaction.on_commit(lambda pk=job.pk: export_customers_task.apply(args=[pk]))
            else:
                transaction.on_commit(lambda pk=job.pk: export_customers_task.apply_async(args=[pk]))
    total = sum(counts.values())
    messages.info(
        request,
        ngettext(
            "%(rows)s customers are exported in the background: the file is ready to download here when done.",
            "%(rows)s customers are exported in the background (one file per brand): each is ready to download "
            "here when done.",
            len(jobs),
        )
        % {"rows": f"{total:,}"},
    )
    if len(jobs) == 1:
        return HttpResponseRedirect(reverse("admin:customers_exportjob_change", args=[jobs[0].pk]))
    return HttpResponseRedirect(reverse("admin:customers_exportjob_changelist"))


# --- the background job ----------------------------------------------------------------------------------------


def job_run(job_id: int) -> dict:
    """Write a background export's file: the list at the job's filters as its staff member sees it now (brand
    scoping and personal-data masking by their role when the file is written), for the job's brand. Records
    the export in the audit trail. A job that is done, failed, expired or being written is left alone; one
    whose worker died (running for longer than STALE_AFTER: the task is delivered again) is taken over."""
    now = timezone.now()
    claimed = (
        ExportJob.objects.filter(pk=job_id)
        .filter(
            Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, started_at__lt=now - STALE_AFTER)
        )
        .update(status=ExportStatus.RUNNING, started_at=now, rows_done=0)
    )
    job = ExportJob.objects.select_related("user").get(pk=job_id)
    if not claimed:
        return {"job": job_id, "status": job.status}
    try:
        with translation.override(job.language or settings.LANGUAGE_CODE):
            rows = _job_write(job)
    except (IncorrectLookupParameters, SuspiciousOperation):
        return _job_fail(job, gettext("The list's filters are no longer valid: export the list again."))
    except PermissionDenied:
        return _job_fail(job, gettext("You may no longer see this brand's customers."))
    except Exception as exc:  # noqa: BLE001 - its message may quote a customer's data: only its kind is kept
        logger.error("customer export %s failed: %s", job.pk, type(exc).__name__)
        return _job_fail(
            job, gettext("The export failed (%(kind)s). Try again.") % {"kind": type(exc).__name__}
        )
    now = timezone.now()
    personal_data = user_may(job.user, job.brand_id, PII_PERMISSION)
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.DONE,
        rows_total=rows,
        rows_done=rows,
        personal_data=personal_data,
        finished_at=now,
        expires_at=now + dt.timedelta(days=keep_days()),
        error="",
    )
    audit_export(
        actor=job.user,
        brand_id=job.brand_id,
        rows=rows,
        filters=audit_filters(job.filters),
        personal_data=personal_data,
    )
    return {"job": job.pk, "status": ExportStatus.DONE, "rows": rows}


def _job_write(job: ExportJob) -> int:
    user = job.user
    if not user.is_active or not user_may(user, job.brand_id, "customers.view_customer"):
        raise PermissionDenied
    model_admin = customer_admin()
    request = _changelist_request(user, job.filters, job.language)
    queryset = filtered_customers(model_admin, request).filter(brand_id=job.brand_id)
    total = queryset.count()
    ExportJob.objects.filter(pk=job.pk).update(rows_total=total)
    personal_data = personal_data_by_brand(user, [job.brand_id])

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=min(done, total))

    rows = customer_rows(queryset, personal_data)
    with tempfile.TemporaryFile() as target:
        if job.format == ExportFormat.XLSX:
            written = write_xlsx(rows, target, on_rows=progress)
        else:
            written = write_csv(rows, target, on_rows=progress)
        target.seek(0)
        job.file.save(_file_name(job.format), File(target), save=False)
    ExportJob.objects.filter(pk=job.pk).update(file=job.file.name)
    return written


def _job_fail(job: ExportJob, message: str) -> dict:
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.FAILED, error=message[:300], finished_at=timezone.now()
    )
    return {"job": job.pk, "status": ExportStatus.FAILED, "error": message}


def jobs_expire(now: dt.datetime | None = None) -> int:
    """Delete the files of exports past their expiry (and of failed or never finished ones older than
    keep_days()); the jobs stay, marked expired, without the search term of their filters. Returns how many
    expired."""
    now = now or timezone.now()
    due = ExportJob.objects.filter(
        Q(status=ExportStatus.DONE, expires_at__lte=now)
        | Q(
            status__in=[ExportStatus.FAILED, ExportStatus.QUEUED, ExportStatus.RUNNING],
            created_at__lte=now - dt.timedelta(days=keep_days()),
        )
    )
    expired = 0
    for job in due.order_by("pk"):
        if job.file:
            job.file.delete(save=False)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.EXPIRED, file="", filters=audit_filters(job.filters)
        )
        expired += 1
    return expired


# --- the admin: the staff member's own exports, progress and download -------------------------------------------


@admin.register(ExportJob)
class ExportJobAdmin(BrandScopedAdmin):
    """A staff member's own customer exports (nobody sees another's: the filters may hold a search term)."""

    list_display = ("created_at", "format", "status", "progress", "rows_total", "expires_at", "download")
    list_display_links = ("created_at",)
    list_filter = ("status", "format")
    ordering = ("brand_id", "-created_at", "-id")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(user_id=request.user.pk)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return f"{obj.percent}%"

    @admin.display(description=_("file"))
    def download(self, obj):
        if obj.status != ExportStatus.DONE:
            return "—"
        url = reverse("admin:customers_exportjob_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Download"))

    def get_urls(self):
        site = self.admin_site
        return [
            path("new/", site.admin_view(require_POST(self.export_view)), name="customers_customer_export"),
            path(
                "<int:pk>/download/", site.admin_view(self.download_view), name="customers_exportjob_download"
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The whole customer list at the query string's filters (and search), in the format posted."""
        model_admin = customer_admin()
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        fmt = request.POST.get(FORMAT_PARAM, "")
        if fmt not in ExportFormat.values:
            messages.error(request, gettext("Choose CSV or Excel to export the list."))
            return HttpResponseRedirect(
                reverse("admin:customers_customer_changelist") + "?" + request.GET.urlencode()
            )
        try:
            queryset = filtered_customers(model_admin, request)
        except IncorrectLookupParameters:
            messages.error(request, gettext("The list's filters are not valid: nothing was exported."))
            return HttpResponseRedirect(reverse("admin:customers_customer_changelist"))
        return export_start(model_admin, request, queryset, fmt, whole_list=True)

    def _own_job(self, request, pk: int) -> ExportJob:
        job = self.get_queryset(request).filter(pk=pk).first()
        if job is None:
            raise Http404(gettext("This object does not exist or belongs to another brand."))
        return job

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The progress page: polled (?poll=1, JSON) until the file is ready, then the download link."""
        if not str(object_id).isdigit():
            raise Http404(gettext("This object does not exist or belongs to another brand."))
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = self._own_job(request, int(object_id))
        state = {
            "status": job.status,
            "status_label": str(job.get_status_display()),
            "rows_done": job.rows_done,
            "rows_total": job.rows_total,
            "percent": job.percent,
            "error": job.error,
            "download_url": reverse("admin:customers_exportjob_download", args=[job.pk])
            if job.status == ExportStatus.DONE
            else "",
        }
        if request.GET.get("poll"):
            return JsonResponse(state)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Customer export #%(id)s") % {"id": job.pk},
            "job": job,
            "state": state,
            "running": job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING),
            "filters_shown": audit_filters(job.filters),
            "list_url": reverse("admin:customers_customer_changelist")
            + ("?" + job.filters if job.filters else ""),
        }
        return TemplateResponse(request, "admin/customers/exportjob/progress.html", context)

    def download_view(self, request, pk: int):
        """The file, to the staff member who asked for it only, while they may still see the brand."""
        job = self._own_job(request, pk)
        if job.status != ExportStatus.DONE or not job.file:
            messages.warning(
                request, gettext("This export has no file to download (not ready, failed or expired).")
            )
            return HttpResponseRedirect(reverse("admin:customers_exportjob_change", args=[job.pk]))
        if not user_may(request.user, job.brand_id, "customers.view_customer"):
            raise PermissionDenied
        content_type = (
            "text/csv; charset=utf-8"
            if job.format == ExportFormat.CSV
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        name = f"customers-{job.brand.slug}-{job.pk}.{job.format}"
        return FileResponse(job.file.open("rb"), as_attachment=True, filename=name, content_type=content_type)
