"""The brand dashboard's pages (/admin/dashboard/ and /admin/dashboard/<brand id>/): which brand, who may see
it. Staff see their brands only (superusers: every brand); another brand's dashboard is a 404. Every role of
the brand (viewer and up) may read it. What the page shows is built by apps.analytics.dashboard.sections.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.analytics.dashboard.sections import dashboard_context
from apps.brands.models import Brand
from apps.core.scoping import brand_ids_for_user


def dashboard_brands(user) -> list[Brand]:
    """The brands whose dashboard the user may open: their brands (any role), every brand for superusers."""
    ids = brand_ids_for_user(user)
    brands = Brand.objects.order_by("name", "pk").only("pk", "name", "slug", "timezone", "currency")
    return list(brands if ids is None else brands.filter(pk__in=ids))


def _brand_or_404(user, brand_id) -> Brand:
    ids = brand_ids_for_user(user)
    brand = Brand.objects.filter(pk=brand_id).first() if str(brand_id).isdigit() else None
    if brand is None or (ids is not None and brand.pk not in ids):
        raise Http404(_("This object does not exist or belongs to another brand."))
    return brand


def dashboard_url(brand) -> str:
    return reverse("clv_dashboard_brand", args=[brand.pk])


def dashboard_index(request):
    """/admin/dashboard/: the user's first brand (by name), or ?brand=<id> from the brand selector."""
    chosen = request.GET.get("brand")
    if chosen:
        return HttpResponseRedirect(dashboard_url(_brand_or_404(request.user, chosen)))
    brands = dashboard_brands(request.user)
    if brands:
        return HttpResponseRedirect(dashboard_url(brands[0]))
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "brands": [],
        "brand": None,
    }
    return TemplateResponse(request, "admin/dashboard.html", context)


def brand_dashboard(request, brand_id):
    """One brand's dashboard; another brand's (or a missing one) is a 404. The figure cards cover the date
    range of the GET parameters (periods.period_from_params: `period`, `from`, `to`)."""
    from django.utils import timezone

    from apps.analytics.dashboard.periods import PRESETS, period_from_params

    brand = _brand_or_404(request.user, brand_id)
    now = timezone.now()
    period = period_from_params(request.GET, now.astimezone(brand.tzinfo).date())
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard: %(brand)s") % {"brand": brand.name},
        "brand": brand,
        "brands": dashboard_brands(request.user),
        "presets": PRESETS,
        **dashboard_context(brand, now=now, period=period),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)


def _day_param(request, name: str, default):
    from datetime import date

    raw = request.GET.get(name)
    if not raw:
        return default, None
    try:
        return date.fromisoformat(raw), None
    except ValueError:
        return default, _("%(name)s: %(value)s is not a date such as 2026-05-01.") % {
            "name": name,
            "value": raw,
        }


def brand_funnel(request, brand_id):
    """The live-stream funnel per stream, platform or host over a period (default the last 90 days)."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.analytics import reports

    brand = _brand_or_404(request.user, brand_id)
    today = timezone.now().astimezone(brand.tzinfo).date()
    start, error_start = _day_param(request, "start", today - timedelta(days=90))
    end, error_end = _day_param(request, "end", today)
    by = request.GET.get("by", "platform")
    if by not in reports.FUNNEL_GROUPS:
        by = "platform"
    errors = [e for e in (error_start, error_end) if e]
    rows = []
    try:
        rows = reports.stream_funnel(brand=brand, start=start, end=end, by=by)
    except reports.ReportError as exc:
        errors.append(str(exc))
    context = {
        **admin.site.each_context(request),
        "title": _("Live-stream funnel: %(brand)s") % {"brand": brand.name},
        "brand": brand,
        "brands": dashboard_brands(request.user),
        "start": start,
        "end": end,
        "by": by,
        "groups": [("platform", _("platform")), ("host", _("host")), ("stream", _("live stream"))],
        "rows": rows,
        "errors": errors,
        "dashboard_url": dashboard_url(brand),
    }
    return TemplateResponse(request, "admin/dashboard_funnel.html", context)


def _running(by: str, cohort, k: int, brand) -> bool:
    """Whether period k of the cohort has not ended yet (brand days)."""
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.now().astimezone(brand.tzinfo).date()
    if by == "first_order_month":
        months = cohort.start.month - 1 + k + 1  # months from January of the start year to the period's end
        end = cohort.start.replace(year=cohort.start.year + months // 12, month=months % 12 + 1, day=1)
        return today < end
    return today < cohort.start + timedelta(days=30 * (k + 1))


def brand_cohorts(request, brand_id):
    """Cohort retention by first-order month or acquisition stream, each cell with its count and a link to
    the customers in it."""
    from django.utils import timezone
    from django.utils.http import urlencode

    from apps.analytics import reports, snapshots

    brand = _brand_or_404(request.user, brand_id)
    by = request.GET.get("by", "first_order_month")
    if by not in ("first_order_month", "acquisition_stream"):
        by = "first_order_month"
    periods = 12
    if by == "first_order_month":
        # from the dashboard snapshot (computed at publish, or now when the data changed since)
        cohorts = reports.cohorts_from_months(
            snapshots.paid_activity_current(brand=brand).months,
            periods=periods,
            now=timezone.now().astimezone(brand.tzinfo).date(),
            limit=36,
        )
    else:
        cohorts = reports.cohort_retention(brand=brand, by=by, periods=periods)[-36:]
    customers = reverse("admin:customers_customer_changelist")
    table = []
    for cohort in cohorts:
        ref = f"m:{brand.pk}:{cohort.key}" if by == "first_order_month" else f"s:{cohort.stream_id}"
        base = {"cohort": ref}
        cells = []
        for k, (n, share) in enumerate(zip(cohort.retained, cohort.retention, strict=True)):
            if n is None:
                cells.append(None)
                continue
            cells.append(
                {
                    # the last started period is still running (month to date, or the current 30 days)
                    "partial": _running(by, cohort, k, brand),
                    "n": n,
                    "share": share,
                    "shade": round(min(1.0, share or 0.0) * 0.85 + 0.05, 2),
                    "url": f"{customers}?{urlencode({**base, 'period': k})}",
                }
            )
        table.append(
            {
                "label": cohort.stream_title or cohort.key,
                "start": cohort.start,
                "size": cohort.size,
                "url": f"{customers}?{urlencode(base)}",
                "cells": cells,
            }
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Cohort retention: %(brand)s") % {"brand": brand.name},
        "brand": brand,
        "brands": dashboard_brands(request.user),
        "by": by,
        "groupings": [
            ("first_order_month", _("first-order month")),
            ("acquisition_stream", _("acquisition stream")),
        ],
        "period_labels": [
            _("month %(k)d") % {"k": k}
            if by == "first_order_month"
            else _("days %(start)d–%(end)d") % {"start": 30 * k, "end": 30 * k + 29}
            for k in range(periods)
        ],
        "table": table,
        "dashboard_url": dashboard_url(brand),
    }
    return TemplateResponse(request, "admin/dashboard_cohorts.html", context)
