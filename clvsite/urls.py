from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from apps.api.views import ClvGraphQLView
from clvsite.schema import schema

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # API tokens (Bearer) or the staff session with CSRF enforced: see apps.api.views.
    path(
        "graphql/",
        ClvGraphQLView.as_view(schema=schema, graphql_ide="graphiql" if settings.GRAPHQL_GRAPHIQL else None),
        name="graphql",
    ),
]
