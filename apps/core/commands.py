"""The base of the project's management commands: help texts that are lazy translations.

A command's `help` and its arguments' help are gettext_lazy strings, so `--help` speaks the language active when
it runs (settings.LANGUAGE_CODE) rather than the one active at import. argparse's formatter runs regular
expressions over those texts and refuses anything but a str, so `manage.py <command> --help` ended in a
TypeError traceback; the formatter here turns them into str first.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, DjangoHelpFormatter


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
