"""Commands as an operator types them, mistakes included (found driving every command as a new user): a clear
message and a non-zero exit, never a traceback, a half-written file or scores dated in the future."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.analytics.models import ModelRun

pytestmark = pytest.mark.django_db


def test_refresh_refuses_an_as_of_date_in_the_future(brand):
    tomorrow = timezone.now().astimezone(brand.tzinfo).date() + timedelta(days=1)
    with pytest.raises(CommandError, match=rf"--as-of {tomorrow} is in the future \(today is ") as refused:
        call_command("refresh_scores", "--brand", brand.slug, "--as-of", tomorrow.isoformat())
    assert refused.value.returncode == 1
    assert not ModelRun.objects.exists()


@pytest.mark.parametrize("command", ["export_scores", "export_touches"])
def test_an_export_to_a_folder_or_a_missing_folder_says_so(brand, tmp_path, command):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(CommandError, match="is a folder; give the path of a file to write"):
        call_command(command, "--brand", brand.slug, "--output", str(folder))
    with pytest.raises(CommandError, match="The folder of .* does not exist"):
        call_command(command, "--brand", brand.slug, "--output", str(tmp_path / "nowhere" / "x.csv"))
    assert list(folder.iterdir()) == []


def test_an_export_that_fails_midway_leaves_no_half_file_and_keeps_the_old_one(tmp_path):
    from apps.core.commands import atomic_output

    target = tmp_path / "touches.csv"
    target.write_text("yesterday's export\n", encoding="utf-8")
    with (
        pytest.raises(CommandError, match=r"Could not write .*touches.csv \(ENOSPC\)"),
        atomic_output(str(target)) as handle,
    ):
        handle.write("half of today's")
        raise OSError(28, "No space left on device")
    assert target.read_text(encoding="utf-8") == "yesterday's export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["touches.csv"]
    with atomic_output(str(target)) as handle:
        handle.write("today's export\n")
    assert target.read_text(encoding="utf-8") == "today's export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["touches.csv"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_file_refused_as_a_whole_fails_with_skip_invalid_and_in_a_dry_run(brand, tmp_path, dry_run):
    semicolons = tmp_path / "orders.csv"
    semicolons.write_text("order_id;customer_id;ordered_at;amount\nO1;C1;2026-01-05;10\n", encoding="utf-8")
    for path in (tmp_path / "missing.csv", semicolons):
        args = [str(path), "--brand", brand.slug, "--skip-invalid", *(["--dry-run"] if dry_run else [])]
        with pytest.raises(CommandError) as refused:
            call_command("import_orders", *args)
        assert str(refused.value) == (
            "The file was refused as a whole; nothing was written. Fix the file: --skip-invalid skips bad rows, "
            "not a bad file."
        )
        assert refused.value.returncode == 1
