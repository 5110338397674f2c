from datetime import date

import pytest

from apps.brands.models import Brand
from apps.demo.services import demo_seed

AS_OF = date(2026, 5, 31)
END = date(2026, 7, 1)


@pytest.fixture
def demo_brand(db):
    """A small demo brand simulated up to END; refreshes use AS_OF, a month earlier."""
    demo_seed(slug="demo", customers=1500, seed=11, end_date=END)
    return Brand.objects.get(slug="demo")
