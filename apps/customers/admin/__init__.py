"""The customers app's admin: CustomerAdmin (customer.py) with its list filters, bulk grants and 360 page."""

from apps.customers.admin.customer import CustomerAdmin

__all__ = ["CustomerAdmin"]
