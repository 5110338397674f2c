"""Every index of a brand-owned table leads with brand_id, so every query a tenant runs can use it."""

import re

import pytest
from django.apps import apps
from django.db import connection

from apps.core.models import BrandOwnedModel

pytestmark = pytest.mark.django_db

# Known violations, reported to their owners. strict: once fixed, the xfail fails and the entry must go.
KNOWN_VIOLATIONS = {}

BRAND_OWNED_TABLES = sorted(
    model._meta.db_table
    for model in apps.get_models()
    if issubclass(model, BrandOwnedModel) and model._meta.managed and not model._meta.proxy
)
TABLE_PARAMS = [
    pytest.param(table, marks=pytest.mark.xfail(strict=True, reason=KNOWN_VIOLATIONS[table]))
    if table in KNOWN_VIOLATIONS
    else table
    for table in BRAND_OWNED_TABLES
]


def index_columns(indexdef: str) -> list[str]:
    """Columns of `CREATE [UNIQUE] INDEX name ON table USING method (col, col DESC, ...)`."""
    match = re.search(r"USING \w+ \(([^)]*)\)", indexdef)  # the column list, not a WHERE clause
    assert match, indexdef
    return [part.strip().split()[0].strip('"') for part in match.group(1).split(",")]


def test_brand_owned_tables_are_found():
    assert {"customers_customer", "orders_order", "loyalty_benefitgrant"} <= set(BRAND_OWNED_TABLES)


@pytest.mark.parametrize("table", TABLE_PARAMS)
def test_every_index_starts_with_brand_id(table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            """
            SELECT i.relname FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = %s AND x.indisprimary
            """,
            [table],
        )
        primary_keys = {row[0] for row in cursor.fetchall()}
    assert indexes, f"{table} has no index at all"
    offenders = [
        (name, definition)
        for name, definition in indexes
        if name not in primary_keys
        and index_columns(definition)[0] != "brand_id"
        # trigram search indexes (GIN) cannot lead with brand_id; their searches filter by brand too,
        # combining them with a brand-leading index (BitmapAnd)
        and "USING gin" not in definition
    ]
    assert offenders == []
