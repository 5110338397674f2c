"""Writes for customers that the admin, commands and GraphQL share."""

from __future__ import annotations

import logging
import secrets

from django.db import transaction
from django.utils import timezone

from apps.customers.models import Customer, Gender

logger = logging.getLogger(__name__)

ERASED_ID_PREFIX = "erased-"

# Personal data and what it becomes. Kept: acquisition channel and stream and first_seen_at (cohorts and
# stream figures), orders, stream views, community spells, scores, tiers and grants (the brand's figures).
ERASED_VALUES = {
    "display_name": "",
    "phone": "",
    "email": "",
    "gender": Gender.UNKNOWN.value,
    "birth_year": None,
    "age_band": "",
    "province": "",
    "city": "",
    "preferred_touch_channel": "",
    "marketing_consent": False,
    "automated_decisions_opt_out": True,
}


def erased_external_id() -> str:
    """A random token: unlike a hash of the old id, it cannot be traced back to the person."""
    return ERASED_ID_PREFIX + secrets.token_hex(16)


@transaction.atomic
def customer_erase(*, brand, customer_id: int, now=None) -> tuple[Customer, bool]:
    """Erase one customer's personal data for good (PIPL erasure on request).

    The name, phone, e-mail, gender, birth year, age band, region and touch preference are cleared; the external id
    is replaced by a random token (so the brand's id for the person is gone too); marketing consent is
    withdrawn and the customer is opted out of automated decisions, which keeps them out of automatic tier
    and benefit changes. Orders and every other row stay, so the brand's figures do not change. The admin
    history of the customer is relabelled with the token. Idempotent: erasing again changes nothing.

    Returns (customer, erased_now). Raises Customer.DoesNotExist for a customer of another brand."""
    customer = Customer.objects.select_for_update().get(brand=brand, pk=customer_id)
    if customer.erased_at is not None:
        return customer, False
    for field, value in ERASED_VALUES.items():
        setattr(customer, field, value)
    customer.external_id = erased_external_id()
    customer.erased_at = now or timezone.now()
    customer.save(update_fields=[*ERASED_VALUES, "external_id", "erased_at", "updated_at"])
    _relabel_admin_history(customer)
    logger.info("customer %s of brand %s: personal data erased", customer.pk, customer.brand_id)
    return customer, True


def _relabel_admin_history(customer: Customer) -> None:
    """The admin log keeps str(customer), the old external id, for every change: replace it."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer.pk)
    ).update(object_repr=customer.external_id)
