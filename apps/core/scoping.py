"""Which brands a user may see, and with which role. The one place tenant scoping is decided."""

from __future__ import annotations


def brand_ids_for_user(user) -> list[int] | None:
    """Brand ids the user belongs to. None means unrestricted (superuser); [] means nothing."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    cached = getattr(user, "_clv_brand_ids", None)
    if cached is None:
        _memberships_load(user)
        cached = user._clv_brand_ids
    return cached


def role_for(user, brand_id: int) -> str | None:
    """The user's role in one brand ('viewer', 'analyst', 'manager'), 'superuser', or None."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return "superuser"
    roles = getattr(user, "_clv_roles", None)
    if roles is None:
        _memberships_load(user)
        roles = user._clv_roles
    return roles.get(brand_id)


ROLE_RANK = {"viewer": 1, "analyst": 2, "manager": 3, "superuser": 4}


def brand_ids_with_role(user, minimum: str) -> list[int] | None:
    """The user's brands where their role is at least `minimum` (viewer < analyst < manager); None means
    every brand (superuser)."""
    ids = brand_ids_for_user(user)
    if ids is None:
        return None
    return [brand_id for brand_id in ids if ROLE_RANK.get(role_for(user, brand_id), 0) >= ROLE_RANK[minimum]]


def _memberships_load(user) -> None:
    """One query fills both per-request caches on the user object: brand ids and the role in each."""
    from apps.brands.models import Membership

    roles = dict(Membership.objects.filter(user=user).values_list("brand_id", "role"))
    user._clv_roles = roles
    user._clv_brand_ids = list(roles)


def user_may(user, brand_id: int, perm_codename: str) -> bool:
    """True if the user's role in this brand grants the model permission ('app.codename')."""
    from apps.brands.roles import role_grants

    role = role_for(user, brand_id)
    if role == "superuser":
        return True
    return role is not None and role_grants(role, perm_codename)
