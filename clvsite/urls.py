from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from apps.analytics.dashboard import views as dashboard
from apps.api.views import ClvGraphQLView
from apps.engagement import views as engagement
from clvsite.schema import schema

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    # the brand dashboard: an admin page (staff login, the admin's header and language), before the admin's URLs
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard_index), name="clv_dashboard"),
    path(
        "admin/dashboard/<int:brand_id>/",
        admin.site.admin_view(dashboard.brand_dashboard),
        name="clv_dashboard_brand",
    ),
    path(
        "admin/dashboard/<int:brand_id>/funnel/",
        admin.site.admin_view(dashboard.brand_funnel),
        name="clv_dashboard_funnel",
    ),
    path(
        "admin/dashboard/<int:brand_id>/cohorts/",
        admin.site.admin_view(dashboard.brand_cohorts),
        name="clv_dashboard_cohorts",
    ),
    # the admin's JavaScript catalogue with the strings Django's zh_Hans one lacks (apps/core/locale, djangojs)
    path(
        "admin/jsi18n/",
        JavaScriptCatalog.as_view(packages=["django.contrib.admin", "apps.core"]),
        name="clv_admin_jsi18n",
    ),
    path("admin/", admin.site.urls),
    # a touch's tracked link and the gateway's delivery receipts (public; signed)
    path("r/<str:token>/", engagement.click, name="engagement_click"),
    path("engagement/receipts/", engagement.receipt, name="engagement_receipt"),
    # API tokens (Bearer) or the staff session with CSRF enforced: see apps.api.views.
    path(
        "graphql/",
        ClvGraphQLView.as_view(schema=schema, graphql_ide="graphiql" if settings.GRAPHQL_GRAPHIQL else None),
        name="graphql",
    ),
]
