"""Signals of the streams app, so apps above it can act on streams without streams importing them."""

from django.dispatch import Signal

# Sent after streams with an end time, or views of such streams, were written (import, ingest), with
# `brand` and `stream_ids` (database ids). Receivers decide which streams still matter (the engagement app
# plans the follow-ups of streams whose window is open) and must be idempotent: a stream is sent again
# each time more of its views arrive.
streams_ended = Signal()
