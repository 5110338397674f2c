from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csrf import csrf_protect
from strawberry.django.views import GraphQLView

from clvsite.schema import schema

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path(
        "graphql/",
        csrf_protect(
            GraphQLView.as_view(schema=schema, graphql_ide="graphiql" if settings.GRAPHQL_GRAPHIQL else None)
        ),
        name="graphql",
    ),
]
