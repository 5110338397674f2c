"""Who is calling: the staff member behind the session (Django session auth, CSRF enforced by the view)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext


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
