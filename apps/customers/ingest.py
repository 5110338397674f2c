"""Batch ingest of customers (the ingestCustomers mutation): apps.core.importing.batch with this app's importer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing.batch import BatchResult, ItemError, key_text, keyed_ingest
from apps.customers.importers import customers_import
from apps.customers.models import Customer


def customers_ingest(*, brand: Brand, items: Sequence[Mapping[str, object]]) -> BatchResult:
    """Create or update customers by customer_id. Columns an item leaves out keep their stored values.
    Customers whose personal data was erased cannot be written again: an item under an erasure token is an
    error here; one under an erased customer's old id (its tombstone) writes nothing, or is an error when the
    brand refuses rows of erased customers (customers_import)."""

    def not_erased(items: list[dict[str, object]]) -> list[ItemError]:
        ids = {key_text(item.get("customer_id")) for item in items} - {None}
        erased = set(
            Customer.objects.filter(brand=brand, external_id__in=ids, erased_at__isnull=False).values_list(
                "external_id", flat=True
            )
        )
        message = _("this customer's personal data was erased; it cannot be written again")
        return [
            ItemError(i, "customer_id", message)
            for i, item in enumerate(items)
            if key_text(item.get("customer_id")) in erased
        ]

    return keyed_ingest(
        brand=brand,
        items=items,
        importer=customers_import,
        key=lambda item: key_text(item.get("customer_id")),
        column="customer_id",
        duplicate=_("the same customer appears in item %(index)d"),
        checks=not_erased,
    )
