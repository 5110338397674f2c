"""Reads about erased customers that the erasure service and every importer share (docs/privacy.md).

An erased customer keeps no external id: customers.services.customer_erase replaces it with a random token
(`erased-` and 32 hex digits) and keeps only a tombstone, the keyed hash of the brand and the old id
(HMAC-SHA256 under settings.CLV_ERASURE_KEY; the key is never stored in the database). A re-imported file that
still names the person under the old id is recognised by that hash, so the rows can go to the erased
customer without any personal field, or be refused, as the brand chooses (Brand.erased_customer_rows).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings
from django.utils.translation import gettext as _

from apps.brands.models import Brand, ErasedCustomerRows
from apps.customers.models import ErasureTombstone

ERASED_ID_PREFIX = "erased-"
_TOKEN = re.compile(r"erased-[0-9a-f]{32}")
# What the key is derived from when CLV_ERASURE_KEY is empty (a fixed label: the derived key changes only with
# SECRET_KEY).
_DERIVATION_LABEL = b"clv: keyed hash of erased customers' external ids, v1"


def erasure_key() -> bytes:
    """The key of the tombstones' keyed hash: settings.CLV_ERASURE_KEY, or when it is empty a key derived from
    SECRET_KEY (HMAC-SHA256 of a fixed label). Read at each use, so tests and deployments may set it."""
    configured = getattr(settings, "CLV_ERASURE_KEY", "") or ""
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), _DERIVATION_LABEL, hashlib.sha256).digest()


def tombstone_digest(brand_id: int, external_id: str, *, key: bytes | None = None) -> str:
    """HMAC-SHA256 (hex) of the brand's id and an external id, as imports compare them (trimmed text)."""
    message = f"{brand_id}\x1f{external_id}".encode()
    return hmac.new(erasure_key() if key is None else key, message, hashlib.sha256).hexdigest()


def is_erased_token(external_id: str) -> bool:
    """Whether an id is the token an erasure gave a customer (it names an erased customer, never a person)."""
    return _TOKEN.fullmatch(external_id) is not None


class ErasedIds:
    """The brand's erased customers as one import meets them. One query (the brand's tombstones); each id of
    the source is hashed once, and only when the brand has erased someone.

    `target(id)` is the external id of the erased customer that rows with customer_id `id` belong to (its
    token), or None when `id` names no erased customer. `refuse` says the brand refuses such rows instead
    (`reason` words the error); `kept` counts the rows an importer kept anonymous."""

    def __init__(self, brand: Brand):
        self.refuse = brand.erased_customer_rows == ErasedCustomerRows.REFUSE
        self.reason = _(
            "this customer's personal data was erased; the brand refuses rows of erased customers "
            "(brand setting: rows of erased customers in imports)"
        )
        self._tokens = dict(
            ErasureTombstone.objects.filter(brand=brand).values_list("digest", "customer__external_id")
        )
        self._hash = (
            hmac.new(erasure_key(), f"{brand.pk}\x1f".encode(), hashlib.sha256) if self._tokens else None
        )
        self._seen: dict[str, str | None] = {}
        self.kept = 0

    def __bool__(self) -> bool:
        """False when the brand has no tombstone (only erasure tokens can then name an erased customer)."""
        return self._hash is not None

    def target(self, external_id: str) -> str | None:
        if external_id.startswith(ERASED_ID_PREFIX) and is_erased_token(external_id):
            return external_id
        if self._hash is None:
            return None
        try:
            return self._seen[external_id]
        except KeyError:
            pass
        digest = self._hash.copy()
        digest.update(external_id.encode())
        found = self._tokens.get(digest.hexdigest())
        self._seen[external_id] = found
        return found
