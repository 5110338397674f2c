"""Signals of the analytics app, so apps above it can act on scores without analytics importing them."""

from django.dispatch import Signal

# Sent by publishing.model_run_publish inside its transaction when a refresh run's scores became the
# published ones, with `run` and `previous` (the run published before it, or None). Receivers that queue work must do it on commit. The engagement app plans win-back.
scores_published = Signal()

# Sent by services.scores_refresh just before it publishes a refresh run scored in chunks elsewhere, with `run`:
# its scores, tiers and prospects are committed, so a receiver may start work on them in a connection of its
# own, to be used by its scores_published receiver (through the same `run` instance) if the publish happens.
# The engagement app decides the next actions beside the publish's stage history.
scores_ready = Signal()
