"""`manage.py <command> --help` for every command of the project, in both languages.

Their help texts are lazy translations; argparse refused them (TypeError traceback) until the commands shared
apps.core.commands.Command.
"""

from __future__ import annotations

import contextlib
import io

import pytest
from django.core.management import ManagementUtility, get_commands, load_command_class
from django.utils import translation

PROJECT_COMMANDS = sorted(name for name, app in get_commands().items() if app.startswith("apps."))


def test_the_project_has_its_commands():
    assert {"import_orders", "refresh_scores", "erase_customer", "seed_demo"} <= set(PROJECT_COMMANDS)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("name", PROJECT_COMMANDS)
def test_help_prints_in_the_active_language(name, language):
    out = io.StringIO()
    with translation.override(language), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", name, "--help"]).execute()
    assert exited.value.code == 0
    text = out.getvalue()
    assert f"usage: manage.py {name}" in text
    command = load_command_class(get_commands()[name], name)
    with translation.override(language):
        first_words = " ".join(str(command.help).split()[:3])[:12]
    # the description as the language reads it (argparse rewraps lines, so compare its first words)
    assert first_words in " ".join(text.split()), (name, language)


@pytest.mark.parametrize("name", PROJECT_COMMANDS)
def test_every_command_shares_the_project_base(name):
    from apps.core.commands import Command

    assert isinstance(load_command_class(get_commands()[name], name), Command)
