"""Helpers every app's GraphQL mutations and brand-level queries share: global ids → the caller's brands and
their rows (another brand's is "not found", never "forbidden"), and service validation errors → one clear
message naming the field."""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.utils.translation import gettext
from strawberry import relay
from strawberry.utils.str_converters import to_camel_case

from apps.core.graphql.ids import is_node_number
from apps.core.graphql.permissions import caller_brand_ids, require_role, signed_in_user_or_deny


class ClientError(ValidationError):
    """A validation error whose text is shown to the client as is (str() is the plain message, not the
    list repr of ValidationError)."""

    def __str__(self) -> str:
        return " ".join(str(m) for m in self.messages)


def client_error(exc: ValidationError, *, names: dict[str, str] | None = None) -> ClientError:
    """One message from a service's ValidationError: "<argument>: <message>" per field, the argument being
    the camelCase GraphQL name (or `names[field]`)."""
    names = names or {}
    if not hasattr(exc, "error_dict"):
        return ClientError(list(exc.messages))
    parts = []
    for field, messages in exc.message_dict.items():
        label = names.get(field, to_camel_case(field))
        parts.extend(m if field == NON_FIELD_ERRORS else f"{label}: {m}" for m in messages)
    return ClientError(parts)


@contextmanager
def client_errors(names: dict[str, str] | None = None):
    """Turn the ValidationErrors of the services called inside into ClientErrors."""
    try:
        yield
    except ClientError:
        raise
    except ValidationError as exc:
        raise client_error(exc, names=names) from None


def pk_of(global_id: relay.GlobalID, type_name: str, not_found: str) -> int:
    """The database id behind a global id of `type_name`; `not_found` (a ClientError) otherwise."""
    if global_id.type_name != type_name:
        raise ClientError(not_found)
    try:
        return int(global_id.node_id)
    except (TypeError, ValueError):
        raise ClientError(not_found) from None


def global_pk(global_id, type_name: str) -> int | None:
    """The database id inside a global id (a GlobalID or its text) of `type_name`; None for anything else."""
    try:
        if not isinstance(global_id, relay.GlobalID):
            global_id = relay.GlobalID.from_id(global_id)
        if global_id.type_name != type_name or not is_node_number(str(global_id.node_id)):
            return None
        return int(global_id.node_id)
    except (TypeError, ValueError):  # GlobalIDValueError is a ValueError
        return None


def brand_for(info, brand, minimum: str):
    """The brand of this global id (GlobalID or text) when the caller's role in it is at least `minimum`;
    "No such brand." for another brand, a bad id or another type's id."""
    from apps.brands.models import Brand

    signed_in_user_or_deny(info)
    no_such = gettext("No such brand.")
    pk = global_pk(brand, "Brand")
    if pk is None:
        raise PermissionDenied(no_such)
    require_role(info, pk, minimum)
    found = Brand.objects.filter(pk=pk).first()
    if found is None:
        raise PermissionDenied(no_such)
    return found


def scoped_get(info, model, global_id, type_name: str, *, not_found: str, minimum: str, **related):
    """The row of a global id (GlobalID or its text) among the caller's brands, once the caller's role in its
    brand is at least `minimum`. A row of another brand is "not found", exactly like a missing one."""
    signed_in_user_or_deny(info)
    pk = global_pk(global_id, type_name)
    if pk is None:
        raise ClientError(not_found)
    queryset = model.objects.filter(pk=pk)
    ids = caller_brand_ids(info)
    if ids is not None:
        queryset = queryset.filter(brand_id__in=ids)
    if related.get("select_related"):
        queryset = queryset.select_related(*related["select_related"])
    row = queryset.first()
    if row is None:
        raise ClientError(not_found)
    require_role(info, row.brand_id, minimum)
    return row
