"""The caller behind an API token: a user-like principal of exactly one brand with one role.

It has no row in the user table. apps.core.scoping reads the brand and role it caches, so brand scoping,
role checks (require_role, user_may) and querysets `for_user` treat it like a staff member of that brand.
It never gets into the admin (not staff) and is never a superuser.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models.manager import EmptyManager

from apps.brands.roles import role_grants


class TokenPrincipal:
    """request.user for a request authenticated with an API token."""

    id = None
    pk = None
    is_staff = False
    is_superuser = False
    is_active = True
    is_anonymous = False
    is_authenticated = True
    _groups = EmptyManager(Group)
    _user_permissions = EmptyManager(Permission)

    def __init__(self, token):
        self.api_token = token
        self.brand_id = token.brand_id
        self.role = token.role
        self.username = f"api-token:{token.key_prefix}"
        # What apps.core.scoping caches for users, filled in so that it never asks the database.
        self._clv_brand_ids = [token.brand_id]
        self._clv_roles = {token.brand_id: token.role}

    def __str__(self):
        return self.username

    def __repr__(self):
        return f"<TokenPrincipal {self.username} brand={self.brand_id} role={self.role}>"

    def __eq__(self, other):
        return isinstance(other, TokenPrincipal) and other.api_token.pk == self.api_token.pk

    def __hash__(self):
        return hash(("api-token", self.api_token.pk))

    @property
    def groups(self):
        return self._groups

    @property
    def user_permissions(self):
        return self._user_permissions

    def get_username(self) -> str:
        return self.username

    def save(self, *args, **kwargs):
        raise NotImplementedError("An API token principal is not a database user.")

    def delete(self, *args, **kwargs):
        raise NotImplementedError("An API token principal is not a database user.")

    def set_password(self, raw_password):
        raise NotImplementedError("An API token principal has no password.")

    def check_password(self, raw_password) -> bool:
        return False

    # Permissions: what the token's role grants in its one brand (see apps.brands.roles).

    def get_user_permissions(self, obj=None) -> set[str]:
        return set()

    def get_group_permissions(self, obj=None) -> set[str]:
        return set()

    def get_all_permissions(self, obj=None) -> set[str]:
        from apps.brands.roles import role_permissions

        return set(role_permissions(self.role))

    def has_perm(self, perm: str, obj=None) -> bool:
        return role_grants(self.role, perm)

    def has_perms(self, perm_list, obj=None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return any(perm.startswith(f"{app_label}.") for perm in self.get_all_permissions())
