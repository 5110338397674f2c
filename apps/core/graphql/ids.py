"""Global ids a client sends, and what a clear error about one looks like.

An id argument must be a global id this API returned (the `id` of a node: base64 of "Type:number"). strawberry
says `Value cannot represent a GlobalID: "…"` in English, repeating the whole value, and a well-formed id of an
unknown type or with a non-numeric number fails further in. Both become one translated message that names the
argument (its path inside an input, e.g. `filter.tiers[0]`) and repeats at most ECHO_LIMIT characters of it:
`filter.tiers[0]: "abc" is not an id this API returned (use the `id` of a node).`
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLObjectType
from strawberry.relay import GlobalID, GlobalIDValueError

ECHO_LIMIT = 64  # never repeat more of what a client sent than this many characters
MAX_NODE_NUMBER_DIGITS = 18  # every row's number fits a bigint; a longer one is nobody's (and no bigint)


def bounded(value: Any, limit: int = ECHO_LIMIT) -> str:
    """At most `limit` characters of something a client sent, to repeat in a message."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_node_id(value: Any, schema=None) -> bool:
    """True for a global id of a node type of the schema (any type name when no schema is given) whose number
    is a whole number, as every node's is."""
    try:
        global_id = value if isinstance(value, GlobalID) else GlobalID.from_id(str(value))
    except (GlobalIDValueError, ValueError, TypeError):
        return False
    if not is_node_number(global_id.node_id):
        return False
    if schema is None:
        return True
    return isinstance(schema.get_type(global_id.type_name), GraphQLObjectType)


def check_node_ids(node_ids) -> None:
    """GlobalIDValueError for a node number that is not a whole number (it cannot be a row's)."""
    for node_id in node_ids or ():
        text = node_id.node_id if isinstance(node_id, GlobalID) else str(node_id)
        if not is_node_number(text):
            raise GlobalIDValueError("not a node number")


def is_node_number(text: str) -> bool:
    """True for the number part of a global id that can be a row's: a whole number that fits a bigint."""
    return text.isascii() and text.isdigit() and len(text) <= MAX_NODE_NUMBER_DIGITS


def invalid_global_id_error(info, arguments: dict[str, Any]):
    """A clear, translated error naming the argument (of the field `info` resolves) that is not a node id."""
    from apps.core.graphql.relay import ArgumentError

    found = _first_bad_id(info, arguments)
    if found is None:
        return ArgumentError(
            gettext("Not an id this API returned (use the `id` of a node)."), code="invalid_id"
        )
    where, value = found
    return ArgumentError(
        gettext('%(argument)s: "%(value)s" is not an id this API returned (use the `id` of a node).')
        % {"argument": where, "value": bounded(value)},
        code="invalid_id",
    )


def _first_bad_id(info, arguments: dict[str, Any]) -> tuple[str, str] | None:
    try:
        field = info.parent_type.fields[info.field_name]
    except (AttributeError, KeyError):
        return None
    for name, argument in field.args.items():
        if name in arguments:
            found = _bad_id_in(arguments[name], argument.type, (name,), info.schema)
            if found:
                return found
    return None


def _bad_id_in(value, graphql_type, path: tuple, schema) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(graphql_type, GraphQLNonNull):
        graphql_type = graphql_type.of_type
    if isinstance(graphql_type, GraphQLList):
        for index, item in enumerate(value if isinstance(value, list | tuple) else [value]):
            found = _bad_id_in(item, graphql_type.of_type, (*path, index), schema)
            if found:
                return found
        return None
    if isinstance(graphql_type, GraphQLInputObjectType):
        if not isinstance(value, dict):
            return None
        for name, input_field in graphql_type.fields.items():
            if name in value:
                found = _bad_id_in(value[name], input_field.type, (*path, name), schema)
                if found:
                    return found
        return None
    if getattr(graphql_type, "name", None) == "ID" and not is_node_id(value, schema):
        return _path_text(path), str(value)
    return None


def _path_text(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


__all__ = ["ECHO_LIMIT", "bounded", "check_node_ids", "invalid_global_id_error", "is_node_id"]
