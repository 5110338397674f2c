"""The test database as other processes reach it: a psycopg connection of its own (to hold a lock while the
code under test runs) and a DATABASE_URL for a child process (a Celery worker). Works for the system server
(host and port) and for the embedded one (a Unix socket folder)."""

from django.db import connection


def connect_kwargs() -> dict:
    connection.ensure_connection()  # the embedded server fills in its socket folder on first connection
    db = connection.settings_dict
    host = db["HOST"] or db["OPTIONS"].get("host") or "127.0.0.1"
    return {"host": host, "port": db["PORT"] or 5432, "user": db["USER"], "dbname": db["NAME"]}


def database_url() -> str:
    params = connect_kwargs()
    if params["host"].startswith("/"):
        return f"postgres://{params['user']}@/{params['dbname']}?host={params['host']}"
    return f"postgres://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
