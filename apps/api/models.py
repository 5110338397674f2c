"""API tokens: how frontend apps call the GraphQL API as one brand with one role.

Only the SHA-256 hash of a token is stored; the token itself is shown once, when it is created.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.brands.models import Role
from apps.core.models import BrandScopedQuerySet, TimeStampedModel, brand_field


class ApiToken(TimeStampedModel):
    """A brand's API token with a role (viewer, analyst or manager).

    Not a BrandOwnedModel on purpose: a request presents only the token, so the token is found by its hash
    before its brand is known, and that lookup needs a unique index on key_hash alone. The brand column and
    the listing index still lead with brand_id, and every read for staff is scoped by brand.
    """

    brand = brand_field()
    name = models.CharField(
        _("name"),
        max_length=100,
        blank=True,
        help_text=_("What the token is for, e.g. the app that uses it."),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    key_prefix = models.CharField(
        _("key prefix"), max_length=8, editable=False, help_text=_("The start of the token, to recognise it.")
    )
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        db_index=False,  # a small table; deleting a user may scan it
        related_name="+",
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        db_index=False,  # a small table; deleting a user may scan it
        related_name="+",
        verbose_name=_("revoked by"),
    )

    objects = BrandScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["brand", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["key_hash"], name="apitoken_unique_key_hash"),
            models.CheckConstraint(
                condition=Q(role__in=["viewer", "analyst", "manager"]), name="apitoken_role_valid"
            ),
            models.CheckConstraint(
                condition=Q(key_hash__regex=r"^[0-9a-f]{64}$"), name="apitoken_key_hash_sha256"
            ),
        ]
        indexes = [models.Index(fields=["brand", "created_at"], name="apitoken_brand_created")]

    def __str__(self):
        return f"{self.name or self.key_prefix} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
