"""Where rows come from: a CSV file (UTF-8, UTF-8 with BOM, or GB18030/GBK) or in-memory dict rows.

Either way an importer sees a `Table`: a display name, a normalised header and `(line, values)` records,
where `line` is the physical line on which the record starts (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from apps.core.importing.errors import ErrorLog

ENCODINGS = ("utf-8-sig", "gb18030")


class SourceError(Exception):
    """The source as a whole cannot be read (unreadable file, unknown encoding, no header)."""


@dataclass
class Table:
    name: str
    header: list[str]
    records: Iterable[tuple[int, list[str]]]
    size_hint: int = 0  # roughly how many records; drives the progress bar
    progress: bool = False  # show a progress bar on stderr for large sources
    text: str | None = None  # the decoded file (CSV sources only): lets `frames.read_frame` use pandas


def normalise_header(name: str) -> str:
    return name.strip().lower()


def decode(data: bytes, name: str) -> str:
    """Strict decoding: UTF-8 (with or without BOM), else GB18030 (a superset of GBK), else an error."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceError(
        _("%(file)s: the file is neither UTF-8 nor GB18030/GBK text; save it as UTF-8 CSV") % {"file": name}
    )


def read_csv(path: str | os.PathLike) -> Table:
    name = os.path.basename(os.fspath(path))
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(
            _("%(file)s: cannot read the file (%(reason)s)") % {"file": name, "reason": exc.strerror}
        ) from None
    text = decode(data, name)
    del data
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise SourceError(_("%(file)s: the file is empty") % {"file": name}) from None
    except csv.Error as exc:
        raise SourceError(
            _("%(file)s:1: not valid CSV (%(reason)s)") % {"file": name, "reason": exc}
        ) from None
    return Table(
        name=name,
        header=[normalise_header(h) for h in header],
        records=_csv_records(reader, name),
        size_hint=text.count("\n"),
        text=text,
    )


def _csv_records(reader, name: str) -> Iterator[tuple[int, list[str]]]:
    previous = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceError(
                _("%(file)s:%(line)d: not valid CSV (%(reason)s)")
                % {"file": name, "line": previous + 1, "reason": exc}
            ) from None
        line = previous + 1
        previous = reader.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # blank line
        yield line, record


def _to_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def rows_from_dicts(rows: Iterable[Mapping[str, object]], name: str = "rows") -> Table:
    """In-memory rows (e.g. from a GraphQL batch mutation). Row i is reported as line i + 2, as if the rows
    came from a file with a header line."""
    rows = list(rows)
    header: dict[str, str] = {}
    for row in rows:
        for key in row:
            header.setdefault(normalise_header(str(key)), str(key))
    keys = list(header.values())
    records = ((index + 2, [_to_text(row.get(key)) for key in keys]) for index, row in enumerate(rows))
    return Table(name=name, header=list(header), records=records, size_hint=len(rows))


def open_source(*, path=None, rows=None, name: str | None = None) -> Table:
    if (path is None) == (rows is None):
        raise TypeError("pass exactly one of path= or rows=")
    if path is not None:
        return read_csv(path)
    return rows_from_dicts(rows, name=name or "rows")


def map_header(
    table: Table, *, required: Iterable[str], optional: Iterable[str], log: ErrorLog
) -> dict[str, int]:
    """Column name -> index. Missing required columns are errors on line 1; unknown ones are warnings."""
    required = list(required)
    known = set(required) | set(optional)
    index: dict[str, int] = {}
    for position, column in enumerate(table.header):
        if column in index:
            log.add(1, column, _("the column appears more than once"))
            continue
        if column not in known:
            log.warn(1, column or "?", _("unknown column, ignored"))
            continue
        index[column] = position
    for column in required:
        if column not in index:
            log.add(1, column, _("required column is missing"))
    return index


def with_progress(table: Table) -> Iterator[tuple[int, list[str]]]:
    """Yield the table's records, showing a tqdm bar on stderr for large sources when enabled."""
    if not table.progress or table.size_hint < settings.CLV_IMPORT_PROGRESS_MIN_ROWS:
        yield from table.records
        return
    from tqdm import tqdm

    step = 10_000
    with tqdm(
        total=table.size_hint, desc=table.name, unit=_("rows"), file=sys.stderr, mininterval=0.5
    ) as bar:
        count = 0
        for item in table.records:
            yield item
            count += 1
            if count == step:
                bar.update(count)
                count = 0
        bar.update(count)
