"""A node limit in GitHub's style: refuse, before running it, an operation that could return too many nodes.

Each connection field (a type with `edges` and `pageInfo`) can return as many nodes as its `first`/`last`
argument says (MAX_PAGE_SIZE when neither is given, since no page is larger), once for every node of the
connections it is nested in. The operation's node count is the sum over its connection fields, e.g.

    customers(first: 50) { edges { node { orders(first: 10) { … } } } }   →   50 + 50 × 10 = 550

Arguments given as variables are read from the request's variables (or the variable's default). Plain lists
and single objects count no nodes and multiply nothing. The check runs as a validation rule, so an
operation over the limit is refused like any invalid document, with nothing executed.

MAX_DOCUMENT_CHARS bounds the document itself (comments and whitespace included, which the token limit does
not count); the endpoint refuses a longer one before parsing it (apps.api.views).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from django.utils.translation import gettext
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    validate,
    value_from_ast_untyped,
)
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.schema.schema import validate_document

MAX_NODE_COUNT = 50_000
MAX_PAGE_SIZE = 100
GRAPHQL_MAX_INT = 2**31 - 1
MAX_DOCUMENT_CHARS = 100_000


def is_connection_type(graphql_type) -> bool:
    named = get_named_type(graphql_type)
    return isinstance(named, GraphQLObjectType) and "edges" in named.fields and "pageInfo" in named.fields


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, Any],
        variables: Mapping[str, Any],
        variable_defaults: Mapping[str, Any],
        default_page_size: int,
    ):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.variable_defaults = variable_defaults
        self.default_page_size = default_page_size

    def page_size(self, field: FieldNode) -> int:
        sizes = []
        for argument in field.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = self.argument_value(argument.value)
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # JSON's 1e30 (not an Int either)
            if (
                isinstance(value, int)
                and not isinstance(value, bool)
                and -GRAPHQL_MAX_INT - 1 <= value <= GRAPHQL_MAX_INT
            ):
                # a value outside Int's range is refused by the type check, which says so: counted here, it
                # read as an operation that could return two billion nodes
                sizes.append(max(value, 0))
        return max(sizes) if sizes else self.default_page_size

    def argument_value(self, node) -> Any:
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            return self.variable_defaults.get(name)
        return None

    def count(
        self, selection_set: SelectionSetNode | None, parent_type, multiplier: int, seen: frozenset
    ) -> int:
        if selection_set is None or not isinstance(parent_type, GraphQLObjectType | GraphQLInterfaceType):
            # a union: only its members' fields (in fragments) can count
            return (
                sum(self._fragments_of(selection_set, parent_type, multiplier, seen)) if selection_set else 0
            )
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                field = parent_type.fields.get(selection.name.value)
                if field is None or selection.selection_set is None:
                    continue
                child_type = get_named_type(field.type)
                if is_connection_type(child_type):
                    nodes = multiplier * self.page_size(selection)
                    total += nodes + self.count(selection.selection_set, child_type, nodes, seen)
                else:
                    total += self.count(selection.selection_set, child_type, multiplier, seen)
        total += sum(self._fragments_of(selection_set, parent_type, multiplier, seen))
        return total

    def _fragments_of(
        self, selection_set: SelectionSetNode, parent_type, multiplier: int, seen
    ) -> Iterator[int]:
        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                fragment_type = self.schema.get_type(condition.name.value) if condition else parent_type
                yield self.count(selection.selection_set, fragment_type, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:  # unknown or cyclic: other rules report it
                    continue
                fragment_type = self.schema.get_type(fragment.type_condition.name.value)
                yield self.count(fragment.selection_set, fragment_type, multiplier, seen | {name})


def operation_node_count(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, Any],
    variables: Mapping[str, Any] | None = None,
    default_page_size: int = MAX_PAGE_SIZE,
) -> int:
    """How many nodes this operation could return at most (see the module docstring)."""
    defaults = {
        definition.variable.name.value: value_from_ast_untyped(definition.default_value)
        for definition in operation.variable_definitions or ()
        if definition.default_value is not None
    }
    root_type = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root_type is None:
        return 0
    counter = _Counter(schema, fragments, variables or {}, defaults, default_page_size)
    return counter.count(operation.selection_set, root_type, 1, frozenset())


def node_limit_message(count: int, limit: int) -> str:
    return gettext(
        "This query could return up to %(count)s nodes, more than the limit of %(limit)s. "
        "Ask for fewer items with first or last, or nest fewer connections."
    ) % {"count": f"{count:,}", "limit": f"{limit:,}"}


def node_count_rule(
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    max_node_count: int = MAX_NODE_COUNT,
    default_page_size: int = MAX_PAGE_SIZE,
) -> type[ValidationRule]:
    """A graphql-core validation rule class for one request (it needs the request's variables)."""

    class NodeCountRule(ValidationRule):
        per_request = True  # ValidationCached runs it on every request

        def enter_document(self, document, *_args):
            fragments = {}
            operations = []
            for definition in document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    operations.append(definition)
                elif hasattr(definition, "type_condition"):
                    fragments[definition.name.value] = definition
            if operation_name is not None:
                operations = [op for op in operations if op.name and op.name.value == operation_name]
            for operation in operations:
                try:
                    count = operation_node_count(
                        self.context.schema, operation, fragments, variables, default_page_size
                    )
                except (TypeError, ValueError, AttributeError):
                    continue  # a malformed document: the other rules say what is wrong with it
                if count > max_node_count:
                    self.report_error(GraphQLError(node_limit_message(count, max_node_count), operation))
            return self.SKIP

    return NodeCountRule


class NodeCountLimiter(SchemaExtension):
    """Refuses operations that could return more than `max_node_count` nodes (GitHub's node limit)."""

    def __init__(self, max_node_count: int = MAX_NODE_COUNT, default_page_size: int = MAX_PAGE_SIZE) -> None:
        self.max_node_count = max_node_count
        self.default_page_size = default_page_size

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        rule = node_count_rule(
            context.variables, context.operation_name, self.max_node_count, self.default_page_size
        )
        context.validation_rules = (*context.validation_rules, rule)
        yield


@functools.cache
def _depth_rule(max_depth: int) -> type[ValidationRule]:
    depth_rule = create_validator(max_depth, None)

    class DepthRule(depth_rule):
        def __init__(self, context) -> None:
            try:
                super().__init__(context)
            except KeyError:  # an unknown fragment: the document is refused by KnownFragmentNamesRule
                ValidationRule.__init__(self, context)

    return DepthRule


class DepthLimiter(AddValidationRules):
    """strawberry's QueryDepthLimiter (same rule, same message), except that a spread of a fragment the document
    does not define is left to GraphQL's own rule ("Unknown fragment 'F'.") instead of failing with a KeyError,
    which masked the client's mistake as "Unexpected error.". One rule class per limit, shared by every request
    (so ValidationCached can recognise the same rules)."""

    def __init__(self, max_depth: int) -> None:
        super().__init__([_depth_rule(max_depth)])


class AliasLimiter(AddValidationRules):
    """strawberry's MaxAliasesLimiter (same rule, same message) with one rule class per limit, shared by every
    request."""

    def __init__(self, max_alias_count: int) -> None:
        super().__init__([_aliases_rule(max_alias_count)])


@functools.cache
def _aliases_rule(max_alias_count: int) -> type[ValidationRule]:
    return aliases_validator(max_alias_count)


VALID_DOCUMENTS_KEPT = 256
_valid_documents: OrderedDict = OrderedDict()  # (schema, document, fixed rules) → True, least recent first
_valid_lock = threading.Lock()


class ValidationCached(SchemaExtension):
    """Validate a document once: an operation the schema's rules accepted is not validated again when its
    document comes back (validating the API's usual 360 view took ~20 ms of its ~60 ms of CPU). The key is the
    parsed document itself: strawberry's ParserCache, placed before this extension, hands out the same document
    for the same text. A rule that depends on the request (the node limit reads its variables: `per_request`)
    runs every time. Only accepted documents are remembered (the VALID_DOCUMENTS_KEPT most recent): a document
    that fails validation is validated afresh each time, so its errors are the request's own (in its language)
    and invalid documents never fill the cache."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema, document = context.schema._schema, context.graphql_document
        if document is not None:
            rules = context.validation_rules
            fixed = tuple(rule for rule in rules if not getattr(rule, "per_request", False))
            key = (schema, document, fixed)
            with _valid_lock:
                known = key in _valid_documents
                if known:
                    _valid_documents.move_to_end(key)
            if known:
                varying = tuple(rule for rule in rules if getattr(rule, "per_request", False))
                context.pre_execution_errors = validate(schema, document, varying) if varying else []
            else:
                context.pre_execution_errors = validate_document(schema, document, rules)
                if not context.pre_execution_errors:
                    with _valid_lock:
                        _valid_documents[key] = True
                        while len(_valid_documents) > VALID_DOCUMENTS_KEPT:
                            _valid_documents.popitem(last=False)
        yield


class OneOperationOrNamed(SchemaExtension):
    """A document with several operations runs the one `operationName` names; without a name it is refused (as
    the GraphQL spec says), instead of strawberry's running the first, which could be a mutation the caller
    never meant to send. Placed after ParserCache: it looks at the parsed document, before the operation's type
    is checked, and raises what the endpoint answers with a 400 naming the fix."""

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        if document is None or getattr(context, "_provided_operation_name", None) is not None:
            return
        operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
        if operations > 1:
            from strawberry.schema.exceptions import CannotGetOperationTypeError

            raise CannotGetOperationTypeError(None)
