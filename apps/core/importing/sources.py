"""Where rows come from: a CSV file (UTF-8, UTF-8 with BOM, or GB18030/GBK; see encodings.py) or in-memory
dict rows.

Either way an importer sees a `Table`: a display name, a normalised header and `(line, values)` records,
where `line` is the physical line on which the record starts (the header is line 1).

CSV is read strictly (RFC 4180): a value is either plain (no quote in it) or wholly in quotes, with a quote
inside doubled. A file that breaks this is refused before any row is read, naming the line and column where
the broken value starts: after a broken quote no later line can be trusted, so nothing is written even with
--skip-invalid.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from apps.core.importing.encodings import decode, line_of
from apps.core.importing.errors import ErrorLog, RowError, SourceError

__all__ = ["SourceError", "Table", "decode", "map_header", "open_source", "read_csv", "rows_from_dicts"]

# One CSV record: fields separated by commas, each plain (no quote, comma or line break) or quoted (quotes
# inside doubled), ended by a line break or the end of the text. Possessive: no backtracking.
_QUOTED = re.compile(r'"(?:[^"]|"")*+"')
_PLAIN = re.compile(r'[^",\r\n]*+')
_FIELD = r'(?:"(?:[^"]|"")*+"|[^",\r\n]*+)'
_RECORDS = re.compile(rf"(?:{_FIELD}(?:,{_FIELD})*+(?:\r\n|\n|\r|\Z))*+")


@dataclass
class Table:
    name: str
    header: list[str]
    records: Iterable[tuple[int, list[str]]]
    size_hint: int = 0  # roughly how many records; drives the progress bar
    progress: bool = False  # show a progress bar on stderr for large sources
    text: str | None = None  # the decoded file (CSV sources only): lets `frames.read_frame` use pandas
    # Problems met while reading the records (the csv module refused a record): reading stops there, and the
    # import writes nothing.
    faults: list[RowError] = field(default_factory=list)


def normalise_header(name: str) -> str:
    return name.strip().lower()


def check_quoting(text: str) -> None:
    """SourceError at the first value whose quotes break RFC 4180, naming its line and column."""
    if '"' not in text:
        return
    start = _RECORDS.match(text).end()
    if start == len(text):
        return
    header = next(csv.reader(io.StringIO(text, newline="")), []) if start else []
    pos, column = start, 0
    while True:
        line = line_of(text, pos)
        label = normalise_header(header[column]) if column < len(header) else "*"
        if text.startswith('"', pos):
            quoted = _QUOTED.match(text, pos)
            if quoted is None:
                raise SourceError(_("the quote that opens this value is never closed"), line, label)
            pos = quoted.end()
            if pos < len(text) and text[pos] not in ",\r\n":
                raise SourceError(
                    _(
                        'text after the closing quote of a quoted value; double a quote inside a quoted value ("")'
                    ),
                    line,
                    label,
                )
        else:
            pos = _PLAIN.match(text, pos).end()
            if pos < len(text) and text[pos] == '"':
                raise SourceError(
                    _(
                        'a quote (") inside a value that does not start with one; put the whole value in quotes '
                        'and double the quote inside ("")'
                    ),
                    line,
                    label,
                )
        if pos >= len(text) or text[pos] != ",":  # pragma: no cover - the record would have matched
            raise SourceError(_("not valid CSV"), line_of(text, start))
        pos += 1
        column += 1


def read_csv(path: str | os.PathLike, encoding: str | None = None) -> Table:
    name = os.path.basename(os.fspath(path))
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(
            _("%(file)s: cannot read the file (%(reason)s)") % {"file": name, "reason": exc.strerror}
        ) from None
    text = decode(data, name, encoding)
    del data
    check_quoting(text)
    table = Table(name=name, header=[], records=(), size_hint=text.count("\n"), text=text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise SourceError(_("%(file)s: the file is empty") % {"file": name}) from None
    except csv.Error as exc:
        raise SourceError(_("not valid CSV (%(reason)s)") % {"reason": exc}, line=1) from None
    table.header = [normalise_header(h) for h in header]
    table.records = _csv_records(reader, table)
    return table


def _csv_records(reader, table: Table) -> Iterator[tuple[int, list[str]]]:
    previous = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a value over the csv module's field size limit
            reason = _("not valid CSV (%(reason)s)") % {"reason": exc}
            table.faults.append(RowError(table.name, previous + 1, "*", reason))
            return
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


def open_source(*, path=None, rows=None, name: str | None = None, encoding: str | None = None) -> Table:
    if (path is None) == (rows is None):
        raise TypeError("pass exactly one of path= or rows=")
    if path is not None:
        return read_csv(path, encoding)
    return rows_from_dicts(rows, name=name or "rows")


def map_header(
    table: Table, *, required: Iterable[str], optional: Iterable[str], log: ErrorLog
) -> dict[str, int]:
    """Column name -> index. Missing required columns are errors on line 1; unknown ones are warnings. A header
    of one column holding tabs or semicolons is one error saying what the file is separated by."""
    required = list(required)
    if len(table.header) == 1:
        for separator, word in (("\t", _("tabs")), (";", _("semicolons")), ("|", _("vertical bars"))):
            if separator in table.header[0]:
                log.add(
                    1,
                    "*",
                    _(
                        "the header is one column containing %(separators)s: the values seem separated by "
                        "%(separators)s, not commas; save the file as comma-separated CSV"
                    )
                    % {"separators": word},
                )
                return {}
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
