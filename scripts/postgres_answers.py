"""Exit 0 when a PostgreSQL server answers at the URL given (creating the URL's database if it is missing),
1 when none answers. scripts/test.sh uses it to choose between the system server and the embedded one."""

import sys
from urllib.parse import unquote, urlsplit

import psycopg


def main(url: str) -> int:
    parts = urlsplit(url)
    database = unquote(parts.path.lstrip("/")) or "postgres"
    params = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or "") or None,
        "dbname": "postgres",
        "connect_timeout": 3,
        "autocommit": True,
    }
    try:
        with psycopg.connect(**params) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
                conn.execute(f'CREATE DATABASE "{database}"')
    except psycopg.OperationalError as exc:
        print(f"no PostgreSQL answers at {parts.hostname}:{parts.port or 5432} ({exc.__class__.__name__})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
