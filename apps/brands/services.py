"""Writes for brands and memberships."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from apps.brands.models import Brand, Membership
from apps.brands.roles import GROUP_NAMES, role_permissions
from apps.brands.signals import brand_saved


def roles_sync() -> dict[str, Group]:
    """Create or update the permission group of every role. Idempotent."""
    groups = {}
    for role, name in GROUP_NAMES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = role_permissions(role)
        perms = [
            p
            for p in Permission.objects.select_related("content_type")
            if f"{p.content_type.app_label}.{p.codename}" in wanted
        ]
        group.permissions.set(perms)
        groups[role] = group
    return groups


def user_groups_sync(*, user) -> None:
    """Give the user the groups of every role they hold in any brand; staff flag follows membership."""
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    role_groups = Group.objects.filter(name__in=GROUP_NAMES.values())
    keep = [g for g in role_groups if g.name in {GROUP_NAMES[r] for r in roles}]
    user.groups.remove(*[g for g in role_groups if g not in keep])
    user.groups.add(*keep)
    if roles and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


@transaction.atomic
def membership_set(*, user, brand: Brand, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(user=user, brand=brand, defaults={"role": role})
    user_groups_sync(user=user)
    return membership


@transaction.atomic
def staff_user_ensure(
    *, username: str, brand: Brand, role: str, password: str | None = None, keep_password: bool = False
) -> tuple[object, str | None]:
    """Create or update a staff login with `role` in `brand`. Returns the user and the password it set
    (a random one when none is given), or None when an existing user's password was kept."""
    import secrets

    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
    new_password = None
    if created or not keep_password:
        new_password = password or secrets.token_urlsafe(12)
        user.set_password(new_password)
        user.is_staff = True
        user.save()
    membership_set(user=user, brand=brand, role=role)
    return user, new_password


@transaction.atomic
def membership_remove(*, user, brand: Brand) -> None:
    Membership.objects.filter(user=user, brand=brand).delete()
    user_groups_sync(user=user)


@transaction.atomic
def brand_create(
    *, slug: str, name: str, timezone: str | None = None, currency: str | None = None
) -> tuple[Brand, bool]:
    """Create a brand (or update the one with this slug) and send signals.brand_saved: the loyalty app adds
    the default tiers and benefits it is missing (edits staff made to existing ones are kept). A new brand
    without a time zone or currency gets Asia/Shanghai and CNY; an existing one keeps those not given (running
    it again with the name only used to reset them). The slug must be a slug (letters, digits, - and _)."""
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise ValidationError({"slug": exc.messages}) from None
    existing = Brand.objects.filter(slug=slug).first()
    timezone = timezone or (existing.timezone if existing else "Asia/Shanghai")
    currency = currency or (existing.currency if existing else "CNY")
    brand = Brand(slug=slug, name=name, timezone=timezone, currency=currency)
    brand.full_clean(exclude=["slug"], validate_unique=False)
    brand, created = Brand.objects.update_or_create(
        slug=slug, defaults={"name": name, "timezone": timezone, "currency": currency}
    )
    brand_saved.send(sender=Brand, brand=brand, created=created)
    return brand, created
