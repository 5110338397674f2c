"""The shared shape of every import_* management command: parse arguments, call the importer service,
print errors and the summary. No import logic lives here."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.brands.models import Brand
from apps.core.commands import Command as ProjectCommand
from apps.core.importing.encodings import known_encoding
from apps.core.importing.result import ImportResult

ERROR_LIMIT = 50


class ImportCommand(ProjectCommand):
    help = gettext_lazy("Import a CSV file (UTF-8, UTF-8 with BOM, or GB18030/GBK) for one brand.")

    def run_import(self, **kwargs) -> ImportResult:  # pragma: no cover - overridden
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("path", help=gettext_lazy("CSV file to import"))
        parser.add_argument("--brand", required=True, help=gettext_lazy("slug of the brand"))
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=gettext_lazy("validate and count what would change, but write nothing"),
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help=gettext_lazy("write the valid rows and report the invalid ones"),
        )
        parser.add_argument(
            "--encoding",
            help=gettext_lazy(
                "the file's encoding (e.g. utf-8, gb18030, big5, latin-1) when it cannot be detected; "
                "default: detected (UTF-8 or GB18030/GBK)"
            ),
        )

    def import_options(self, options) -> dict:
        """The importer's keyword arguments from this command's own options (none by default)."""
        return {}

    def handle(self, *args, path, brand, dry_run, skip_invalid, encoding, **options):
        if encoding is not None and known_encoding(encoding) is None:
            raise CommandError(_("Unknown encoding: %(encoding)s") % {"encoding": encoding})
        extra = self.import_options(options)
        try:
            brand_obj = Brand.objects.get(slug=brand)
        except Brand.DoesNotExist:
            raise CommandError(_("Unknown brand: %(slug)s") % {"slug": brand}) from None
        result = self.run_import(
            brand=brand_obj,
            path=path,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            progress=True,
            encoding=encoding,
            **extra,
        )
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(str(warning)))
        for line in result.error_lines(ERROR_LIMIT):
            self.stderr.write(line)
        self.stdout.write(result.summary())
        if any(error.line <= 1 for error in result.errors):
            # the file itself (unreadable, its encoding, its header or quoting): refused whole, --skip-invalid
            # or not, and a dry run says so too (it forecasts the run)
            raise CommandError(
                _(
                    "The file was refused as a whole; nothing was written. Fix the file: --skip-invalid skips "
                    "bad rows, not a bad file."
                )
            )
        if result.errors and not (result.committed or (dry_run and skip_invalid)):
            if skip_invalid:
                raise CommandError(
                    _("%(count)d error(s); nothing was written.") % {"count": len(result.errors)}
                )
            raise CommandError(
                _("%(count)d error(s); nothing was written. Fix the rows or use --skip-invalid.")
                % {"count": len(result.errors)}
            )
