"""Signals of the orders app, so apps above it can act on orders without orders importing them."""

from django.dispatch import Signal

# Sent by importers.orders_import (files and the ingestOrders mutation) inside its transaction after it created
# or changed orders of `brand`; `in_place` is True when existing orders, their lines or customers' first-seen
# dates changed (False: only new orders). The analytics app drops the brand's dashboard snapshot: a changed
# order (a refund, say) leaves the brand's newest order id, which the snapshot's data version reads, as it was;
# its read cache forgets the brand's reads only when `in_place` (new orders move the newest order id).
orders_changed = Signal()
