"""After `seed_demo --score` (a bulk load, two refreshes and the demo's follow-ups) every table it filled has
planner statistics that describe it, without waiting for autovacuum (which may be off or behind): with
statistics of an empty table the dashboard took 69 s instead of 0.6 s."""

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db

MIN_ROWS = 500  # smaller tables plan well whatever their statistics say


def test_every_table_the_demo_seed_and_its_refreshes_filled_has_fresh_statistics():
    call_command("seed_demo", "--customers", "1500", "--seed", "5", "--score", verbosity=0)
    stale = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if not model._meta.app_label.startswith(
                ("customers", "orders", "streams", "analytics", "loyalty", "engagement", "communities")
            ):
                continue
            table = model._meta.db_table
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - a model's own table
            rows = cursor.fetchone()[0]
            if rows < MIN_ROWS:
                continue
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
            estimated = cursor.fetchone()[0]
            if not 0.5 * rows <= estimated <= 2 * rows:
                stale[table] = (rows, estimated)
    assert stale == {}
