"""Signals of the analytics app, so apps above it can act on scores without analytics importing them."""

from django.dispatch import Signal

# Sent by publishing.model_run_publish inside its transaction when a refresh run's scores became the
# published ones, with `run` and `previous` (the run published before it, or None). Receivers that queue work must do it on commit. The engagement app plans win-back.
scores_published = Signal()
