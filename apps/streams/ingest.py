"""Batch ingest of live streams and stream views (ingestStreams, ingestStreamViews): apps.core.importing.batch
with this app's importers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _

from apps.brands.models import Brand
from apps.core.importing.batch import BatchResult, key_text, keyed_ingest
from apps.streams.importers import stream_views_import, streams_import


def streams_ingest(*, brand: Brand, items: Sequence[Mapping[str, object]]) -> BatchResult:
    """Create or update live streams by stream_id. Columns an item leaves out keep their stored values."""
    return keyed_ingest(
        brand=brand,
        items=items,
        importer=streams_import,
        key=lambda item: key_text(item.get("stream_id")),
        column="stream_id",
        duplicate=_("the same stream appears in item %(index)d"),
    )


def stream_views_ingest(*, brand: Brand, items: Sequence[Mapping[str, object]]) -> BatchResult:
    """Create or update stream views by (stream_id, customer_id); customers the brand does not know yet are
    created. Columns an item leaves out keep their stored values."""

    def key(item):
        stream, customer = key_text(item.get("stream_id")), key_text(item.get("customer_id"))
        return None if stream is None or customer is None else (stream, customer)

    return keyed_ingest(
        brand=brand,
        items=items,
        importer=stream_views_import,
        key=key,
        column="customer_id",
        duplicate=_("the same live stream and customer appear in item %(index)d"),
    )
