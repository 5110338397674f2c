"""Declarative column specs and the generic record parser used by most importers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

from apps.core.importing.errors import ErrorLog, FieldError
from apps.core.importing.fields import Parser, control_character, has_control_character
from apps.core.importing.sources import Table, map_header, with_progress


@dataclass(frozen=True)
class Column:
    name: str
    parse: Parser | None = None  # None keeps the stripped text
    required: bool = False  # the column must exist and every value must be non-empty
    default: object = None  # the value of an empty cell


class RecordParser:
    """Turns a table into `(line, {column: value})` for valid rows; bad rows go to the error log.

    Only columns present in the source appear in the value dicts, so importers can update exactly those.
    A value holding a control character (a NUL byte, say) is an error of its column, whatever the column.
    """

    def __init__(self, table: Table, columns: Sequence[Column], log: ErrorLog):
        self.table = table
        self.columns = {c.name: c for c in columns}
        self.log = log
        self.rows_read = 0
        self.index = map_header(
            table,
            required=[c.name for c in columns if c.required],
            optional=[c.name for c in columns if not c.required],
            log=log,
        )
        self.header_ok = not log.errors
        # One scan of a whole file is much cheaper than one per value; in-memory rows are checked per value.
        self.check_controls = table.text is None or has_control_character(table.text)

    @property
    def present(self) -> set[str]:
        return set(self.index)

    def __iter__(self) -> Iterator[tuple[int, dict[str, object]]]:
        if not self.header_ok:
            return
        plan = [(name, position, self.columns[name]) for name, position in self.index.items()]
        width = len(self.table.header)
        log = self.log
        missing = _("a value is required")
        check_controls = self.check_controls
        for line, record in with_progress(self.table):
            self.rows_read += 1
            if len(record) < width:
                record = record + [""] * (width - len(record))
            elif len(record) > width and any(v.strip() for v in record[width:]):
                log.add(line, "*", _("more values than header columns"))
                continue
            values: dict[str, object] = {}
            ok = True
            for name, position, column in plan:
                raw = record[position]
                if check_controls and (control := control_character(raw)) is not None:
                    log.add(line, name, control)
                    ok = False
                    continue
                raw = raw.strip()
                if not raw:
                    if column.required:
                        log.add(line, name, missing)
                        ok = False
                    else:
                        values[name] = column.default
                    continue
                if column.parse is None:
                    values[name] = raw
                    continue
                try:
                    values[name] = column.parse(raw)
                except FieldError as exc:
                    log.add(line, name, str(exc))
                    ok = False
            if ok:
                yield line, values
