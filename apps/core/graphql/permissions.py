"""Who is calling and what they may do.

A caller is a Django user: a staff member signed in with a session (CSRF enforced by the view), or an API
token, which the GraphQL view turns into a token principal that behaves like a user of one brand with one
role (see apps.api). Scoping and role checks go through apps.core.scoping, so both kinds are treated alike.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext

from apps.core.scoping import ROLE_RANK, brand_ids_for_user, role_for


def request_user(info):
    """The Django user of the request behind this GraphQL operation (AnonymousUser when signed out)."""
    context = info.context
    request = getattr(context, "request", None)
    if request is None and isinstance(context, dict):
        request = context.get("request")
    return getattr(request, "user", None)


def signed_in_user_or_deny(info):
    """The signed-in, active user; a clear permission error otherwise."""
    user = request_user(info)
    if user is None or not user.is_authenticated or not user.is_active:
        raise PermissionDenied(gettext("You must be signed in to use this field."))
    return user


def caller_brand_ids(info) -> list[int] | None:
    """Brand ids the caller may see: None means every brand (superuser), [] nothing."""
    return brand_ids_for_user(request_user(info))


def require_role(info, brand_id: int, minimum: str):
    """The caller, when their role in this brand is at least `minimum` (viewer < analyst < manager).

    A brand the caller does not belong to is reported as not found, never as forbidden, so that callers
    learn nothing about other brands."""
    user = signed_in_user_or_deny(info)
    role = role_for(user, brand_id)
    if role is None:
        raise PermissionDenied(gettext("No such brand."))
    if ROLE_RANK[role] < ROLE_RANK[minimum]:
        raise PermissionDenied(
            gettext("This needs the %(role)s role in the brand.") % {"role": _role_label(minimum)}
        )
    return user


def _role_label(role: str) -> str:
    from apps.brands.models import Role

    return str(dict(Role.choices).get(role, role))
