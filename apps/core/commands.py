"""The base of the project's management commands: help texts that are lazy translations.

A command's `help` and its arguments' help are gettext_lazy strings, so `--help` speaks the language active when
it runs (settings.LANGUAGE_CODE) rather than the one active at import. argparse's formatter runs regular
expressions over those texts and refuses anything but a str, so `manage.py <command> --help` ended in a
TypeError traceback; the formatter here turns them into str first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.utils.translation import gettext as _


class HelpFormatter(DjangoHelpFormatter):
    """Django's help formatter for texts that may be lazy translations."""

    def _fill_text(self, text, width, indent):
        return super()._fill_text(str(text), width, indent)

    def _split_lines(self, text, width):
        return super()._split_lines(str(text), width)

    def _get_help_string(self, action):
        return None if action.help is None else str(action.help)


class Command(BaseCommand):
    """BaseCommand whose `--help` renders lazily translated help texts."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)


def output_checked(output: str) -> Path:
    """The file a command is to write, or a CommandError that says why it cannot be: its folder is missing, it
    is a folder, or the folder cannot be written to (checked before anything is read or written)."""
    target = Path(output)
    if target.is_dir():
        raise CommandError(_("%(path)s is a folder; give the path of a file to write.") % {"path": output})
    if not target.parent.is_dir():
        raise CommandError(_("The folder of %(path)s does not exist.") % {"path": output})
    if not os.access(target.parent, os.W_OK):
        raise CommandError(_("The folder of %(path)s cannot be written to.") % {"path": output})
    return target


@contextlib.contextmanager
def atomic_output(output: str) -> Iterator[TextIO]:
    """A UTF-8 text handle whose content becomes the file `output` only when the block ends without an error:
    written next to it and renamed, so a failed export leaves no half file (nor a changed old one)."""
    target = output_checked(output)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".part")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as stream:
            yield stream
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise CommandError(
            _("Could not write %(path)s (%(reason)s).")
            % {"path": output, "reason": errno.errorcode.get(exc.errno or 0, type(exc).__name__)}
        ) from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
