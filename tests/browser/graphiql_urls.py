"""The project's URLs with the GraphiQL page switched on (the test settings keep it off, as production does)."""

from django.urls import path

from apps.api.views import ClvGraphQLView
from clvsite.schema import schema
from clvsite.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("graphql/", ClvGraphQLView.as_view(schema=schema, graphql_ide="graphiql"), name="graphql"),
    *[p for p in project_urlpatterns if getattr(p, "name", None) != "graphql"],
]
