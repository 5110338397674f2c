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
    """One brand's dashboard; another brand's (or a missing one) is a 404."""
    brand = _brand_or_404(request.user, brand_id)
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard: %(brand)s") % {"brand": brand.name},
        "brand": brand,
        "brands": dashboard_brands(request.user),
        **dashboard_context(brand),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
