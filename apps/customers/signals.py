"""Signals of the customers app, so apps above it can act on customers without customers importing them."""

from django.dispatch import Signal

# Sent by services.customer_erase inside its transaction once a customer's personal data was erased, with
# `brand` and `customer_id` (never the erased values). The analytics app drops the brand's dashboard snapshot,
# whose at-risk list keeps customers' external ids.
customer_erased = Signal()

# Sent by importers.customers_import once a file's customers were written, with `brand`: their columns changed
# in bulk (no model save). The analytics app forgets the brand's cached reads.
customers_changed = Signal()
