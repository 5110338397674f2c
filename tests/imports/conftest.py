from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories import BrandFactory


@pytest.fixture
def ny_brand(db):
    return BrandFactory(slug="ny-shop", name="NY Shop", timezone="America/New_York", currency="USD")


@pytest.fixture
def write_csv(tmp_path):
    """Write `text` to tmp_path/name in the given encoding and return the path."""

    def write(name: str, text: str, encoding: str = "utf-8"):
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return write


class Outcome:
    def __init__(self, out: str, err: str, error: CommandError | None):
        self.out, self.err, self.error = out, err, error

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line]


@pytest.fixture
def run_command():
    """Call an import command; return stdout, stderr and the CommandError (if any) instead of raising."""

    def run(command: str, path, brand, *flags: str) -> Outcome:
        out, err = StringIO(), StringIO()
        try:
            call_command(command, str(path), "--brand", brand.slug, *flags, stdout=out, stderr=err)
        except CommandError as exc:
            return Outcome(out.getvalue(), err.getvalue(), exc)
        return Outcome(out.getvalue(), err.getvalue(), None)

    return run
