"""What a GraphQL client learns when something goes wrong.

Clear, on purpose: the client can act on these, and their messages are written for it.
- GraphQL syntax and validation errors (unknown field, wrong argument, depth/alias/token/node limits);
- django ValidationError (messages joined, "field: message" per field), PermissionDenied, and
  ObjectDoesNotExist (a missing or another brand's row);
- errors raised as GraphQLError on purpose, bad global ids and relay paging arguments (first, after, …),
  and variables that do not fit their type.

A clear message repeats at most ECHO_LIMIT (64) characters of any value the client sent: longer quoted values
are cut short, and so are long names and numbers in GraphQL's own messages, which stay under 500 characters.
Bad global ids and cursors get our translated messages (apps.core.graphql.brand_values, apps.core.graphql.relay),
not the decoder's ("Incorrect padding").

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
from django.db import DatabaseError
from django.utils.translation import gettext, gettext_noop
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.relay import GlobalIDValueError

from apps.core.graphql.ids import ECHO_LIMIT, bounded

logger = logging.getLogger("apps.graphql")

UNEXPECTED_ERROR = gettext_noop("Unexpected error.")

CLEAR_EXCEPTIONS = (ValidationError, PermissionDenied, ObjectDoesNotExist, GlobalIDValueError)
# strawberry's and strawberry-django's paging code raise ValueError/TypeError for bad client arguments.
ARGUMENT_CHECKING_MODULES = (
    "strawberry.relay",
    "strawberry_django.relay",
    "strawberry_django.pagination",
    "apps.core.graphql.scalars",  # a Date or Decimal written in the document that the scalar refused
)


# GraphQL's messages about a variable or a literal of the document that its type refused (before anything runs)
CLIENT_VALUE_MESSAGES = ("Variable '$", "Expected value of type '")
# ... which, when a scalar's parser raised something other than a GraphQLError, quote that exception's text
# (e.g. Python's limit on digits): left out, the type and the value say enough.
_CAUGHT_ERROR = re.compile(r", but encountered error '.*'; found", re.S)


def _innermost_frame(exc: BaseException):
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    frame = _innermost_frame(exc)
    return frame is not None and str(frame.f_globals.get("__name__", "")).startswith(modules)


def is_clear_error(error: GraphQLError) -> bool:
    """True for errors whose message is meant for the client (see the module docstring)."""
    original = error.original_error
    if original is None or isinstance(original, (GraphQLError, *CLEAR_EXCEPTIONS)):
        return True
    if error.path is None and error.message.startswith(CLIENT_VALUE_MESSAGES):
        return True  # a variable's value or a literal does not fit its type: the client's own input
    if _nul_in_text(original):
        return True  # a NUL in a text argument: the client's own input (present_error words it)
    return isinstance(original, ValueError | TypeError) and _raised_in(original, ARGUMENT_CHECKING_MODULES)


def is_cursor_error(exc: BaseException | None) -> bool:
    """strawberry's own refusal of an `after`/`before` that is no cursor (a list that does not check its cursors
    itself, as apps.core.graphql.relay's do): its message repeats the decoded value whole, or Python's."""
    if not isinstance(exc, ValueError | TypeError) or isinstance(exc, GlobalIDValueError):
        return False
    frame = _innermost_frame(exc)
    if frame is None:
        return False
    module, function = str(frame.f_globals.get("__name__", "")), frame.f_code.co_name
    if module == "strawberry.relay.utils" and function in ("from_base64", "from_arguments"):
        return not str(exc).startswith(("Argument 'first'", "Argument 'last'"))
    return module.startswith("strawberry_django.relay") and str(exc) == "Invalid cursor"


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


# GraphQL's own messages (syntax, validation, variables) repeat names and literals of the document unquoted too,
# e.g. "Int cannot represent non 32-bit signed integer value: 1111…". Those are ASCII (GraphQL names and numbers;
# strings are quoted), so an ASCII run without spaces or quotes longer than ECHO_LIMIT is cut like a quoted value
# (a translated sentence, which has no ASCII runs that long, is never cut).
_LONG_ASCII_RUN = re.compile(rf"[!#-&(-~]{{{_LONG},}}")
# ... and such a message as a whole stays this short (a literal of many short values is printed whole)
FRAMEWORK_MESSAGE_LIMIT = 500


def bounded_framework_echo(message: str) -> str:
    """A GraphQL syntax, validation or variable message with at most ECHO_LIMIT characters of any one value of the
    document or variables, and at most FRAMEWORK_MESSAGE_LIMIT characters in all."""

    def cut(match: re.Match) -> str:
        run = match.group(0)
        text = run.rstrip(".,;:!?)")  # the sentence's own punctuation stays
        return bounded(text) + run[len(text) :]

    message = _LONG_ASCII_RUN.sub(cut, bounded_echo(message))
    return bounded(message, FRAMEWORK_MESSAGE_LIMIT)


def is_framework_error(error: GraphQLError) -> bool:
    """An error of GraphQL itself about the client's document or variables (not raised by our code)."""
    return error.original_error is None or (
        error.path is None and error.message.startswith(CLIENT_VALUE_MESSAGES)
    )


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
    return f"{bounded(variable['name'])}{bounded(variable['at'] or '')}: {text}"


# strawberry's refusal of a scalar value: 'Value cannot represent a Date: "x". <Python's exception text>'
_NOT_A_SCALAR = re.compile(r'Value cannot represent a (?P<type>\w+): "(?P<value>.*?)"\..*\Z', re.S)


def _scalar_formats() -> dict[str, str]:
    return {
        "Date": gettext("use YYYY-MM-DD, e.g. 2026-06-30"),
        "DateTime": gettext("use ISO 8601, e.g. 2026-06-01T21:30:00+08:00"),
        "Time": gettext("use HH:MM"),
        "Decimal": gettext("use a decimal number, e.g. 1280.50"),
    }


# graphql-core's refusal of a value written in the document, quoting the scalar's own refusal
_LITERAL_REFUSED = re.compile(
    r"\AExpected value of type '[^']+', but encountered error '(?P<inner>Value .*)'; found: .*\Z", re.S
)
# ours (apps.core.graphql.scalars): a well-formed value outside the range the product computes with
_OUT_OF_RANGE = re.compile(r'Value is out of range for a (?P<type>\w+): "(?P<value>.*?)"\.\Z', re.S)


def scalar_error_message(message: str) -> str | None:
    """strawberry's message about a value a scalar (Date, DateTime, Decimal, …) refused, in the caller's language
    with the format to use, without the parser's own exception text (Python's, e.g. "invalid literal for int()
    with base 10"); None for any other message. A variable's prefix ("Variable '$d' has invalid value: ") stays."""
    literal = _LITERAL_REFUSED.match(message)
    if literal is not None:
        # a value written in the document: the scalar's own words (the error's location points at the value)
        inner = scalar_error_message(literal["inner"])
        if inner is not None:
            return inner
    found = _OUT_OF_RANGE.search(message)
    if found is not None:
        from apps.core.graphql.scalars import RANGES

        text = gettext('"%(value)s" is outside the range of a %(type)s this API takes (%(range)s).') % {
            "value": bounded(found["value"]),
            "type": found["type"],
            "range": RANGES.get(found["type"], "?"),
        }
        return bounded_framework_echo(message[: found.start()]) + text
    found = _NOT_A_SCALAR.search(message)
    if found is None:
        return None
    values = {"value": bounded(found["value"]), "type": found["type"]}
    hint = _scalar_formats().get(found["type"])
    if hint is None:
        text = gettext('"%(value)s" is not a %(type)s.') % values
    else:
        text = gettext('"%(value)s" is not a %(type)s; %(format)s.') % {**values, "format": hint}
    return bounded_framework_echo(message[: found.start()]) + text


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


def _nul_in_text(exc: BaseException | None) -> bool:
    """psycopg's refusal of a NUL byte in a text parameter (raised before anything reaches the database)."""
    while exc is not None:
        if isinstance(exc, ValueError | DatabaseError) and "NUL (0x00)" in str(exc):
            return True
        exc = exc.__cause__
    return False


def present_error(error: GraphQLError, schema=None) -> GraphQLError:
    """The error as the client sees it: masked, reworded (ValidationError, a bad global id, a value outside an
    enum: translated) or unchanged, with at most ECHO_LIMIT characters of any value the client sent. `schema`
    (graphql-core's) lets an enum error list the allowed values."""
    if _nul_in_text(error.original_error):
        # a NUL in a text argument the database was asked to compare (a code, a name): the caller's mistake
        return _with_message(
            error, gettext("A text argument contains a NUL character (U+0000), which no text here can hold.")
        )
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
    if is_cursor_error(error.original_error):
        return _with_message(
            error,
            gettext(
                "after or before is not a cursor of this list; pass a cursor the list returned "
                "(pageInfo.endCursor, pageInfo.startCursor or an edge's cursor)."
            ),
        )
    message = enum_error_message(error.message, schema) or scalar_error_message(error.message)
    if message is None and is_framework_error(error):
        message = _CAUGHT_ERROR.sub(", found", error.message, count=1)
        message = message.replace(" not to be None.", " not to be null.")  # GraphQL's null, not Python's
        message = bounded_framework_echo(message)
    elif message is None:
        message = bounded_echo(error.message)
    return error if message == error.message else _with_message(error, message)


class ClvMaskErrors(MaskErrors):
    """strawberry's MaskErrors with our predicate, and ValidationError messages made readable."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask_error, error_message=UNEXPECTED_ERROR)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        schema = getattr(getattr(self.execution_context, "schema", None), "_schema", None)
        return [present_error(error, schema) for error in errors]


def exception_summary(exc: BaseException | None) -> tuple[str, str]:
    """(the exception classes of the chain, the stack of the first) without any exception's message, which
    may hold personal data; the stack gives file, line and function only (source lines are left out too)."""
    chain, stack = [], ""
    while exc is not None and len(chain) < 5:
        chain.append(f"{type(exc).__module__}.{type(exc).__qualname__}")
        if not stack:
            stack = "\n".join(
                f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}'
                for frame in traceback.extract_tb(exc.__traceback__)
            )
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(chain), stack


def log_unexpected_error(error: GraphQLError, operation_name: str | None) -> None:
    """Server-side record of a masked error: exception class and stack, no message (it may hold PII)."""
    exc = error.original_error
    path = ".".join(str(p) for p in error.path or ()) or "-"
    if settings.DEBUG:
        logger.error("GraphQL %s failed at %s", operation_name or "-", path, exc_info=exc)
        return
    chain, stack = exception_summary(exc)
    logger.error("GraphQL %s failed at %s with %s\n%s", operation_name or "-", path, chain, stack)


def log_request_failure(exc: BaseException, method: str) -> None:
    """Server-side record of a request the endpoint could not answer (a fault of ours, outside any operation):
    exception classes and stack, no message unless DEBUG is on."""
    if settings.DEBUG:
        logger.error("GraphQL %s request failed", method, exc_info=exc)
        return
    chain, stack = exception_summary(exc)
    logger.error("GraphQL %s request failed with %s\n%s", method, chain, stack)


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
