"""Writes and authentication for API tokens. The admin, the command and GraphQL all call these."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.api.models import ApiToken
from apps.brands.models import Role

TOKEN_PREFIX = "clv_"
# clv_<8 hex characters>_<43 url-safe characters>
TOKEN_RE = re.compile(r"^clv_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(plaintext: str) -> str:
    """SHA-256 hex digest of the whole token: what the database keeps instead of the token."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _new_plaintext() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


@transaction.atomic
def api_token_create(*, brand, role: str, name: str = "", created_by=None) -> tuple[ApiToken, str]:
    """A new token of `brand` with `role`. Returns the token row and the plaintext token, which is shown
    once and never stored (only its hash is)."""
    if role not in Role.values:
        raise ValidationError(
            {
                "role": ValidationError(
                    _("Unknown role %(role)s: use viewer, analyst or manager."),
                    code="invalid_role",
                    params={"role": role},
                )
            }
        )
    name = (name or "").strip()
    token = ApiToken(brand=brand, role=role, name=name, created_by=created_by)
    prefix, plaintext = _new_plaintext()
    token.key_prefix = prefix
    token.key_hash = token_hash(plaintext)
    token.full_clean(exclude=["key_hash", "key_prefix", "created_by"])
    token.save()
    return token, plaintext


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by=None) -> ApiToken:
    """Revoke a token: requests with it are refused from now on. Revoking a revoked token changes nothing."""
    now = timezone.now()
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=by, updated_at=now
    )
    if updated or token.revoked_at is None:
        token.refresh_from_db(fields=["revoked_at", "revoked_by", "updated_at"])
    return token


def api_token_authenticate(plaintext: str | None) -> ApiToken | None:
    """The active token for this plaintext, or None (malformed, unknown or revoked).

    The token is found by the hash of what was presented, so the comparison never runs over the secret
    itself; the stored hash is compared again in constant time. `last_used_at` is written at most once a
    minute per token.
    """
    if not plaintext or not TOKEN_RE.match(plaintext):
        return None
    digest = token_hash(plaintext)
    token = ApiToken.objects.select_related("brand").filter(key_hash=digest).first()
    if token is None or not hmac.compare_digest(token.key_hash, digest) or token.revoked_at is not None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        stale = now - LAST_USED_RESOLUTION
        # Conditional, so that concurrent requests of the same minute write once.
        ApiToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=token.pk
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
