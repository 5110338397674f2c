"""The customers app's admin: CustomerAdmin (customer.py) with its list filters, bulk grants and 360 page;
the customer list's exports (exports.py)."""

from apps.customers.admin.customer import CustomerAdmin
from apps.customers.admin.exports import ExportJobAdmin

__all__ = ["CustomerAdmin", "ExportJobAdmin"]
