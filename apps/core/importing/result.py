"""What an import did, in numbers a person can check."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from apps.core.importing.errors import RowError


@dataclass
class ImportResult:
    entity: str
    source: str
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    dry_run: bool = False
    committed: bool = False
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    # Secondary effects, e.g. {"customers created": 12, "order lines created": 40}; labels are translated.
    details: dict[str, int] = field(default_factory=dict)
    # Seconds per phase ("parse", "copy", "upsert"); for benchmarks and logs.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        text = _(
            "%(entity)s from %(source)s: %(read)d rows read, %(created)d created, %(updated)d updated, "
            "%(unchanged)d unchanged, %(skipped)d skipped"
        ) % {
            "entity": self.entity,
            "source": self.source,
            "read": self.rows_read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }
        if self.details:
            text += "; " + ", ".join(f"{label}: {count}" for label, count in self.details.items())
        if self.dry_run:
            text += " " + _("(dry run: nothing was written)")
        elif not self.committed:
            text += " " + _("(nothing was written)")
        return text

    def error_lines(self, limit: int = 50) -> list[str]:
        errors = sorted(self.errors, key=lambda e: e.line)
        lines = [str(e) for e in errors[:limit]]
        if len(errors) > limit:
            lines.append(_("… and %(count)d more") % {"count": len(errors) - limit})
        return lines
