"""Staff of each role in Acme, a manager of the rival brand, and tokens of both brands."""

import pytest

from apps.api.services import api_token_create
from apps.brands.services import membership_set
from tests.factories import UserFactory


def staff(username, brand, role):
    user = UserFactory(username=username)
    membership_set(user=user, brand=brand, role=role)
    return user


@pytest.fixture
def manager(brand):
    return staff("mona", brand, "manager")


@pytest.fixture
def analyst(brand):
    return staff("ann", brand, "analyst")


@pytest.fixture
def viewer(brand):
    return staff("vic", brand, "viewer")


@pytest.fixture
def rival_manager(other_brand):
    return staff("rex", other_brand, "manager")


@pytest.fixture
def acme_token(brand):
    """(token row, plaintext) of an Acme viewer token."""
    return api_token_create(brand=brand, role="viewer", name="dashboard")


@pytest.fixture
def rival_token(other_brand):
    return api_token_create(brand=other_brand, role="manager", name="rival app")
