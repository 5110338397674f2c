"""The corpus of bad import files (tests/data/bad_imports; manifest.toml says what each must give): every
importer answers with exactly the expected `file:line column: reason` errors, never a traceback, fails, and
writes nothing."""

import importlib.util
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apps.communities.models import Community, CommunityMembership
from apps.customers.models import Customer
from apps.loyalty.models import BenefitGrant
from apps.orders.models import Order, OrderItem
from apps.streams.models import Stream, StreamView
from tests.factories import (
    BenefitFactory,
    CommunityFactory,
    CommunityMembershipFactory,
    CustomerFactory,
    StreamFactory,
)

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad_imports"
MANIFEST = tomllib.loads((CORPUS / "manifest.toml").read_text("utf-8"))["file"]
COMMANDS = (
    "import_customers",
    "import_streams",
    "import_views",
    "import_orders",
    "import_memberships",
    "import_redemptions",
)


def cases():
    for entry in MANIFEST:
        if entry["command"] == "every":
            for command in COMMANDS:
                for flags in ((), ("--skip-invalid",)):
                    suffix = "-skip-invalid" if flags else ""
                    yield pytest.param(entry, command, flags, id=f"{entry['name']}-{command}{suffix}")
        else:
            yield pytest.param(entry, entry["command"], (), id=f"{entry['name']}-{entry['command']}")


def expected_lines(entry) -> list[str]:
    lines = []
    for error in entry["errors"]:
        position, reason = error.split(": ", 1)
        line, column = position.split(" ", 1)
        name = entry["name"]
        lines.append(f"{name}: {reason}" if line == "0" else f"{name}:{line} {column}: {reason}")
    return lines


@pytest.fixture
def world(brand):
    """Rows the files refer to (a stream, a customer, a community, a benefit granted) and that must stay as
    they are."""
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    stream = StreamFactory(brand=brand, external_id="S1", started_at=start)
    customer = CustomerFactory(brand=brand, external_id="C1", first_seen_at=start)
    community = CommunityFactory(brand=brand, external_id="G1")
    CommunityMembershipFactory(brand=brand, community=community, customer=customer, joined_at=start)
    benefit = BenefitFactory(brand=brand, code="GIFT")
    BenefitGrant.objects.create(
        brand=brand,
        customer=customer,
        benefit=benefit,
        granted_at=start,
        expires_at=start + timedelta(days=30),
    )
    assert stream.pk
    return brand


def snapshot(brand) -> dict:
    return {
        "customers": sorted(Customer.objects.filter(brand=brand).values_list("external_id", "first_seen_at")),
        "streams": sorted(
            Stream.objects.filter(brand=brand).values_list("external_id", "started_at", "title")
        ),
        "views": StreamView.objects.filter(brand=brand).count(),
        "orders": Order.objects.filter(brand=brand).count(),
        "items": OrderItem.objects.filter(brand=brand).count(),
        "communities": Community.objects.filter(brand=brand).count(),
        "memberships": CommunityMembership.objects.filter(brand=brand).count(),
        "redeemed": BenefitGrant.objects.filter(brand=brand, redeemed_at__isnull=False).count(),
    }


@pytest.mark.parametrize(("entry", "command", "flags"), list(cases()))
def test_a_bad_file_gives_its_errors_and_writes_nothing(entry, command, flags, world, run_command):
    before = snapshot(world)
    result = run_command(command, CORPUS / entry["name"], world, *flags)
    assert result.failed, result.out
    assert result.err_lines == expected_lines(entry)
    assert "Traceback" not in result.err
    assert snapshot(world) == before


def test_the_corpus_is_the_generators_and_the_manifest_names_every_file():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    on_disk = {path.name: path.read_bytes() for path in CORPUS.glob("*.csv")}
    assert on_disk == generator.FILES
    assert sorted(entry["name"] for entry in MANIFEST) == sorted(on_disk)
    assert len(on_disk) >= 30
    assert {entry["command"] for entry in MANIFEST} == {"every", *COMMANDS}
