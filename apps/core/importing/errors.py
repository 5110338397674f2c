"""Error collection for imports: every problem is `file:line column: reason`, never the offending value."""

from __future__ import annotations

from dataclasses import dataclass, field


class FieldError(ValueError):
    """Raised by a field parser; the message is a translated reason that never echoes the value."""


class SourceError(Exception):
    """The source as a whole cannot be read (unreadable file, unknown or mixed encoding, broken CSV quoting).
    `line` is the physical line at fault (0: the file as a whole, and then the reason names the file);
    `column` the column at fault ("*": the line as a whole)."""

    def __init__(self, reason: str, line: int = 0, column: str = "*"):
        super().__init__(reason)
        self.reason = str(reason)
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class RowError:
    source: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        if self.line <= 0:  # the source as a whole (unreadable, unknown encoding)
            return self.reason
        return f"{self.source}:{self.line} {self.column}: {self.reason}"


@dataclass
class ErrorLog:
    """Collects row errors and remembers which lines were bad."""

    source: str
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    bad_lines: set[int] = field(default_factory=set)

    def add(self, line: int, column: str, reason: str) -> None:
        self.errors.append(RowError(self.source, line, column, str(reason)))
        self.bad_lines.add(line)

    def warn(self, line: int, column: str, reason: str) -> None:
        self.warnings.append(RowError(self.source, line, column, str(reason)))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def sorted_errors(self) -> list[RowError]:
        return sorted(self.errors, key=lambda e: e.line)
