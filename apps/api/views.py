"""The /graphql/ endpoint: API tokens (`Authorization: Bearer …`) or the staff session.

- A Bearer request is authenticated by its token alone: request.user becomes a TokenPrincipal of the
  token's brand and role. A token that is unknown, malformed or revoked gets HTTP 401; the session is
  never used instead. No cookies are involved, so there is no CSRF check.
- Another `Authorization` scheme (`Token …`, `Basic …`) is a 401 saying which scheme to use.
- Without an Authorization header, the staff session: a caller who is not signed in gets a 401 (with
  `WWW-Authenticate`), a signed-in one must pass the CSRF check (X-CSRFToken header on POST), else a 403.
  The GraphiQL page itself (a browser's GET) is served to anyone; its queries follow the same rules.
- Every error the endpoint itself gives (401, 403, a body that is not a GraphQL request) is JSON in the
  GraphQL shape `{"data": null, "errors": [{"message": …}]}`, in the caller's language.
"""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
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


def json_error(status: int, message: str, *, authenticate: str | None = None) -> HttpResponse:
    body = {"data": None, "errors": [{"message": message}]}
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json"
    )
    if authenticate:
        response["WWW-Authenticate"] = authenticate
    return response


def unauthorized_response() -> HttpResponse:
    return json_error(
        401, gettext("Invalid or revoked API token."), authenticate='Bearer error="invalid_token"'
    )


def _csrf_refusal(request) -> HttpResponse | None:
    """Django's CSRF check for a session request; a JSON 403 instead of its HTML page."""
    from django.middleware.csrf import CsrfViewMiddleware

    refused = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
    if refused is None:
        return None
    return json_error(
        403,
        gettext(
            "CSRF check failed: a signed-in browser sends the csrftoken cookie's value in the X-CSRFToken "
            "header. Apps use an API token instead: Authorization: Bearer <token>."
        ),
    )


class ClvGraphQLView(GraphQLView):
    @classmethod
    def as_view(cls, **initkwargs):
        # The CSRF middleware must not refuse Bearer requests; session requests are checked in dispatch.
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request, *args, **kwargs):
        credentials = bearer_credentials(request)
        if credentials is None:
            if request.headers.get("Authorization", "").strip():
                return json_error(
                    401,
                    gettext(
                        "Send the API token as Authorization: Bearer <token>; other schemes are not accepted."
                    ),
                    authenticate='Bearer realm="clv"',
                )
            if request.method == "GET" and self._ide_request(request):
                return self._dispatch_graphql(request, *args, **kwargs)
            if not request.user.is_authenticated:
                return json_error(
                    401,
                    gettext("Sign in to the admin, or send an API token: Authorization: Bearer <token>."),
                    authenticate='Bearer realm="clv"',
                )
            refused = _csrf_refusal(request)
            if refused is not None:
                return refused
            return self._as_json(self._dispatch_graphql(request, *args, **kwargs))
        token = api_token_authenticate(credentials)
        if token is None:
            return unauthorized_response()
        principal = TokenPrincipal(token)
        request.user = principal

        async def auser():
            return principal

        request.auser = auser
        return self._as_json(self._dispatch_graphql(request, *args, **kwargs))

    def _ide_request(self, request) -> bool:
        return (
            self.graphql_ide is not None
            and "query" not in request.GET
            and any(h in request.headers.get("Accept", "") for h in ("text/html", "*/*"))
        )

    def _dispatch_graphql(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)

    @staticmethod
    def _as_json(response):
        """Strawberry's own refusals (an empty or malformed body, a wrong method) come as text/plain: the same
        message as a GraphQL-shaped JSON error."""
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and content_type.startswith("text/plain"):
            return json_error(response.status_code, response.content.decode("utf-8", "replace"))
        return response
