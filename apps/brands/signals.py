"""Signals of the brands app, so apps above it can act on a brand without brands importing them."""

from django.dispatch import Signal

# Sent by services.brand_create inside its transaction, for a new brand and for an existing one it updated
# (receivers must be idempotent), with `brand` and `created`. The loyalty app adds the default tiers and
# benefits a brand is missing.
brand_saved = Signal()
