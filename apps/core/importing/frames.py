"""Whole-column reading for hot-path importers: a source as string columns plus the file line of each record.

A CSV file whose records each sit on one physical line (no quoted line breaks, no blank lines) is read by
pandas' C parser: record i is then on line i + 2. Anything else — quoted multi-line cells, blank lines, rows
with more cells than the header, NUL bytes, in-memory dict rows — goes through the csv-module records, which
track line numbers themselves. Both give the same values: cells are kept as text, missing trailing cells are
''.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from apps.core.importing.fields import has_control_character
from apps.core.importing.sources import Table, with_progress


@dataclass
class Frame:
    columns: list[pd.Series]  # one object Series of str per header column, same length
    lines: np.ndarray  # int64 file line of each record
    overflow: np.ndarray  # bool: the record has more non-empty cells than the header has columns
    clean: bool = False  # True: no cell holds a control character (the whole file was checked at once)

    def __len__(self) -> int:
        return len(self.lines)


def read_frame(table: Table) -> Frame:
    width = len(table.header)
    clean = table.text is not None and not has_control_character(table.text)
    if table.text is not None:
        frame = _read_fast(table.text, width)
        if frame is not None:
            table.text = None  # the records iterator is not consumed; free the text once read
            frame.clean = clean
            return frame
    frame = _read_records(table, width)
    frame.clean = clean
    return frame


def _read_fast(text: str, width: int) -> Frame | None:
    if "\x00" in text:
        return None
    physical = text.count("\n") + (0 if text.endswith("\n") else 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a ParserWarning means cells would be dropped: fall back
            df = pd.read_csv(
                io.BytesIO(text.encode("utf-8")),
                header=0,
                dtype=object,
                na_filter=False,
                keep_default_na=False,
                engine="c",
                index_col=False,
                skip_blank_lines=True,
                encoding="utf-8",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError, UnicodeDecodeError):
        return None
    if df.shape[1] != width or len(df) + 1 != physical:
        return None  # a record spans lines or blank lines were skipped: line numbers would be wrong
    columns = [df.iloc[:, i] for i in range(width)]
    if width > 1 and len(df):
        # The csv path skips a line holding only whitespace; pandas keeps it as a record.
        rest_empty = np.logical_and.reduce([(c == "").to_numpy() for c in columns[1:]])
        if rest_empty.any():
            first = columns[0][rest_empty]
            if ((first != "") & (first.str.strip() == "")).any():
                return None
    n = len(df)
    return Frame(
        columns=[c.reset_index(drop=True) for c in columns],
        lines=np.arange(2, n + 2, dtype=np.int64),
        overflow=np.zeros(n, dtype=bool),
    )


def _read_records(table: Table, width: int) -> Frame:
    cells: list[list[str]] = [[] for _ in range(width)]
    appends = [c.append for c in cells]
    lines: list[int] = []
    overflow: list[int] = []
    for line, record in with_progress(table):
        size = len(record)
        if size != width:
            if size > width and any(v.strip() for v in record[width:]):
                overflow.append(len(lines))
            record = (record + [""] * width)[:width]
        lines.append(line)
        for append, value in zip(appends, record, strict=True):
            append(value)
    flags = np.zeros(len(lines), dtype=bool)
    flags[overflow] = True
    return Frame(
        columns=[pd.Series(c, dtype=object) for c in cells],
        lines=np.asarray(lines, dtype=np.int64),
        overflow=flags,
    )
