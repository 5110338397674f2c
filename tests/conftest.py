import pytest

from tests.factories import BrandFactory


@pytest.fixture
def brand(db):
    return BrandFactory(slug="acme", name="Acme Beauty")


@pytest.fixture
def other_brand(db):
    return BrandFactory(slug="rival", name="Rival Apparel")
