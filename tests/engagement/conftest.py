import pytest

from tests.scenarios import make_followup_shop


@pytest.fixture
def shop(brand):
    return make_followup_shop(brand)
