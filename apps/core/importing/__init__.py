"""A small import framework: read a source, map its header, parse and validate fields with line numbers,
stage the good rows in a temporary table and upsert them set-based. One importer per entity lives in
`apps/<app>/importers.py`; management commands (and later GraphQL mutations) call those importers."""

from apps.core.importing.errors import ErrorLog, FieldError, RowError
from apps.core.importing.records import Column, RecordParser
from apps.core.importing.result import ImportResult
from apps.core.importing.run import ImportRun
from apps.core.importing.sources import SourceError, Table, open_source
from apps.core.importing.staging import StagingTable, UpsertCounts, insert_defaults, upsert

__all__ = [
    "Column",
    "ErrorLog",
    "FieldError",
    "ImportResult",
    "ImportRun",
    "RecordParser",
    "RowError",
    "SourceError",
    "StagingTable",
    "Table",
    "UpsertCounts",
    "insert_defaults",
    "open_source",
    "upsert",
]
