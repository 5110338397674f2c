"""What the HTTP benchmarks share: a production-like server (gunicorn, clvsite.settings.production with DEBUG
off and persistent connections) on loopback, started and stopped around a measurement."""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST, PORT = "127.0.0.1", 8765


def start_server(
    database_url: str, workers: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen:
    """gunicorn with `workers` sync workers on HOST:PORT, ready when it returns (exits the bench after 60 s)."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="clvsite.settings.production",
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_urlsafe(64),
        CONN_MAX_AGE="600",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_SSL_REDIRECT="false",
        **(extra_env or {}),
    )
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "clvsite.wsgi",
            "--bind",
            f"{HOST}:{PORT}",
            "--workers",
            str(workers),
            "--keep-alive",
            "30",
            "--timeout",  # as the Procfile and docker-compose.yml run it
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, PORT, timeout=2)
            conn.request("GET", "/graphql/")  # any answer (401 without a token) means it serves
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.5)
    stop_server(server)
    sys.exit("gunicorn did not start within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def refresh_bench_brand(database_url: str, n: int, *, role: str, token_name: str):
    """Django set up on the benchmark database; the brand `bench-refresh-N` of bench/refresh.py (exits when it
    is missing or has no published scores) and an API token of `role` for it: (brand, plaintext token)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "clvsite.settings.local"
    os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from apps.analytics.selectors import published_run
    from apps.api.services import api_token_create
    from apps.brands.models import Brand

    brand = Brand.objects.filter(slug=f"bench-refresh-{n}").first()
    if brand is None:
        sys.exit(f"no brand bench-refresh-{n}: run bench/refresh.py --customers {n} first")
    if published_run(brand=brand) is None:
        sys.exit(f"bench-refresh-{n} has no published scores: run bench/refresh.py --customers {n} first")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from refresh import vacuum_derived

    # the refreshes' dead rows would be read through by every request (autovacuum is off on the bench machines)
    print(f"vacuumed the tables refreshes rewrite in {vacuum_derived():.1f} s", flush=True)
    _token, plaintext = api_token_create(brand=brand, role=role, name=token_name)
    return brand, plaintext
