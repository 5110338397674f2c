"""What a GraphQL client learns when something goes wrong.

Clear, on purpose: the client can act on these, and their messages are written for it.
- GraphQL syntax and validation errors (unknown field, wrong argument, depth/alias/token/node limits);
- django ValidationError (messages joined, "field: message" per field), PermissionDenied, and
  ObjectDoesNotExist (a missing or another brand's row);
- errors raised as GraphQLError on purpose, bad global ids and relay paging arguments (first, after, …),
  and variables that do not fit their type.

A clear message repeats at most ECHO_LIMIT (64) characters of any value the client sent: longer quoted values
in GraphQL's own messages are cut short. Bad global ids and cursors get our translated messages
(apps.core.graphql.brand_values, apps.core.graphql.relay), not the decoder's ("Incorrect padding").

Masked: everything else, i.e. a bug or an outage in our code or below it. The client gets
"Unexpected error." with the path, nothing more; the server log gets the exception class and stack
(not its message, which may hold personal data from a row, unless DEBUG is on).
"""

from __future__ import annotations

import logging
import re
import traceback

import strawberry
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied, ValidationError
from django.utils.translation import gettext, gettext_noop
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.relay import GlobalIDValueError

from apps.core.graphql.ids import ECHO_LIMIT, bounded

logger = logging.getLogger("apps.graphql")

UNEXPECTED_ERROR = gettext_noop("Unexpected error.")

CLEAR_EXCEPTIONS = (ValidationError, PermissionDenied, ObjectDoesNotExist, GlobalIDValueError)
# strawberry's and strawberry-django's paging code raise ValueError/TypeError for bad client arguments.
ARGUMENT_CHECKING_MODULES = ("strawberry.relay", "strawberry_django.relay", "strawberry_django.pagination")


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith(modules)


def is_clear_error(error: GraphQLError) -> bool:
    """True for errors whose message is meant for the client (see the module docstring)."""
    original = error.original_error
    if original is None or isinstance(original, (GraphQLError, *CLEAR_EXCEPTIONS)):
        return True
    if error.path is None and error.message.startswith("Variable '$"):
        return True  # a variable's value does not fit its type: the client's own input
    return isinstance(original, ValueError | TypeError) and _raised_in(original, ARGUMENT_CHECKING_MODULES)


def should_mask_error(error: GraphQLError) -> bool:
    return not is_clear_error(error)


def validation_error_message(exc: ValidationError) -> str:
    """One readable line: "message" or "field: message; other_field: message"."""
    if hasattr(exc, "error_dict"):
        parts = []
        for field, messages in exc.message_dict.items():
            text = " ".join(messages)
            parts.append(text if field == NON_FIELD_ERRORS else f"{field}: {text}")
        return "; ".join(parts)
    return " ".join(exc.messages)


_LONG = ECHO_LIMIT + 1
_LONG_QUOTED = re.compile(rf'"([^"\n]{{{_LONG},}})"|\'([^\'\n]{{{_LONG},}})\'')


def bounded_echo(message: str) -> str:
    """The message with every quoted value longer than ECHO_LIMIT characters cut short."""

    def cut(match: re.Match) -> str:
        if match.group(1) is not None:
            return f'"{bounded(match.group(1))}"'
        return f"'{bounded(match.group(2))}'"

    return _LONG_QUOTED.sub(cut, message)


_NOT_IN_ENUM = re.compile(r"Value '(?P<value>.*?)' does not exist in '(?P<enum>\w+)' enum\.", re.S)
_BAD_VARIABLE = re.compile(r"^Variable '(?P<name>\$\w+)' has invalid value(?: at (?P<at>\S+?))?: ")


def enum_error_message(message: str, schema=None) -> str | None:
    """GraphQL's English "Value 'X' does not exist in 'E' enum." (of a literal or a variable), in the caller's
    language with the values the enum has; None for any other message."""
    found = _NOT_IN_ENUM.search(message)
    if found is None:
        return None
    enum = schema.get_type(found["enum"]) if schema is not None else None
    values = ", ".join(getattr(enum, "values", None) or ())
    if values:
        text = gettext('"%(value)s" is not a value of %(enum)s; use one of %(values)s.') % {
            "value": bounded(found["value"]),
            "enum": found["enum"],
            "values": values,
        }
    else:
        text = gettext('"%(value)s" is not a value of %(enum)s.') % {
            "value": bounded(found["value"]),
            "enum": found["enum"],
        }
    variable = _BAD_VARIABLE.match(message)
    if variable is None:
        return text
    return f"{variable['name']}{variable['at'] or ''}: {text}"


def _with_message(error: GraphQLError, message: str) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


def present_error(error: GraphQLError, schema=None) -> GraphQLError:
    """The error as the client sees it: masked, reworded (ValidationError, a bad global id, a value outside an
    enum: translated) or unchanged, with at most ECHO_LIMIT characters of any value the client sent. `schema`
    (graphql-core's) lets an enum error list the allowed values."""
    if should_mask_error(error):
        return GraphQLError(
            gettext(UNEXPECTED_ERROR),
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
        )
    if isinstance(error.original_error, ValidationError):
        return _with_message(error, validation_error_message(error.original_error))
    if isinstance(error.original_error, GlobalIDValueError):
        return _with_message(error, gettext("Not an id this API returned (use the `id` of a node)."))
    message = enum_error_message(error.message, schema) or bounded_echo(error.message)
    return error if message == error.message else _with_message(error, message)


class ClvMaskErrors(MaskErrors):
    """strawberry's MaskErrors with our predicate, and ValidationError messages made readable."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask_error, error_message=UNEXPECTED_ERROR)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        schema = getattr(getattr(self.execution_context, "schema", None), "_schema", None)
        return [present_error(error, schema) for error in errors]


def log_unexpected_error(error: GraphQLError, operation_name: str | None) -> None:
    """Server-side record of a masked error: exception class and stack, no message (it may hold PII)."""
    exc = error.original_error
    path = ".".join(str(p) for p in error.path or ()) or "-"
    if settings.DEBUG:
        logger.error("GraphQL %s failed at %s", operation_name or "-", path, exc_info=exc)
        return
    chain, stack = [], ""
    while exc is not None and len(chain) < 5:
        chain.append(f"{type(exc).__module__}.{type(exc).__qualname__}")
        if not stack:  # file, line and function only: source lines are left out too
            stack = "\n".join(
                f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}'
                for frame in traceback.extract_tb(exc.__traceback__)
            )
        exc = exc.__cause__ or exc.__context__
    logger.error(
        "GraphQL %s failed at %s with %s\n%s", operation_name or "-", path, " <- ".join(chain), stack
    )


class ClvSchema(strawberry.Schema):
    """strawberry.Schema that logs masked errors without personal data and masks even errors that escape
    the extensions (an extension that fails ends the operation before MaskErrors sees the result)."""

    def process_errors(self, errors, execution_context=None) -> None:
        operation_name = getattr(execution_context, "operation_name", None)
        for error in errors:
            if should_mask_error(error):
                log_unexpected_error(error, operation_name)
            else:
                logger.debug("GraphQL %s: client error at %s", operation_name or "-", error.path)

    def execute_sync(self, *args, **kwargs):
        result = super().execute_sync(*args, **kwargs)
        if result.errors:
            result.errors = [present_error(error, self._schema) for error in result.errors]
        return result

    async def execute(self, *args, **kwargs):
        result = await super().execute(*args, **kwargs)
        if getattr(result, "errors", None):
            result.errors = [present_error(error, self._schema) for error in result.errors]
        return result
