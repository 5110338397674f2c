"""Deployment: production settings pass `check --deploy` with no warning and refuse a development secret;
the process list (Procfile) and docker-compose.yml run the same web, worker and beat commands, on modules
that exist."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k3Yq8vZ2pL9xR4tW7mN1bC6fH0jS5dG8aQ2eU4iO9yT3rE6wP1lK7zX"


def manage(*args: str, secret_key: str | None) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DEBUG"}
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "clvsite.settings.production",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
    }
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_production_settings_pass_the_deployment_checks_with_no_warning():
    done = manage("check", "--deploy", "--fail-level", "WARNING", secret_key=GOOD_KEY)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


@pytest.mark.parametrize(
    "key",
    [
        None,
        "insecure-dev-key-change-me",
        "short-but-random-8fj2",
        "django-insecure-" + "a1b2c3d4e5" * 6,
        "x" * 60,
    ],
)
def test_production_refuses_a_missing_development_short_or_weak_secret_key(key):
    done = manage("check", secret_key=key)
    assert done.returncode != 0
    assert "SECRET_KEY must be set to a long random value in production" in done.stderr


def _commands() -> dict[str, dict[str, str]]:
    procfile = {
        name: command.strip()
        for name, command in (
            line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
        )
    }
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    return {
        "procfile": procfile,
        "compose": {
            name: " ".join(services[name]["command"]) for name in ("web", "worker", "beat", "migrate")
        },
        "services": services,
    }


def test_the_process_list_and_compose_file_run_web_worker_and_beat_on_real_modules():
    commands = _commands()
    services = commands["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    for name in ("web", "worker", "beat"):
        procfile, compose = commands["procfile"][name], commands["compose"][name]
        # the same program and target in both
        assert shlex.split(procfile)[:3] == shlex.split(compose)[:3], name
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == "clvsite.settings.production"
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("redis://redis:")
    assert commands["compose"]["web"].startswith("gunicorn clvsite.wsgi")
    assert "celery -A clvsite.celery_app worker" in commands["compose"]["worker"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in commands["compose"]["beat"]
    assert (
        "migrate" in commands["compose"]["migrate"]
        and "setup_periodic_tasks" in commands["compose"]["migrate"]
    )
    # what they name exists: the WSGI module, the Celery app, the management commands
    import importlib

    assert importlib.import_module("clvsite.wsgi").application is not None
    assert importlib.import_module("clvsite.celery_app").app.main == "clvsite"
    from django.core.management import get_commands

    assert {"migrate", "setup_periodic_tasks", "collectstatic", "compilemessages"} <= set(get_commands())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile and "clvsite.settings.production" in dockerfile


def test_production_collects_and_hashes_every_static_file(tmp_path):
    """The image's build step: every static file (the admin's, GraphiQL's vendored bundle) is collected and
    post-processed by the hashed storage WhiteNoise serves (a reference to a missing file fails here)."""
    script = (
        "import django; from django.conf import settings; django.setup(); "
        f"settings.STATIC_ROOT = {str(tmp_path)!r}; "
        "from django.core.management import call_command; call_command('collectstatic', '--noinput', verbosity=0)"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG"}}
    env |= {
        "DJANGO_SETTINGS_MODULE": "clvsite.settings.production",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
        "SECRET_KEY": GOOD_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = (tmp_path / "staticfiles.json").read_text()
    assert "admin/css/base.css" in manifest and "api/graphiql/graphiql.min.js" in manifest
