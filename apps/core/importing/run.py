"""One import from start to finish: open the source, collect errors, time phases, write in one
transaction (rolled back for a dry run) and fill in the ImportResult."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from contextlib import contextmanager

from django.db import connection, transaction

from apps.core.importing.errors import ErrorLog, RowError
from apps.core.importing.result import ImportResult
from apps.core.importing.sources import SourceError, Table, open_source
from apps.core.importing.staging import UpsertCounts


class ImportRun:
    def __init__(
        self,
        *,
        entity: str,
        path=None,
        rows: Iterable[Mapping[str, object]] | None = None,
        name: str | None = None,
        dry_run: bool = False,
        skip_invalid: bool = False,
        progress: bool = False,
        encoding: str | None = None,
    ):
        self.dry_run = dry_run
        self.skip_invalid = skip_invalid
        self.table: Table | None = None
        self.dropped_lines: set[int] = set()
        self.result = ImportResult(entity=entity, source=name or "rows", dry_run=dry_run)
        self.source_error: SourceError | None = None
        try:
            self.table = open_source(path=path, rows=rows, name=name, encoding=encoding)
        except SourceError as exc:
            if path is not None:
                self.result.source = os.path.basename(os.fspath(path))
            self.log = ErrorLog(self.result.source)
            self.source_error = exc
            return
        self.table.progress = progress
        self.result.source = self.table.name
        self.log = ErrorLog(self.table.name)

    @property
    def failed(self) -> bool:
        """The source could not be read at all (the result carries the reason)."""
        return self.source_error is not None

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.result.timings[name] = self.result.timings.get(name, 0.0) + time.perf_counter() - start

    def drop_line(self, line: int) -> None:
        """A valid row left out because another row it belongs with is invalid."""
        self.dropped_lines.add(line)

    @property
    def may_write(self) -> bool:
        if self.failed or self.table.faults or any(e.line == 1 for e in self.log.errors):
            return False
        return not self.log.errors or self.skip_invalid

    @contextmanager
    def writing(self):
        """One transaction for every write; a dry run rolls it back so the counts are real but nothing
        stays."""
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Hash joins and aggregates over a few hundred thousand staged rows stay in memory.
                cursor.execute("SET LOCAL work_mem = '256MB'")
            yield
            if self.dry_run:
                transaction.set_rollback(True)
            start = time.perf_counter()
        # Commit runs the deferred foreign-key checks of every inserted row: worth its own figure.
        self.result.timings["commit"] = time.perf_counter() - start
        self.result.committed = not self.dry_run

    def count(self, counts: UpsertCounts) -> None:
        self.result.created += counts.created
        self.result.updated += counts.updated
        self.result.unchanged += counts.unchanged

    def finish(self, rows_read: int) -> ImportResult:
        result = self.result
        result.rows_read = rows_read
        result.errors = self.log.sorted_errors()
        result.warnings = list(self.log.warnings)
        if self.source_error is not None:
            error = self.source_error
            result.errors.insert(0, RowError(result.source, error.line, error.column, error.reason))
        elif self.table.faults:
            # Reading stopped at the fault: rows after it were never seen, so nothing may be written.
            result.errors = sorted([*result.errors, *self.table.faults], key=lambda e: e.line)
        if result.committed or (self.dry_run and self.may_write):
            bad = {line for line in self.log.bad_lines if line > 1}
            result.skipped = len(bad | self.dropped_lines)
        else:
            result.skipped = rows_read
        return result
