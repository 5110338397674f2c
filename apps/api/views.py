"""The /graphql/ endpoint: API tokens (`Authorization: Bearer …`) or the staff session.

- A Bearer request is authenticated by its token alone: request.user becomes a TokenPrincipal of the
  token's brand and role. A token that is unknown, malformed or revoked gets HTTP 401; the session is
  never used instead. No cookies are involved, so there is no CSRF check.
- Any other request uses the session, and the CSRF check is enforced (X-CSRFToken header on POST).
"""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from strawberry.django.views import GraphQLView

from apps.api.auth import TokenPrincipal
from apps.api.services import api_token_authenticate


def bearer_credentials(request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header ("" when it is empty), None without one."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def unauthorized_response() -> HttpResponse:
    body = {"data": None, "errors": [{"message": gettext("Invalid or revoked API token.")}]}
    response = HttpResponse(json.dumps(body), status=401, content_type="application/json")
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


class ClvGraphQLView(GraphQLView):
    @classmethod
    def as_view(cls, **initkwargs):
        # The CSRF middleware must not refuse Bearer requests; session requests are checked in dispatch.
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request, *args, **kwargs):
        credentials = bearer_credentials(request)
        if credentials is None:
            return csrf_protect(self._dispatch_graphql)(request, *args, **kwargs)
        token = api_token_authenticate(credentials)
        if token is None:
            return unauthorized_response()
        principal = TokenPrincipal(token)
        request.user = principal

        async def auser():
            return principal

        request.auser = auser
        return self._dispatch_graphql(request, *args, **kwargs)

    def _dispatch_graphql(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)
