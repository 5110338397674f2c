"""Signals of the orders app, so apps above it can act on orders without orders importing them."""

from django.dispatch import Signal

# Sent by importers.orders_import (files and the ingestOrders mutation) inside its transaction after it created
# or changed orders of `brand`. The analytics app drops the brand's dashboard snapshot: a changed order
# (a refund, say) leaves the brand's newest order id, which the snapshot's data version reads, as it was.
orders_changed = Signal()
