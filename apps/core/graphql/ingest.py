"""Batch ingest (customers, streams, stream views, orders) and customer erasure over GraphQL."""
