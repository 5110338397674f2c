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

What a request may be (checked once the caller is known, before anything is parsed or run; docs/api.md):
- POST with `Content-Type: application/json` and a body of at most max_body_bytes() (2 MiB) holding one JSON
  object `{"query": "…", "variables": {…}, "operationName": "…", "extensions": {…}}`, nested at most
  MAX_JSON_DEPTH levels; or GET with the same keys as URL parameters (variables and extensions as JSON), for
  queries only: a mutation sent with GET is a 405.
- The query document is at most MAX_DOCUMENT_CHARS characters, comments and whitespace included.
- Anything else is refused with a clear, translated JSON error (400, 405, 413, 415) that repeats at most
  ECHO_LIMIT characters of what was sent: a body that is not JSON or not an object (`123`, `null`, `"x"`),
  a batch (a JSON array of operations: not supported), a body nested too deeply, another method or content
  type. Nothing the endpoint is sent gives a 500 or Django's debug page: a fault of ours is a JSON 500
  "Unexpected error." whose exception is logged without its message (apps.core.graphql.errors).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import GraphQLView
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from apps.api import response_cache
from apps.api.auth import TokenPrincipal
from apps.api.services import api_token_authenticate
from apps.core.graphql.errors import UNEXPECTED_ERROR, log_request_failure
from apps.core.graphql.ids import bounded
from apps.core.graphql.limits import MAX_DOCUMENT_CHARS

MAX_BODY_BYTES = 2 * 1024 * 1024  # settings.GRAPHQL_MAX_BODY_BYTES may change it (up to Django's own limit)
MAX_JSON_DEPTH = 32  # a request's JSON (variables included) nests objects and arrays at most this deep


def bearer_credentials(request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header ("" when it is empty), None without one."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def json_error(
    status: int, message: str, *, authenticate: str | None = None, allow: str | None = None
) -> HttpResponse:
    body = {"data": None, "errors": [{"message": message}]}
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json"
    )
    if authenticate:
        response["WWW-Authenticate"] = authenticate
    if allow:
        response["Allow"] = allow
    return response


class Refused(Exception):
    """A request the endpoint answers with a JSON error instead of running it."""

    def __init__(self, status: int, message: str, *, allow: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.allow = allow

    def response(self) -> HttpResponse:
        return json_error(self.status, self.message, allow=self.allow)


def max_body_bytes() -> int:
    """The largest request body accepted, in bytes (never more than Django itself reads into memory)."""
    limit = getattr(settings, "GRAPHQL_MAX_BODY_BYTES", MAX_BODY_BYTES)
    django_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit if django_limit is None else min(limit, django_limit)


def body_too_large(size: int | None = None) -> Refused:
    limit = max_body_bytes()
    if size is None:
        message = gettext(
            "The request body is larger than %(limit)s bytes, the most accepted. Send large batches in several "
            "requests."
        ) % {"limit": f"{limit:,}"}
    else:
        message = gettext(
            "The request body is %(size)s bytes; at most %(limit)s bytes are accepted. Send large batches in "
            "several requests."
        ) % {"size": f"{size:,}", "limit": f"{limit:,}"}
    return Refused(413, message)


def check_request_shape(request) -> None:
    """Refuses, before reading the body, a method, a content type or a declared size the endpoint does not
    take."""
    if request.method not in ("GET", "POST"):
        raise Refused(
            405,
            gettext("Send GraphQL requests with POST (or GET for queries); %(method)s is not accepted.")
            % {"method": bounded(request.method, 16)},
            allow="GET, POST",
        )
    if request.method != "POST":
        return
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        size = int(declared)
    except ValueError:
        raise Refused(400, gettext("The Content-Length header is not a number of bytes.")) from None
    if size > max_body_bytes():
        raise body_too_large(size)
    if size == 0:
        raise Refused(400, gettext('No GraphQL query in the request: send {"query": "…"}.'))
    content_type = (request.content_type or "").lower()
    if not content_type:
        raise Refused(
            415,
            gettext('Send the request as JSON with Content-Type: application/json, e.g. {"query": "…"}.'),
        )
    if content_type != "application/json":
        raise Refused(
            415,
            gettext(
                'Send the request as JSON with Content-Type: application/json, not "%(content_type)s", e.g. '
                '{"query": "…"}.'
            )
            % {"content_type": bounded(content_type)},
        )


def _too_deep(value: Any, limit: int) -> bool:
    """True when JSON objects and arrays nest more than `limit` levels deep (the top one is level 1)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(text: str, *, parameter: str | None = None) -> Any:
    """JSON of the body (or of a GET parameter), refused with a clear message when it is not JSON or nests too
    deeply (a RecursionError of the parser included)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = {"line": exc.lineno, "column": exc.colno}
        if parameter is None:
            message = (
                gettext("The request body is not valid JSON (line %(line)d, column %(column)d).") % where
            )
        else:
            message = gettext(
                "The %(parameter)s parameter is not valid JSON (line %(line)d, column %(column)d)."
            ) % {**where, "parameter": parameter}
        raise Refused(400, message) from None
    except RecursionError:
        value = None
        too_deep = True
    except ValueError:  # e.g. an integer of more than 4,300 digits
        raise Refused(400, gettext("The request's JSON holds a number too large to read.")) from None
    else:
        too_deep = isinstance(value, dict | list) and _too_deep(value, MAX_JSON_DEPTH)
    if too_deep:
        raise Refused(
            400,
            gettext("The request's JSON nests objects and arrays more than %(limit)d levels deep.")
            % {"limit": MAX_JSON_DEPTH},
        )
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return gettext("true or false")
    if isinstance(value, int | float):
        return gettext("a number")
    if isinstance(value, str):
        return gettext("a string")
    return gettext("an array")


def request_data(request) -> GraphQLRequestData:
    """The GraphQL request of a POST body or of GET parameters, checked (see the module docstring)."""
    if request.method == "GET":
        params = request.GET
        data: dict[str, Any] = {key: params.get(key) for key in params}
        for key in ("variables", "extensions"):
            if data.get(key):
                data[key] = parse_json(data[key], parameter=key)
            elif key in data:
                data[key] = None
    else:
        try:
            body = request.body
        except RequestDataTooBig:
            raise body_too_large() from None
        if len(body) > max_body_bytes():  # a body longer than its Content-Length said
            raise body_too_large(len(body))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, gettext("The request body is not UTF-8 text.")) from None
        data = parse_json(text)
        if isinstance(data, list):
            raise Refused(
                400,
                gettext(
                    "Batches (a JSON array of operations) are not supported: send one operation per request, "
                    'as a JSON object {"query": "…"}.'
                ),
            )
        if not isinstance(data, dict):
            raise Refused(
                400,
                gettext(
                    'The request body must be a JSON object such as {"query": "…", "variables": {…}}, not '
                    "%(kind)s."
                )
                % {"kind": _json_kind(data)},
            )
    query = data.get("query")
    if query is None or query == "":
        raise Refused(400, gettext('No GraphQL query in the request: send {"query": "…"}.'))
    if not isinstance(query, str):
        raise Refused(400, gettext("query must be a string: the GraphQL document."))
    if len(query) > MAX_DOCUMENT_CHARS:
        raise Refused(
            413,
            gettext(
                "The query is %(size)s characters long; at most %(limit)s are accepted. Pass values as "
                "variables and leave comments out."
            )
            % {"size": f"{len(query):,}", "limit": f"{MAX_DOCUMENT_CHARS:,}"},
        )
    for key in ("variables", "extensions"):
        if not isinstance(data.get(key), dict | None):
            raise Refused(
                400,
                gettext("%(key)s must be a JSON object (or null), not %(kind)s.")
                % {"key": key, "kind": _json_kind(data[key])},
            )
    operation_name = data.get("operationName")
    if not isinstance(operation_name, str | None):
        raise Refused(
            400,
            gettext("operationName must be a string (or null), not %(kind)s.")
            % {"kind": _json_kind(operation_name)},
        )
    return GraphQLRequestData(
        query=query,
        variables=data.get("variables"),
        operation_name=operation_name or None,
        extensions=data.get("extensions"),
    )


def unauthorized_response() -> HttpResponse:
    return json_error(
        401, gettext("Invalid or revoked API token."), authenticate='Bearer error="invalid_token"'
    )


def _without_errors(content: bytes) -> bool:
    """True when a GraphQL response body has data and no errors (what the response cache may keep)."""
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and not payload.get("errors") and payload.get("data") is not None


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
        try:
            return self._dispatch(request, *args, **kwargs)
        except Refused as refusal:
            return refusal.response()
        except RequestDataTooBig:
            return body_too_large().response()
        except SuspiciousOperation:  # e.g. too many URL parameters: Django's refusal, as JSON
            return json_error(400, gettext("The request is malformed."))
        except Exception as exc:  # a fault of ours: never a traceback or the debug page
            log_request_failure(exc, request.method or "-")
            return json_error(500, gettext(UNEXPECTED_ERROR))

    def _dispatch(self, request, *args, **kwargs):
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
            check_request_shape(request)
            refused = _csrf_refusal(request)
            if refused is not None:
                return refused
            return self._run(request, *args, **kwargs)
        token = api_token_authenticate(credentials)
        if token is None:
            return unauthorized_response()
        principal = TokenPrincipal(token)
        request.user = principal

        async def auser():
            return principal

        request.auser = auser
        check_request_shape(request)
        return self._run(request, *args, **kwargs)

    def _run(self, request, *args, **kwargs):
        data = request._clv_graphql_request = request_data(request)
        slot = response_cache.slot_for(request, data, self.schema._schema)
        if slot is not None:
            body = response_cache.response_get(slot)
            if body is not None:
                response = HttpResponse(body, content_type="application/json")
                response[response_cache.HEADER] = "hit"
                return response
        response = self._as_json(self._dispatch_graphql(request, *args, **kwargs))
        if slot is not None and response.status_code == 200 and _without_errors(response.content):
            response_cache.response_put(slot, response.content)
            response[response_cache.HEADER] = "miss"
        return response

    def parse_http_body(self, request_adapter) -> GraphQLRequestData:
        """The request as request_data() checked it (strawberry's own parsing is not used)."""
        request = request_adapter.request
        checked = getattr(request, "_clv_graphql_request", None)
        return checked if checked is not None else request_data(request)

    def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):
        """strawberry's, with clear translated refusals for a mutation sent with GET and an operation that cannot
        be told (which repeat at most ECHO_LIMIT characters of the operation's name)."""
        allowed = OperationType.from_http(request_adapter.method)
        try:
            return self.schema.execute_sync(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.MUTATION:
                raise Refused(
                    405, gettext("Send mutations with POST; GET is for queries only."), allow="POST"
                ) from None
            raise Refused(400, gettext("Subscriptions are not supported.")) from None
        except CannotGetOperationTypeError as exc:
            if exc.operation_name is None:
                raise Refused(
                    400,
                    gettext(
                        "Cannot tell which operation to run: send a document with one operation, or name the "
                        "one to run in operationName."
                    ),
                ) from None
            raise Refused(
                400,
                gettext('The document has no operation named "%(name)s".')
                % {"name": bounded(exc.operation_name)},
            ) from None
        except MissingQueryError:
            raise Refused(400, gettext('No GraphQL query in the request: send {"query": "…"}.')) from None

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
        """A refusal strawberry itself still makes (request_data() checks the request first, so none is known
        to reach here) comes as text/plain: the same message as a GraphQL-shaped JSON error."""
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and content_type.startswith("text/plain"):
            return json_error(response.status_code, response.content.decode("utf-8", "replace"))
        return response
