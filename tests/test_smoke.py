from django.db import connection


def test_runs_on_postgresql(db):
    assert connection.vendor == "postgresql"
